import type { FastifyInstance } from 'fastify'

/** A call from the web UI to the identity API, forwarded through the image API's origin. */
export interface IdentityCall {
  method: 'GET' | 'POST' | 'DELETE'
  /** Path and query string on the identity API, such as `/v3/auth/tokens`. */
  url: string
  headers: Record<string, string>
  /** The JSON body as text, for POST. */
  body?: string
  /** The browser's address, so that the identity API's access log shows the real client. */
  remoteAddress: string
}

export interface IdentityReply {
  status: number
  headers: Record<string, string>
  body: string
}

export type IdentityForwarder = (call: IdentityCall) => Promise<IdentityReply>

/** Response headers of the identity API that the UI needs; the others stay behind. */
const passedHeaders = ['content-type', 'x-subject-token', 'x-openstack-request-id']

/**
 * Returns a forwarder that hands each call to the identity API of this process with Fastify's
 * `inject`: no socket, no second TLS handshake and no address that a request could steer.
 */
export function createInProcessForwarder(identityApi: () => FastifyInstance): IdentityForwarder {
  return async function forwardInProcess(call: IdentityCall): Promise<IdentityReply> {
    const response = await identityApi().inject({
      method: call.method,
      url: call.url,
      headers: call.headers,
      remoteAddress: call.remoteAddress,
      ...(call.body === undefined ? {} : { payload: call.body }),
    })
    const headers: Record<string, string> = {}
    for (const name of passedHeaders) {
      const value = response.headers[name]
      if (typeof value === 'string') headers[name] = value
    }
    return { status: response.statusCode, headers, body: response.body }
  }
}

import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

const requestIdHeader = 'x-openstack-request-id'
const safeRequestId = /^[A-Za-z0-9_.:-]{1,64}$/

/**
 * Returns the inbound `X-Openstack-Request-Id` when it is short and made of safe characters, so
 * that clients can follow one request across services, and a new `req-<uuid>` otherwise.
 */
export function requestIdFor(request: IncomingMessage): string {
  const inbound = request.headers[requestIdHeader]
  if (typeof inbound === 'string' && safeRequestId.test(inbound)) return inbound
  return `req-${randomUUID()}`
}

export { requestIdHeader }

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { requestIdHeader } from './request-id.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** Body bytes read by a streaming handler, for the access line. */
    bytesIn?: number
    /** Body bytes sent by a streaming handler, for the access line. */
    bytesOut?: number
    /** `performance.now()` when the request arrived. */
    startedAt: number
  }
}

/** Sends the request id back on every response and writes one access line per request. */
export function registerAccessLog(app: FastifyInstance): void {
  app.decorateRequest('startedAt', 0)
  app.addHook('onRequest', async (request, reply) => {
    request.startedAt = performance.now()
    reply.header(requestIdHeader, request.id)
  })
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(accessFields(request, reply), 'request completed')
  })
  // A client that goes away before the response gets no onResponse; 499 is nginx's status for
  // "client closed request", so the access line still shows what happened.
  app.addHook('onRequestAbort', async (request) => {
    const fields = accessFields(request, null)
    request.log.info({ ...fields, status: 499 }, 'request aborted by client')
  })
}

/** The image id of a request under `/v2/images/{id}`, for log lines about that image. */
export function imageIdOf(request: FastifyRequest): string | undefined {
  const params = request.params as { id?: unknown } | undefined
  return typeof params?.id === 'string' ? params.id : undefined
}

function accessFields(
  request: FastifyRequest,
  reply: FastifyReply | null,
): Record<string, unknown> {
  const contentLength = Number(request.headers['content-length'] ?? 0)
  const replyLength = Number(reply?.getHeader('content-length') ?? 0)
  return {
    projectId: request.auth?.projectId,
    imageId: imageIdOf(request),
    method: request.method,
    route: request.routeOptions.url ?? request.url.split('?')[0],
    status: reply?.statusCode,
    durationMs: Math.round(reply?.elapsedTime ?? performance.now() - request.startedAt),
    bytesIn: request.bytesIn ?? contentLength,
    bytesOut: request.bytesOut ?? replyLength,
  }
}

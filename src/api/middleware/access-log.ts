import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { requestIdHeader } from './request-id.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** Body bytes read by a streaming handler, for the access line. */
    bytesIn?: number
    /** Body bytes sent by a streaming handler, for the access line. */
    bytesOut?: number
  }
}

/** Sends the request id back on every response and writes one access line per request. */
export function registerAccessLog(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    reply.header(requestIdHeader, request.id)
  })
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(accessFields(request, reply), 'request completed')
  })
}

function accessFields(request: FastifyRequest, reply: FastifyReply): Record<string, unknown> {
  const contentLength = Number(request.headers['content-length'] ?? 0)
  const replyLength = Number(reply.getHeader('content-length') ?? 0)
  return {
    projectId: request.auth?.projectId,
    method: request.method,
    route: request.routeOptions.url ?? request.url.split('?')[0],
    status: reply.statusCode,
    durationMs: Math.round(reply.elapsedTime),
    bytesIn: request.bytesIn ?? contentLength,
    bytesOut: request.bytesOut ?? replyLength,
  }
}

import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { errorCatalogue, ServiceError, type ErrorCode } from '../../domain/errors.js'
import { imageIdOf } from './access-log.js'
import { renderWebobError } from './webob-errors.js'

/** Fastify's own error codes that are the client's fault, with the catalogue code they become. */
const frameworkErrors: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_VALIDATION: 'BAD_REQUEST',
}

/** Converts any thrown value into the `ServiceError` a client may see. */
export function toServiceError(error: unknown): ServiceError | null {
  if (error instanceof ServiceError) return error
  const fastifyError = error as Partial<FastifyError>
  const code = fastifyError.code === undefined ? undefined : frameworkErrors[fastifyError.code]
  if (code !== undefined) return new ServiceError(code, clientMessage(fastifyError))
  if (error instanceof SyntaxError && 'body' in error) {
    return new ServiceError('BAD_REQUEST', `The request body is not valid JSON: ${error.message}`)
  }
  return null
}

function clientMessage(error: Partial<FastifyError>): string {
  if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return 'The request content type is not supported by this operation.'
  }
  return error.message ?? 'The request is invalid.'
}

/**
 * The one place that turns errors into responses for the image API. Unexpected errors become
 * a generic 500, logged once with the stack; their text never reaches the client.
 */
export function registerErrorMapper(app: FastifyInstance, identityUrl: () => string): void {
  app.setErrorHandler((error, request, reply) => sendError(error, request, reply, identityUrl))
  app.setNotFoundHandler((request, reply) => {
    sendError(
      new ServiceError(
        'NOT_FOUND',
        `No such resource: ${request.method} ${request.url.split('?')[0]}.`,
      ),
      request,
      reply,
      identityUrl,
    )
  })
}

export function sendError(
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
  identityUrl: () => string,
): void {
  const imageId = imageIdOf(request)
  if (request.raw.socket?.destroyed === true) {
    // The client went away (an interrupted upload, say): nothing can be sent, nothing failed.
    request.log.info({ imageId, reason: (error as Error).message }, 'client closed the connection')
    reply.raw.destroy()
    return
  }
  const known = toServiceError(error)
  if (known === null) {
    request.log.error({ imageId, err: error }, 'unexpected error')
    writeError(
      request,
      reply,
      new ServiceError('INTERNAL', 'An unexpected error occurred.'),
      identityUrl,
    )
    return
  }
  if (known.status >= 500) {
    request.log.error({ imageId, err: known, code: known.code }, 'request failed')
  } else {
    request.log.info({ imageId, code: known.code, reason: known.message }, 'request rejected')
  }
  writeError(request, reply, known, identityUrl)
}

function writeError(
  request: FastifyRequest,
  reply: FastifyReply,
  error: ServiceError,
  identityUrl: () => string,
): void {
  if (reply.sent || reply.raw.headersSent) {
    // The status line is gone, so closing the socket is how the client learns the body is incomplete.
    reply.raw.destroy()
    return
  }
  for (const [name, value] of Object.entries(error.headers ?? {})) reply.header(name, value)
  reply.header('x-image-library-error-code', error.code)

  if (error.code === 'UNAUTHORIZED') {
    // keystonemiddleware sends the 401 itself, with a Keystone-style JSON body.
    reply
      .status(401)
      .header('www-authenticate', `Keystone uri="${identityUrl()}"`)
      .type('application/json')
      .send({ error: { code: 401, title: 'Unauthorized', message: error.message } })
    return
  }
  const rendered = renderWebobError(
    error.status,
    errorCatalogue[error.code].title,
    error.message,
    request.headers.accept,
  )
  reply.status(error.status).type(rendered.contentType).send(rendered.body)
}

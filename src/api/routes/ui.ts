import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ForbiddenError, ServiceError } from '../../domain/errors.js'
import type { IdentityCall, IdentityForwarder } from '../ui/identity-proxy.js'
import { setUiSecurityHeaders } from '../ui/security-headers.js'
import type { StaticFile } from '../ui/static-files.js'

export interface UiOptions {
  /** The files of the built UI by relative path, or `null` when the UI was not built. */
  files: Map<string, StaticFile> | null
  identity: IdentityForwarder
}

/** The path prefix of the web UI; the API never uses it. */
export const uiPrefix = '/ui/'

/**
 * The identity calls the UI makes: log in and switch project (POST), log out (DELETE), and list
 * the user's projects. Nothing else of the identity API is reachable through the UI's origin.
 */
const forwardedIdentityCalls: { method: IdentityCall['method']; path: string }[] = [
  { method: 'POST', path: '/v3/auth/tokens' },
  { method: 'DELETE', path: '/v3/auth/tokens' },
  { method: 'GET', path: '/v3/auth/projects' },
]

/** Request headers passed on to the identity API. */
const forwardedHeaders = ['content-type', 'x-auth-token', 'x-subject-token']

/**
 * Registers the routes of the web UI: its static files under `/ui/`, and `/ui/identity/v3/...`,
 * which forwards the UI's few identity calls to this host's identity API. The identity API
 * listens on another port, which a browser treats as another origin. Forwarding keeps every
 * call of the UI on one origin, so the identity API needs no CORS.
 */
export function registerUiRoutes(app: FastifyInstance, options: UiOptions): void {
  // A hook, not the handlers, sets the headers, so that the redirect, the error mapper's
  // responses (403, 404, 415) and the 404s of methods without a route carry them too.
  // NOTE: a path that fails to decode, such as /ui/%, gets Fastify's own 400 JSON body, which
  // runs no hook and so goes out without these headers.
  app.addHook('onRequest', async (request, reply) => {
    if (isUiPath(request.url)) setUiSecurityHeaders(reply)
  })
  app.get('/ui', async (_request, reply) => reply.redirect(uiPrefix, 301))
  app.get('/ui/', async (_request, reply) => sendUiFile(reply, options.files, 'index.html'))
  app.get<{ Params: { '*': string } }>('/ui/*', async (request, reply) => {
    const name = request.params['*']
    if (name.startsWith('identity/')) throw uiNotFound(request)
    return sendUiFile(reply, options.files, name)
  })

  for (const call of forwardedIdentityCalls) {
    app.route({
      method: call.method,
      url: `/ui/identity${call.path}`,
      handler: (request, reply) => forwardIdentityCall(request, reply, call.path, options.identity),
    })
  }
}

/** Returns true when the request target `url` (path and query) is `/ui` or starts with `/ui/`. */
export function isUiPath(url: string): boolean {
  const path = url.split('?', 1)[0]!
  return path === '/ui' || path.startsWith(uiPrefix)
}

/** True when `accept` names text/html itself, as a browser's navigation does; `*\/*` is not enough. */
export function acceptsHtml(accept: string | undefined): boolean {
  if (accept === undefined) return false
  return accept.split(',').some((part) => {
    const [range = '', ...params] = part.trim().toLowerCase().split(';')
    const zeroQuality = params.some((param) => /^\s*q=0(\.0*)?\s*$/.test(param))
    return range.trim() === 'text/html' && !zeroQuality
  })
}

function sendUiFile(
  reply: FastifyReply,
  files: Map<string, StaticFile> | null,
  name: string,
): FastifyReply {
  if (files === null) {
    return reply
      .status(503)
      .type('text/plain; charset=utf-8')
      .header('cache-control', 'no-store')
      .send('The web UI is not built on this host. Run "npm run build" and restart the service.\n')
  }
  const file = files.get(name)
  if (file === undefined) {
    return reply
      .status(404)
      .type('text/plain; charset=utf-8')
      .send(`No such file of the web UI: /ui/${name}\n`)
  }
  // Hashed asset names change with their content; index.html names the current ones.
  const caching = file.immutable ? 'public, max-age=31536000, immutable' : 'no-store'
  return reply
    .type(file.contentType)
    .header('cache-control', caching)
    .header('content-length', String(file.body.length))
    .send(file.body)
}

function uiNotFound(request: FastifyRequest): ServiceError {
  return new ServiceError('NOT_FOUND', `No such resource: ${request.method} ${request.url}.`)
}

async function forwardIdentityCall(
  request: FastifyRequest,
  reply: FastifyReply,
  path: string,
  identity: IdentityForwarder,
): Promise<FastifyReply> {
  rejectCrossSiteRequest(request)
  const call = identityCallOf(request, path)
  const result = await identity(call)

  reply.header('cache-control', 'no-store')
  for (const [name, value] of Object.entries(result.headers)) reply.header(name, value)
  return reply.status(result.status).send(result.body)
}

function identityCallOf(request: FastifyRequest, path: string): IdentityCall {
  const headers: Record<string, string> = {
    accept: 'application/json',
    'x-openstack-request-id': request.id,
  }
  for (const name of forwardedHeaders) {
    const value = request.headers[name]
    if (typeof value === 'string') headers[name] = value
  }
  const queryStart = request.url.indexOf('?')
  const query = queryStart === -1 ? '' : request.url.slice(queryStart)
  const call: IdentityCall = {
    method: request.method as IdentityCall['method'],
    url: `${path}${query}`,
    headers,
    remoteAddress: request.ip,
  }
  if (request.method === 'POST') call.body = JSON.stringify(postBody(request))
  return call
}

/**
 * Returns the JSON body of a forwarded POST. Requiring application/json is part of the
 * protection against cross-site requests: an HTML form cannot send that type, and a script on
 * another origin can send it only after a CORS preflight, which this server never approves.
 */
function postBody(request: FastifyRequest): unknown {
  const type = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase()
  if (type !== 'application/json') {
    throw new ServiceError(
      'UNSUPPORTED_MEDIA_TYPE',
      `Content type ${type ?? '(none)'} is not supported here; send application/json.`,
    )
  }
  return request.body ?? {}
}

/**
 * Rejects a request that a browser marks as coming from another site or origin. The UI keeps its
 * token in memory and sends it in X-Auth-Token, never in a cookie, so a forged request carries no
 * credentials. This check also stops another site from logging a browser in to an account of
 * its choosing.
 */
function rejectCrossSiteRequest(request: FastifyRequest): void {
  const fetchSite = request.headers['sec-fetch-site']
  if (typeof fetchSite === 'string' && fetchSite !== 'same-origin' && fetchSite !== 'none') {
    throw new ForbiddenError(`Cross-site requests to the UI's identity path are rejected.`)
  }
  const origin = request.headers.origin
  const ownOrigin = `${request.protocol}://${request.host}`
  if (typeof origin === 'string' && origin !== ownOrigin) {
    throw new ForbiddenError(
      `Requests from origin ${origin} to the UI's identity path are rejected.`,
    )
  }
}

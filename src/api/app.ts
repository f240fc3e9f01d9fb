import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { Logger } from 'pino'
import type { ImageService } from '../domain/image-service.js'
import type { ImportService } from '../imports/import-service.js'
import type { ImageCache } from '../cache/image-cache.js'
import type { CacheAgentRegistry } from '../cache/cache-agent-registry.js'
import type { MetadefService } from '../domain/metadef-service.js'
import { ServiceError } from '../domain/errors.js'
import type { AuthContext } from '../domain/ports.js'
import type { HostView } from '../cluster/host-registry.js'
import { registerAccessLog } from './middleware/access-log.js'
import { registerErrorMapper } from './middleware/errors.js'
import { requestIdFor } from './middleware/request-id.js'
import { registerDiscoveryRoutes } from './routes/discovery.js'
import { registerHealthRoute, type HealthCheck } from './routes/health.js'
import { registerImageRoutes } from './routes/images.js'
import { registerCacheRoutes } from './routes/cache.js'
import { registerCacheAgentRoutes } from './routes/cache-agents.js'
import { registerImportRoutes } from './routes/imports.js'
import { registerInfoRoutes } from './routes/info.js'
import { registerMemberRoutes } from './routes/members.js'
import { registerMetadefRoutes } from './routes/metadefs.js'
import { registerPeerRoutes } from './routes/peer.js'
import { isUiPath, registerUiRoutes, type UiOptions } from './routes/ui.js'
import { patchMediaTypes } from './wire/patch.js'

declare module 'fastify' {
  interface FastifyRequest {
    auth?: AuthContext
  }
}

export interface TokenValidator {
  authContext(token: string): Promise<AuthContext>
}

export interface ImageApiOptions {
  images: ImageService
  imports: ImportService
  cache: ImageCache
  /** The hypervisors' cache agents, under `/v2/cache/agents`. */
  cacheAgents: CacheAgentRegistry
  metadefs: MetadefService
  tokens: TokenValidator
  /** Glance's `show_multiple_locations` and `show_image_direct_url`. */
  locations: { showMultiple: boolean; showDirectUrl: boolean }
  healthChecks: HealthCheck[]
  log: Logger
  /** The image API's public base URL, for the versions document. */
  baseUrl: () => string
  /** The identity API's public URL, which 401 responses point clients to. */
  identityUrl: () => string
  /** The image library hosts sharing the database, with their status. */
  hosts: () => Promise<HostView[]>
  /** The secret that signs calls between hosts. */
  peerSecret: () => Promise<string>
  /** Runs one replication round now; resolves with the number of images copied here. */
  replicate: () => Promise<number>
  /** The web UI's files and the forwarder of its identity calls. */
  ui: UiOptions
  https?: { key: Buffer; cert: Buffer } | null
}

/** Paths served without a token. */
const publicPaths = new Set(['/', '/versions', '/v2', '/healthcheck'])

/** Builds the image API server. It is not listening yet. */
export function createImageApi(options: ImageApiOptions): FastifyInstance {
  const app = Fastify(serverOptions(options.log, options.https ?? null))
  registerBodyParsers(app)
  registerAccessLog(app)
  registerErrorMapper(app, options.identityUrl)

  app.addHook('preHandler', async (request) => {
    const path = request.url.split('?')[0] ?? ''
    if (publicPaths.has(path) || path === '/versions/') return
    // Calls between hosts carry a signature, which their routes check, instead of a token.
    if (path.startsWith('/internal/')) return
    // The UI's files are public; its identity calls carry their own credentials.
    if (isUiPath(path)) return
    const token = request.headers['x-auth-token']
    if (typeof token !== 'string' || token === '') {
      throw new ServiceError('UNAUTHORIZED', 'The request you have made requires authentication.')
    }
    request.auth = await options.tokens.authContext(token)
  })

  registerDiscoveryRoutes(app, options.baseUrl)
  registerHealthRoute(app, options.healthChecks)
  registerImageRoutes(
    app,
    options.images,
    {
      showLocations: options.locations.showMultiple,
      showDirectUrl: options.locations.showDirectUrl,
      urlOf: (location) => options.images.stores.urlOf(location),
    },
    options.imports.methods,
  )
  registerMemberRoutes(app, options.images)
  registerInfoRoutes(app, options.images, options.imports, options.hosts)
  registerImportRoutes(app, options.imports)
  registerCacheRoutes(app, options.images, options.cache, options.cacheAgents)
  registerCacheAgentRoutes(app, options.cacheAgents)
  registerMetadefRoutes(app, options.metadefs)
  registerPeerRoutes(app, options.images, options.peerSecret, options.replicate)
  registerUiRoutes(app, options.ui)
  return app
}

/** Fastify settings shared by the image API and the identity API. */
export function serverOptions(
  log: Logger,
  https: { key: Buffer; cert: Buffer } | null,
): FastifyServerOptions & { https?: { key: Buffer; cert: Buffer } | null } {
  return {
    loggerInstance: log,
    // The access log writes one line per request; Fastify's own request lines would double it.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'reqId' }),
    genReqId: requestIdFor,
    bodyLimit: 1024 * 1024,
    // Fastify returns 414 for a path parameter longer than 100 characters by default, but a
    // cache agent's name may have 255. Fastify 5.12 warns (FSTDEP022) when this is set at the top
    // level, so it goes in routerOptions.
    routerOptions: { maxParamLength: 1024 },
    keepAliveTimeout: 75_000,
    // A multi-gigabyte upload may take an hour, so a request's total time has no limit. A
    // socket that stays idle for five minutes is closed instead.
    requestTimeout: 0,
    connectionTimeout: 300_000,
    return503OnClosing: true,
    ...(https === null ? {} : { https }),
  }
}

/**
 * JSON for the JSON types (the patch types included), and everything else left unread so that
 * streaming handlers take `request.raw` and other handlers can return 415 themselves.
 */
function registerBodyParsers(app: FastifyInstance): void {
  registerJsonParser(app, [...patchMediaTypes])
  app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined))
}

/**
 * Parses JSON for `application/json` and `extraTypes`, taking an empty body as none: clients
 * such as Tempest send Content-Type: application/json on DELETE and other calls without a
 * body, and Glance and Keystone read a body only when there is one.
 */
export function registerJsonParser(app: FastifyInstance, extraTypes: string[]): void {
  const parseJson = app.getDefaultJsonParser('error', 'error')
  const parseJsonOrNothing: typeof parseJson = (request, body, done) => {
    if (body === '' || (Buffer.isBuffer(body) && body.length === 0)) done(null, undefined)
    else parseJson(request, body, done)
  }
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser(
    ['application/json', ...extraTypes],
    { parseAs: 'string' },
    parseJsonOrNothing,
  )
}

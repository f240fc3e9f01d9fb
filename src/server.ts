import { existsSync } from 'node:fs'
import { readFile, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { FastifyInstance } from 'fastify'
import type { Kysely } from 'kysely'
import type { Logger } from 'pino'
import { createImageApi } from './api/app.js'
import { createInProcessForwarder } from './api/ui/identity-proxy.js'
import { loadStaticFiles } from './api/ui/static-files.js'
import { scheme, type Config, type StoreConfig } from './config.js'
import { openDatabase, migrateToLatest } from './db/connection.js'
import { IdentityRepository } from './db/identity-repository.js'
import { SqlImageRepository } from './db/image-repository.js'
import { SqlTaskRepository } from './db/task-repository.js'
import { ImageCache } from './cache/image-cache.js'
import { HttpLocations } from './imports/http-locations.js'
import { ImportPipeline } from './imports/import-pipeline.js'
import { ImportService } from './imports/import-service.js'
import { defaultWebFetchConfig, WebFetcher } from './imports/web-fetch.js'
import { SqlMetadefRepository } from './db/metadef-repository.js'
import type { Database } from './db/schema.js'
import { ImagePolicy } from './domain/policy.js'
import { ImageService } from './domain/image-service.js'
import type { Image } from './domain/image.js'
import { MetadefService } from './domain/metadef-service.js'
import { Quotas } from './domain/quotas.js'
import type { BlobStore, ContentInspector } from './domain/ports.js'
import { StreamInspector } from './formats/inspector.js'
import { createIdentityApi } from './identity/app.js'
import { bootstrapIdentity, writeRcFile, type RcSettings } from './identity/bootstrap.js'
import { buildCatalog, type CatalogService } from './identity/catalog.js'
import { assertHostNameFree, HostRegistry, type HostStore } from './cluster/host-registry.js'
import { Replicator } from './cluster/replicator.js'
import { SqlHostRepository } from './db/host-repository.js'
import { SqlCacheAgentRepository } from './db/cache-agent-repository.js'
import { CacheAgentRegistry } from './cache/cache-agent-registry.js'
import { serviceVersion } from './version.js'
import { Directory } from './identity/directory.js'
import { IdentityService } from './identity/identity-service.js'
import { CheckedStore } from './store/base.js'
import { createFileStore } from './store/file/index.js'
import { StoreSet, type StoreEntry } from './store/store-set.js'

export interface RunningService {
  imageUrl: string
  identityUrl: string
  rcFile: string
  stop(): Promise<void>
}

const tokenCleanupMs = 60 * 60 * 1000

/** The directory of the built web UI, `dist/ui`, beside this file's `dist/src`. */
const uiDirectory = fileURLToPath(new URL('../ui/', import.meta.url))

/** Inspects bare images; other container formats are stored without looking inside. */
function contentInspector(config: Config): ContentInspector {
  return {
    begin(image: Image) {
      if (image.containerFormat !== 'bare' || image.diskFormat === null) return null
      return new StreamInspector({
        declaredFormat: image.diskFormat,
        allowQcow2AsRaw: config.images.allowQcow2AsRaw,
        requireFormatMatch: config.images.requireFormatMatch,
      })
    },
  }
}

/** Opens the database and applies migrations; shared by `serve` and `admin`. */
export async function openMigratedDatabase(config: Config, log: Logger): Promise<Kysely<Database>> {
  const db = openDatabase(config.database.url, { log })
  const result = await migrateToLatest(db)
  for (const step of result.results ?? []) {
    log.info({ migration: step.migrationName, status: step.status }, 'database migration applied')
  }
  return db
}

async function loadTls(config: Config, log: Logger): Promise<{ key: Buffer; cert: Buffer } | null> {
  if (!config.tls.enabled) return null
  if (!existsSync(config.tls.certFile) || !existsSync(config.tls.keyFile)) {
    await generateCertificate(config, log)
  }
  return { key: await readFile(config.tls.keyFile), cert: await readFile(config.tls.certFile) }
}

/** Makes the self-signed CA and certificate; the X.509 library is loaded only for this. */
async function generateCertificate(config: Config, log: Logger): Promise<void> {
  const { defaultSubjectNames, ensureCertificate } = await import('./tls/certificate.js')
  const caFile = caFileOf(config)
  await ensureCertificate(
    { certFile: config.tls.certFile, keyFile: config.tls.keyFile, caFile },
    defaultSubjectNames([config.server.publicHost, config.server.host]),
  )
  log.info({ certFile: config.tls.certFile, caFile }, 'self-signed certificate created')
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host
}

/** Starts the image API and the identity API as configured; resolves once both listen. */
export async function startService(config: Config, log: Logger): Promise<RunningService> {
  const db = await openMigratedDatabase(config, log)
  const hostRepo = new SqlHostRepository(db)
  await assertHostNameFree(hostRepo, config.cluster.hostName)
  // The cache's index lives in memory, so copies from an earlier run are unknown to it and
  // would never be evicted: start from an empty directory.
  await rm(join(config.dataDir, 'cache'), { recursive: true, force: true })
  const fetcher = new WebFetcher({
    ...defaultWebFetchConfig,
    allowedHosts: config.imports.webDownload.allowedHosts,
    allowPrivate: config.imports.webDownload.allowPrivate,
    maxRedirects: config.imports.webDownload.maxRedirects,
    totalTimeoutMs: config.imports.webDownload.timeoutSeconds * 1000,
    maxBytes: config.images.maxSizeBytes,
  })
  const httpLocations = config.images.showMultipleLocations ? new HttpLocations(fetcher) : null
  const stores = await openStores(config, httpLocations, log)
  const cache = new ImageCache(
    stores,
    new CheckedStore(
      await createFileStore({ directory: join(config.dataDir, 'cache'), name: 'cache' }),
      log,
    ),
    {
      maxBytes: config.cache.maxSizeBytes,
      prefetchIntervalMs: config.cache.prefetchIntervalSeconds * 1000,
    },
    log,
  )
  await cache.start()
  const repo = new SqlImageRepository(db, config.cluster.hostName)

  const identityRepo = new IdentityRepository(db)
  const identity = new IdentityService(
    identityRepo,
    {
      tokenLifetimeSeconds: config.identity.tokenLifetimeSeconds,
      tokenCacheSeconds: config.identity.tokenCacheSeconds,
    },
    log.child({ component: 'identity' }),
  )
  const directory = new Directory(identityRepo, () => identity.forgetCachedTokens())
  const rcFile = join(config.dataDir, 'admin-openrc.sh')
  const { adminPassword } = await bootstrapIdentity(identityRepo, directory)
  if (adminPassword !== null) {
    // Written at once so that the password survives a failure later in start-up.
    await writeRcFile(rcFile, rcSettings(config, adminPassword, config.server.identityPort))
    log.info({ user: 'admin', rcFile }, 'identity bootstrapped; admin credentials written')
  }

  const inspector = contentInspector(config)
  const images = new ImageService({
    repo,
    stores,
    reader: cache,
    policy: new ImagePolicy({ publicizeRoles: config.images.publicizeRoles }),
    quotas: new Quotas(repo, config.quotas),
    inspector,
    urls: httpLocations,
    config: {
      maxSizeBytes: config.images.maxSizeBytes,
      editableLocations: config.images.showMultipleLocations,
    },
    log,
  })
  const plugins = config.imports.plugins
  const pipeline = new ImportPipeline(
    {
      decompress: plugins.includes('decompress')
        ? { maxRatio: config.imports.decompressMaxRatio }
        : null,
      convert: plugins.includes('convert')
        ? {
            format: config.imports.convertFormat,
            timeoutMs: config.imports.convertTimeoutSeconds * 1000,
          }
        : null,
      maxSizeBytes: config.images.maxSizeBytes,
      workDir: join(config.dataDir, 'work'),
    },
    inspector,
    repo,
    log,
  )
  await pipeline.start()
  const imports = new ImportService({
    images,
    repo,
    tasks: new SqlTaskRepository(db, config.cluster.hostName),
    // NOTE: staged data lives on this host, so with several hosts the import must run on the
    // host that took the stage call.
    staging: new CheckedStore(
      await createFileStore({ directory: join(config.dataDir, 'staging') }),
      log,
    ),
    maxSizeBytes: config.images.maxSizeBytes,
    methods: config.imports.methods,
    web: fetcher,
    pipeline,
    inject: plugins.includes('inject_properties')
      ? {
          properties: config.imports.injectProperties,
          ignoreRoles: config.imports.injectIgnoreRoles,
        }
      : null,
    log,
  })
  const cacheAgents = new CacheAgentRegistry(new SqlCacheAgentRepository(db), {}, log)
  images.onDelete((image) => cacheAgents.forgetImage(image.id))
  const recovered = (await images.recoverInterruptedUploads()) + (await imports.recover())
  if (recovered > 0) log.warn({ count: recovered }, 'removed leftovers of interrupted uploads')

  const peerSecret = hostRepo.clusterSecret()
  const https = await loadTls(config, log)
  const urls = { image: '', identity: '' }
  let catalog: () => CatalogService[] = () => []
  let registry: HostRegistry | null = null
  let replicator: Replicator | null = null
  let identityApi: FastifyInstance | null = null
  const uiFiles = await loadStaticFiles(uiDirectory)
  if (uiFiles === null) {
    log.warn({ directory: uiDirectory }, 'web UI files missing; run npm run build to serve the UI')
  }

  const imageApi = createImageApi({
    images,
    imports,
    cache,
    cacheAgents,
    metadefs: new MetadefService(new SqlMetadefRepository(db)),
    tokens: identity,
    locations: {
      showMultiple: config.images.showMultipleLocations,
      showDirectUrl: config.images.showImageDirectUrl,
    },
    log,
    https,
    baseUrl: () => urls.image,
    identityUrl: () => `${urls.identity}/v3`,
    hosts: () => registry?.list() ?? Promise.resolve([]),
    peerSecret: () => peerSecret,
    replicate: () => replicator?.run() ?? Promise.resolve(0),
    ui: { files: uiFiles, identity: createInProcessForwarder(() => identityApi!) },
    healthChecks: [
      { name: 'database', run: () => repo.ping() },
      {
        name: 'store',
        run: async () => {
          for (const store of stores.all()) {
            await store.ping().catch((error: unknown) => {
              throw new Error(`store ${store.name}: ${(error as Error).message}`)
            })
          }
          return { stores: stores.list().map((store) => store.id) }
        },
      },
    ],
  })
  identityApi = createIdentityApi({
    identity,
    directory,
    log,
    https,
    catalog: () => catalog(),
    baseUrl: () => urls.identity,
  })

  const imagePort = await listen(imageApi, config.server.host, config.server.port)
  const identityPort = await listen(identityApi, config.server.host, config.server.identityPort)
  const base = `${scheme(config)}://${urlHost(config.server.publicHost)}`
  urls.image = `${base}:${imagePort}`
  urls.identity = `${base}:${identityPort}`
  const self = {
    name: config.cluster.hostName,
    imageUrl: urls.image,
    identityUrl: `${urls.identity}/v3`,
    version: serviceVersion,
  }
  registry = new HostRegistry(
    hostRepo,
    self,
    () => storeCapacities(stores),
    {
      heartbeatIntervalMs: config.cluster.heartbeatIntervalSeconds * 1000,
      heartbeatTimeoutMs: config.cluster.heartbeatTimeoutSeconds * 1000,
    },
    async (host) => {
      const taken = (await images.reclaimUploads(host)) + (await imports.adoptFrom(host))
      if (taken > 0) log.warn({ host, count: taken }, 'took over the work of a lost host')
    },
    log,
  )
  await registry.start()
  replicator = new Replicator({
    images,
    repo,
    stores,
    healthyHosts: () => registry!.healthy,
    secret: await peerSecret,
    ca: await readPeerCa(config),
    replicas: config.cluster.replicas,
    log: log.child({ component: 'replication' }),
  })
  images.useReplicas(replicator)
  const replication = setInterval(() => {
    replicator!
      .run()
      .then((copied) => {
        if (copied > 0) log.info({ count: copied }, 'replication round copied images here')
      })
      .catch((error: unknown) => log.error({ err: error }, 'replication round failed'))
  }, config.cluster.replicationIntervalSeconds * 1000)
  replication.unref()
  catalog = () =>
    buildCatalog({
      region: config.identity.region,
      imageServiceName: config.identity.imageServiceName,
      hosts: registry!.healthy.length > 0 ? registry!.healthy : [self],
    })

  await writeRcFile(rcFile, rcSettings(config, null, identityPort))

  const cleanup = setInterval(() => {
    identityRepo
      .deleteExpiredTokens(new Date())
      .catch((error: unknown) => log.error({ err: error }, 'expired token cleanup failed'))
  }, tokenCleanupMs)
  cleanup.unref()

  log.info({ imageUrl: urls.image, identityUrl: urls.identity }, 'service started')
  return {
    imageUrl: urls.image,
    identityUrl: urls.identity,
    rcFile,
    async stop() {
      clearInterval(cleanup)
      clearInterval(replication)
      cache.stop()
      await Promise.all([imageApi.close(), identityApi.close()])
      await imports.stop()
      await registry?.stop()
      await db.destroy()
      log.info('service stopped')
    },
  }
}

/** Reads the CA that peers' certificates chain to: the configured one, or this host's own. */
export async function readPeerCa(config: Config): Promise<Buffer | null> {
  if (!config.tls.enabled) return null
  return readFile(caFileOf(config)).catch(() => null)
}

/** Reads the capacity of each writable store, for the host registry. */
async function storeCapacities(stores: StoreSet): Promise<HostStore[]> {
  const result: HostStore[] = []
  for (const info of stores.list()) {
    if (info.readOnly) continue
    const capacity = await stores
      .writable(info.id)
      .capacity()
      .catch(() => ({ totalBytes: 0, freeBytes: 0 }))
    result.push({ id: info.id, ...capacity })
  }
  return result
}

/** Opens every configured store. */
async function openStores(
  config: Config,
  urls: HttpLocations | null,
  log: Logger,
): Promise<StoreSet> {
  const entries: StoreEntry[] = []
  for (const store of config.stores) {
    const { driver, urlOf } = await openStoreDriver(store, log)
    entries.push({
      info: {
        id: store.id,
        type: store.type,
        description: store.description,
        weight: store.weight,
        isDefault: store.isDefault,
        readOnly: false,
        local: store.local,
      },
      store: new CheckedStore(driver, log),
      urlOf,
    })
  }
  return new StoreSet(entries, urls, config.cluster.hostName, log)
}

/** Creates one store's driver; the rbd and s3 modules load only when a store uses them. */
async function openStoreDriver(
  store: StoreConfig,
  log: Logger,
): Promise<{ driver: BlobStore; urlOf: (key: string) => string }> {
  switch (store.type) {
    case 'file': {
      const driver = await createFileStore({ directory: store.directory, name: store.id })
      return { driver, urlOf: (key) => pathToFileURL(join(store.directory, key)).href }
    }
    case 'rbd': {
      const { createRbdStore } = await import('./store/rbd/index.js')
      const driver = createRbdStore({
        name: store.id,
        pool: store.pool,
        cephConf: store.cephConf,
        client: store.client,
        keyring: store.keyring,
        log,
      })
      return { driver, urlOf: (key) => driver.urlOf(key) }
    }
    case 's3': {
      const { createS3Store } = await import('./store/s3/index.js')
      const driver = createS3Store({
        name: store.id,
        endpoint: store.endpoint,
        region: store.region,
        bucket: store.bucket,
        accessKey: store.accessKey,
        secretKey: store.secretKey,
        credentialsFile: store.credentialsFile,
        log,
      })
      return { driver, urlOf: (key) => driver.urlOf(key) }
    }
  }
}

function rcSettings(config: Config, password: string | null, identityPort: number): RcSettings {
  return {
    authUrl: `${scheme(config)}://${urlHost(config.server.publicHost)}:${identityPort}/v3`,
    username: 'admin',
    password,
    projectName: 'admin',
    region: config.identity.region,
    interface: 'admin',
    caFile: config.tls.enabled ? caFileOf(config) : null,
  }
}

export function caFileOf(config: Config): string {
  return config.tls.caFile ?? join(config.dataDir, 'tls', 'ca.pem')
}

/** Error for a listen address and port that another process already uses. */
export class PortInUseError extends Error {
  constructor(host: string, port: number, options: ErrorOptions) {
    super(
      `cannot listen on ${host}:${port}: the address is already in use. Stop the process that ` +
        'listens there (ss -ltnp shows it), or choose other ports with --port and --identity-port',
      options,
    )
    this.name = 'PortInUseError'
  }
}

async function listen(app: FastifyInstance, host: string, port: number): Promise<number> {
  try {
    await app.listen({ host, port })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new PortInUseError(host, port, { cause: error })
    }
    throw error
  }
  return (app.server.address() as AddressInfo).port
}

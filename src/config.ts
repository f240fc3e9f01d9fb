import { existsSync, readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { isAbsolute, join, relative, resolve } from 'node:path'
import { parse as parseToml } from 'smol-toml'
import { importMethodNames, type ImportMethod } from './imports/methods.js'
import { validateInjectedProperties } from './imports/plugins/inject-properties.js'

export interface Config {
  dataDir: string
  server: {
    host: string
    port: number
    identityPort: number
    /** Host name that clients use; goes into the catalog, the RC file and the certificate. */
    publicHost: string
  }
  tls: { enabled: boolean; certFile: string; keyFile: string; caFile: string | null }
  identity: {
    region: string
    tokenLifetimeSeconds: number
    tokenCacheSeconds: number
    imageServiceName: string
  }
  database: { url: string }
  /** The image data stores; the first is the default unless `[store] default` names another. */
  stores: StoreConfig[]
  images: {
    maxSizeBytes: number
    allowQcow2AsRaw: boolean
    /** Reject content whose format differs from disk_format (unsafe content is always rejected). */
    requireFormatMatch: boolean
    /** Roles allowed to make an image public; Glance's default policy allows only admins. */
    publicizeRoles: string[]
    /** Show every location of an image and let owners edit them (Glance's option of that name). */
    showMultipleLocations: boolean
    /** Show the first location's URL as `direct_url`. */
    showImageDirectUrl: boolean
  }
  imports: {
    methods: ImportMethod[]
    webDownload: {
      /** Hosts, `host:port`, addresses or CIDRs; when not empty, only these are fetched. */
      allowedHosts: string[]
      /** Fetch from loopback, private and link-local addresses too (off by default). */
      allowPrivate: boolean
      maxRedirects: number
      timeoutSeconds: number
    }
    /** Steps that glance-direct and web-download imports run, in this order when listed. */
    plugins: ImportPlugin[]
    /** The disk_format that the convert plugin produces. */
    convertFormat: ConvertTarget
    convertTimeoutSeconds: number
    /** Output may be at most this many times the compressed input (decompression bombs). */
    decompressMaxRatio: number
    injectProperties: Record<string, string>
    /** Imports by users with one of these roles get no injected properties. */
    injectIgnoreRoles: string[]
  }
  /** Per-project limits; -1 is unlimited. */
  quotas: {
    imageCountTotal: number
    imageSizeTotal: number
    imageStageTotal: number
    imageCountUploading: number
  }
  log: { level: string; file: string }
  cluster: {
    /** This host's name in the host registry; unique among the hosts sharing a database. */
    hostName: string
    heartbeatIntervalSeconds: number
    heartbeatTimeoutSeconds: number
    /** Copies on distinct hosts that images in local stores should have. */
    replicas: number
    replicationIntervalSeconds: number
  }
  cache: { maxSizeBytes: number; prefetchIntervalSeconds: number }
}

export const importPlugins = ['decompress', 'convert', 'inject_properties'] as const
export type ImportPlugin = (typeof importPlugins)[number]
export const convertTargets = ['raw', 'qcow2', 'vmdk', 'vhd', 'vhdx', 'vdi'] as const
export type ConvertTarget = (typeof convertTargets)[number]

export const storeTypes = ['file', 'rbd', 's3'] as const
export type StoreType = (typeof storeTypes)[number]

/** A `[stores.<id>]` table: the settings every store has, and those of its type. */
export type StoreConfig = {
  id: string
  description: string
  weight: number
  isDefault: boolean
  /** On this host's own disk; other hosts copy its images from this one. */
  local: boolean
} & (FileStoreSettings | RbdStoreSettings | S3StoreSettings)

export interface FileStoreSettings {
  type: 'file'
  directory: string
}

export interface RbdStoreSettings {
  type: 'rbd'
  pool: string
  cephConf: string
  /** The cephx user without `client.`. */
  client: string
  /** `null` leaves the keyring to ceph.conf. */
  keyring: string | null
}

export interface S3StoreSettings {
  type: 's3'
  endpoint: string
  region: string
  bucket: string
  accessKey: string | null
  secretKey: string | null
  /** A file of `S3_ACCESS_KEY=` and `S3_SECRET_KEY=` lines, in place of the two keys. */
  credentialsFile: string | null
}

/** Flags and environment that override the file; `undefined` leaves a setting alone. */
export interface ConfigOverrides {
  dataDir?: string
  configFile?: string
  host?: string
  port?: number
  identityPort?: number
  publicHost?: string
  certFile?: string
  keyFile?: string
  databaseUrl?: string
  logLevel?: string
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

type Kind = 'string' | 'integer' | 'boolean' | 'string[]' | 'property-map'
interface Setting {
  kind: Kind
  min?: number
  max?: number
  oneOf?: readonly string[]
}

/** Every key the configuration file accepts, by section. */
const settings: Record<string, Record<string, Setting>> = {
  server: {
    host: { kind: 'string' },
    port: { kind: 'integer', min: 0, max: 65535 },
    identity_port: { kind: 'integer', min: 0, max: 65535 },
    public_host: { kind: 'string' },
  },
  tls: {
    enabled: { kind: 'boolean' },
    cert_file: { kind: 'string' },
    key_file: { kind: 'string' },
    ca_file: { kind: 'string' },
  },
  identity: {
    region: { kind: 'string' },
    token_lifetime: { kind: 'integer', min: 60, max: 7 * 24 * 3600 },
    token_cache: { kind: 'integer', min: 0, max: 3600 },
    image_service_name: { kind: 'string' },
  },
  database: { url: { kind: 'string' } },
  store: { file_directory: { kind: 'string' }, default: { kind: 'string' } },
  images: {
    max_size: { kind: 'integer', min: 1 },
    allow_qcow2_as_raw: { kind: 'boolean' },
    require_format_match: { kind: 'boolean' },
    publicize_roles: { kind: 'string[]' },
    show_multiple_locations: { kind: 'boolean' },
    show_image_direct_url: { kind: 'boolean' },
  },
  import: {
    methods: { kind: 'string[]', oneOf: importMethodNames },
    web_download_allowed_hosts: { kind: 'string[]' },
    web_download_allow_private: { kind: 'boolean' },
    web_download_max_redirects: { kind: 'integer', min: 0, max: 20 },
    web_download_timeout: { kind: 'integer', min: 1, max: 7 * 24 * 3600 },
    plugins: { kind: 'string[]', oneOf: importPlugins },
    convert_format: { kind: 'string', oneOf: convertTargets },
    convert_timeout: { kind: 'integer', min: 1, max: 24 * 3600 },
    decompress_max_ratio: { kind: 'integer', min: 1, max: 1_000_000 },
    inject_properties: { kind: 'property-map' },
    inject_ignore_roles: { kind: 'string[]' },
  },
  quotas: {
    image_count_total: { kind: 'integer', min: -1 },
    image_size_total: { kind: 'integer', min: -1 },
    image_stage_total: { kind: 'integer', min: -1 },
    image_count_uploading: { kind: 'integer', min: -1 },
  },
  cache: {
    max_size: { kind: 'integer', min: 0 },
    prefetch_interval: { kind: 'integer', min: 0, max: 86400 },
  },
  cluster: {
    host_name: { kind: 'string' },
    heartbeat_interval: { kind: 'integer', min: 1, max: 3600 },
    heartbeat_timeout: { kind: 'integer', min: 2, max: 86400 },
    replicas: { kind: 'integer', min: 1, max: 16 },
    replication_interval: { kind: 'integer', min: 1, max: 86400 },
  },
  log: {
    level: {
      kind: 'string',
      oneOf: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    },
    file: { kind: 'string' },
  },
}

type FileValues = Record<string, Record<string, unknown>>

/**
 * Loads the configuration: built-in defaults, then `<data>/image-library.toml` (or the file
 * named by `--config`), then environment and flags. Throws `ConfigError` naming the bad key.
 */
export function loadConfig(overrides: ConfigOverrides, env: NodeJS.ProcessEnv): Readonly<Config> {
  const dataDir = resolve(overrides.dataDir ?? env.IMAGE_LIBRARY_DATA_DIR ?? 'data')
  const configFile =
    overrides.configFile ?? env.IMAGE_LIBRARY_CONFIG ?? join(dataDir, 'image-library.toml')
  const file = readConfigFile(configFile, overrides.configFile !== undefined)
  const get = <T>(section: string, key: string, fallback: T): T =>
    (file[section]?.[key] as T | undefined) ?? fallback
  const path = (value: string) => (isAbsolute(value) ? value : resolve(dataDir, value))

  const tlsDir = join(dataDir, 'tls')
  const config: Config = {
    dataDir,
    server: {
      host: overrides.host ?? get('server', 'host', '0.0.0.0'),
      port: overrides.port ?? get('server', 'port', 9292),
      identityPort: overrides.identityPort ?? get('server', 'identity_port', 5000),
      publicHost: overrides.publicHost ?? get('server', 'public_host', ''),
    },
    tls: {
      enabled: get('tls', 'enabled', true),
      certFile: path(overrides.certFile ?? get('tls', 'cert_file', join(tlsDir, 'cert.pem'))),
      keyFile: path(overrides.keyFile ?? get('tls', 'key_file', join(tlsDir, 'key.pem'))),
      caFile: optionalPath(get<string | null>('tls', 'ca_file', null), path),
    },
    identity: {
      region: get('identity', 'region', 'RegionOne'),
      tokenLifetimeSeconds: get('identity', 'token_lifetime', 3600),
      tokenCacheSeconds: get('identity', 'token_cache', 10),
      imageServiceName: get('identity', 'image_service_name', 'glance'),
    },
    database: {
      url:
        overrides.databaseUrl ??
        env.IMAGE_LIBRARY_DATABASE_URL ??
        get('database', 'url', `sqlite://${join(dataDir, 'image-library.db')}`),
    },
    stores: storesOf(file, path, get('store', 'file_directory', join(dataDir, 'images'))),
    images: {
      maxSizeBytes: get('images', 'max_size', 1024 ** 4),
      allowQcow2AsRaw: get('images', 'allow_qcow2_as_raw', false),
      requireFormatMatch: get('images', 'require_format_match', true),
      publicizeRoles: get('images', 'publicize_roles', ['admin']),
      showMultipleLocations: get('images', 'show_multiple_locations', false),
      showImageDirectUrl: get('images', 'show_image_direct_url', false),
    },
    imports: {
      methods: get('import', 'methods', [...importMethodNames]),
      webDownload: {
        allowedHosts: get('import', 'web_download_allowed_hosts', []),
        allowPrivate: get('import', 'web_download_allow_private', false),
        maxRedirects: get('import', 'web_download_max_redirects', 5),
        timeoutSeconds: get('import', 'web_download_timeout', 3600),
      },
      plugins: get('import', 'plugins', []),
      convertFormat: get('import', 'convert_format', 'raw'),
      convertTimeoutSeconds: get('import', 'convert_timeout', 3600),
      decompressMaxRatio: get('import', 'decompress_max_ratio', 1000),
      injectProperties: get('import', 'inject_properties', {}),
      injectIgnoreRoles: get('import', 'inject_ignore_roles', ['admin']),
    },
    quotas: {
      imageCountTotal: get('quotas', 'image_count_total', -1),
      imageSizeTotal: get('quotas', 'image_size_total', -1),
      imageStageTotal: get('quotas', 'image_stage_total', -1),
      imageCountUploading: get('quotas', 'image_count_uploading', -1),
    },
    cache: {
      maxSizeBytes: get('cache', 'max_size', 10 * 1024 ** 3),
      prefetchIntervalSeconds: get('cache', 'prefetch_interval', 300),
    },
    cluster: {
      hostName: get('cluster', 'host_name', hostname()),
      heartbeatIntervalSeconds: get('cluster', 'heartbeat_interval', 10),
      heartbeatTimeoutSeconds: get('cluster', 'heartbeat_timeout', 30),
      replicas: get('cluster', 'replicas', 2),
      replicationIntervalSeconds: get('cluster', 'replication_interval', 60),
    },
    log: {
      level: overrides.logLevel ?? env.IMAGE_LIBRARY_LOG_LEVEL ?? get('log', 'level', 'info'),
      file: path(get('log', 'file', join(dataDir, 'logs', 'image-library.log'))),
    },
  }
  if (config.server.publicHost === '')
    config.server.publicHost = defaultPublicHost(config.server.host)
  checkLevel(config.log.level)
  const { heartbeatIntervalSeconds: interval, heartbeatTimeoutSeconds: timeout } = config.cluster
  if (timeout < 2 * interval) {
    throw new ConfigError(
      `cluster.heartbeat_timeout (${timeout} s) must be at least twice cluster.heartbeat_interval (${interval} s), or a live host can look down between two heartbeats.`,
    )
  }
  return deepFreeze(config)
}

const storeSettings: Record<string, Setting> = {
  type: { kind: 'string', oneOf: storeTypes },
  description: { kind: 'string' },
  weight: { kind: 'integer', min: 0, max: 1000000 },
  local: { kind: 'boolean' },
}
/** The keys that each store type accepts besides those of every store, and those it requires. */
const storeTypeSettings: Record<StoreType, { required: string[]; keys: Record<string, Setting> }> =
  {
    file: { required: ['directory'], keys: { directory: { kind: 'string' } } },
    rbd: {
      required: ['pool'],
      keys: {
        pool: { kind: 'string' },
        ceph_conf: { kind: 'string' },
        client: { kind: 'string' },
        keyring: { kind: 'string' },
      },
    },
    s3: {
      required: ['endpoint', 'bucket'],
      keys: {
        endpoint: { kind: 'string' },
        region: { kind: 'string' },
        bucket: { kind: 'string' },
        access_key: { kind: 'string' },
        secret_key: { kind: 'string' },
        credentials_file: { kind: 'string' },
      },
    },
  }
const storeIdPattern = /^[A-Za-z0-9_-]{1,64}$/

/**
 * The stores from `[stores.<id>]` tables; without any, one file store named `file` in
 * `[store] file_directory`, as a single-store service has.
 */
function storesOf(file: FileValues, path: (value: string) => string, fileDirectory: string) {
  const tables = (file.stores ?? {}) as Record<string, Record<string, unknown>>
  const defaultId = file.store?.default as string | undefined
  const stores: StoreConfig[] = Object.entries(tables).map(([id, values]) => ({
    id,
    description: (values.description as string | undefined) ?? `Image data in ${id}`,
    weight: (values.weight as number | undefined) ?? 0,
    isDefault: false,
    local: (values.local as boolean | undefined) ?? false,
    ...storeTypeSettingsOf(values, path),
  }))
  if (stores.length === 0) {
    stores.push({
      id: 'file',
      type: 'file',
      directory: path(fileDirectory),
      description: 'Image data directory',
      weight: 0,
      isDefault: false,
      local: false,
    })
  }
  checkStoreDirectories(stores, path)
  const chosen = defaultId ?? stores[0]!.id
  const match = stores.find((store) => store.id === chosen)
  if (match === undefined) {
    throw new ConfigError(
      `store.default is ${chosen}, which is not a configured store; stores are ${stores.map((s) => s.id).join(', ')}.`,
    )
  }
  match.isDefault = true
  return stores
}

/** Store ids that mean something else: external locations use `http`. */
const reservedStoreIds = new Set(['http'])

/**
 * Rejects store directories that overlap each other or the directories the service empties or
 * uses for other data, since data written there would be lost or misread.
 */
function checkStoreDirectories(stores: StoreConfig[], path: (value: string) => string): void {
  const others = ['cache', 'staging', 'work'].map((name) => ({ name, directory: path(name) }))
  const fileStores = stores.filter((store) => store.type === 'file')
  const taken = [
    ...others,
    ...fileStores.map((store) => ({ name: `store ${store.id}`, directory: store.directory })),
  ]
  for (const store of stores) {
    if (reservedStoreIds.has(store.id)) {
      throw new ConfigError(`store id ${store.id} is reserved; choose another id.`)
    }
  }
  for (const store of fileStores) {
    for (const other of taken) {
      if (other.name === `store ${store.id}`) continue
      if (
        isWithin(store.directory, other.directory) ||
        isWithin(other.directory, store.directory)
      ) {
        throw new ConfigError(
          `store ${store.id} directory ${store.directory} overlaps the ${other.name} directory ${other.directory}; give each store a directory of its own.`,
        )
      }
    }
  }
}

function isWithin(inner: string, outer: string): boolean {
  const relation = relative(outer, inner)
  return relation === '' || (!relation.startsWith('..') && !isAbsolute(relation))
}

/** Returns the settings of a validated store table for its type, with defaults filled in. */
function storeTypeSettingsOf(
  values: Record<string, unknown>,
  path: (value: string) => string,
): FileStoreSettings | RbdStoreSettings | S3StoreSettings {
  const text = (key: string) => values[key] as string | undefined
  const optionalFile = (key: string) => optionalPath(text(key) ?? null, path)
  switch (values.type as StoreType) {
    case 'file':
      return { type: 'file', directory: path(text('directory')!) }
    case 'rbd':
      return {
        type: 'rbd',
        pool: text('pool')!,
        cephConf: path(text('ceph_conf') ?? '/etc/ceph/ceph.conf'),
        client: text('client') ?? 'admin',
        keyring: optionalFile('keyring'),
      }
    case 's3':
      return {
        type: 's3',
        endpoint: text('endpoint')!,
        region: text('region') ?? 'us-east-1',
        bucket: text('bucket')!,
        accessKey: text('access_key') ?? null,
        secretKey: text('secret_key') ?? null,
        credentialsFile: optionalFile('credentials_file'),
      }
  }
}

/** Checks the `[stores.<id>]` tables: each needs a type and the required keys of that type. */
function validateStores(file: string, value: unknown): Record<string, Record<string, unknown>> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`${file}: [stores] must hold one table per store, [stores.<id>].`)
  }
  const result: Record<string, Record<string, unknown>> = {}
  for (const [id, table] of Object.entries(value)) {
    if (!storeIdPattern.test(id)) {
      throw new ConfigError(`${file}: store id ${id} is invalid; use 1-64 of [A-Za-z0-9_-].`)
    }
    if (typeof table !== 'object' || table === null || Array.isArray(table)) {
      throw new ConfigError(`${file}: stores.${id} must be a table.`)
    }
    result[id] = validateStoreTable(file, id, table as Record<string, unknown>)
  }
  return result
}

/** Checks the table of one store: its type first, then the keys that this type accepts. */
function validateStoreTable(
  file: string,
  id: string,
  table: Record<string, unknown>,
): Record<string, unknown> {
  const name = `${file}: stores.${id}`
  if (table.type === undefined) throw new ConfigError(`${name} needs type.`)
  const type = checkValue(`${name}.type`, storeSettings.type!, table.type) as StoreType
  const { required, keys } = storeTypeSettings[type]
  const accepted: Record<string, Setting> = { ...storeSettings, ...keys }

  const result: Record<string, unknown> = {}
  for (const [key, item] of Object.entries(table)) {
    const setting = accepted[key]
    if (setting === undefined) {
      throw new ConfigError(
        `${file}: unknown key stores.${id}.${key}; ${type} stores accept ${Object.keys(accepted).join(', ')}.`,
      )
    }
    result[key] = checkValue(`${name}.${key}`, setting, item)
  }
  for (const key of required) {
    if (result[key] === undefined) throw new ConfigError(`${name} needs ${key}.`)
  }
  if (type === 's3') checkS3Keys(name, result)
  return result
}

/** Checks that an s3 store has access_key and secret_key together, or a credentials_file. */
function checkS3Keys(name: string, table: Record<string, unknown>): void {
  const inline = ['access_key', 'secret_key'].filter((key) => table[key] !== undefined)
  if (inline.length === 1) {
    const missing = inline[0] === 'access_key' ? 'secret_key' : 'access_key'
    throw new ConfigError(`${name} sets ${inline[0]} but not ${missing}; set both.`)
  }
  if (inline.length === 0 && table.credentials_file === undefined) {
    throw new ConfigError(`${name} needs access_key and secret_key, or credentials_file.`)
  }
}

function optionalPath(value: string | null, path: (value: string) => string): string | null {
  return value === null ? null : path(value)
}

/** A wildcard listen address cannot be advertised; `localhost` is, until an operator sets one. */
function defaultPublicHost(host: string): string {
  return host === '0.0.0.0' || host === '::' ? 'localhost' : host
}

function checkLevel(level: string): void {
  const allowed = settings.log!.level!.oneOf!
  if (!allowed.includes(level)) {
    throw new ConfigError(`log level ${level} is invalid: use one of ${allowed.join(', ')}.`)
  }
}

function readConfigFile(file: string, required: boolean): FileValues {
  if (!existsSync(file)) {
    if (required) throw new ConfigError(`configuration file ${file} does not exist.`)
    return {}
  }
  let parsed: Record<string, unknown>
  try {
    parsed = parseToml(readFileSync(file, 'utf8'))
  } catch (error) {
    throw new ConfigError(
      `configuration file ${file} is not valid TOML: ${(error as Error).message}`,
    )
  }
  return validateFile(file, parsed)
}

function validateFile(file: string, parsed: Record<string, unknown>): FileValues {
  const result: FileValues = {}
  for (const [section, values] of Object.entries(parsed)) {
    if (section === 'stores') {
      result.stores = validateStores(file, values)
      continue
    }
    const known = settings[section]
    if (
      known === undefined ||
      typeof values !== 'object' ||
      values === null ||
      Array.isArray(values)
    ) {
      throw new ConfigError(
        `${file}: unknown section [${section}]; sections are ${[...Object.keys(settings), 'stores'].join(', ')}.`,
      )
    }
    result[section] = {}
    for (const [key, value] of Object.entries(values)) {
      const setting = known[key]
      if (setting === undefined) {
        throw new ConfigError(
          `${file}: unknown key ${section}.${key}; [${section}] accepts ${Object.keys(known).join(', ')}.`,
        )
      }
      result[section][key] = checkValue(`${file}: ${section}.${key}`, setting, value)
    }
  }
  return result
}

function checkValue(name: string, setting: Setting, value: unknown): unknown {
  const fail = (expected: string) =>
    new ConfigError(`${name} is ${JSON.stringify(value)}, expected ${expected}.`)
  switch (setting.kind) {
    case 'string':
      if (typeof value !== 'string') throw fail('a string')
      if (setting.oneOf !== undefined && !setting.oneOf.includes(value)) {
        throw fail(`one of ${setting.oneOf.join(', ')}`)
      }
      return value
    case 'boolean':
      if (typeof value !== 'boolean') throw fail('true or false')
      return value
    case 'string[]':
      if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
        throw fail('an array of strings')
      }
      if (setting.oneOf !== undefined && !value.every((item) => setting.oneOf!.includes(item))) {
        throw fail(`values among ${setting.oneOf.join(', ')}`)
      }
      return value
    case 'property-map':
      if (
        typeof value !== 'object' ||
        value === null ||
        Array.isArray(value) ||
        !Object.values(value).every((item) => typeof item === 'string')
      ) {
        throw fail('a table of string values, such as { hw_machine_type = "q35" }')
      }
      try {
        validateInjectedProperties(value as Record<string, string>)
      } catch (error) {
        throw new ConfigError(`${name}: ${(error as Error).message}`)
      }
      return { ...value }
    case 'integer': {
      const number = typeof value === 'bigint' ? Number(value) : value
      if (typeof number !== 'number' || !Number.isSafeInteger(number)) throw fail('an integer')
      if (setting.min !== undefined && number < setting.min) throw fail(`at least ${setting.min}`)
      if (setting.max !== undefined && number > setting.max) throw fail(`at most ${setting.max}`)
      return number
    }
  }
}

function deepFreeze<T extends object>(value: T): Readonly<T> {
  for (const child of Object.values(value)) {
    if (typeof child === 'object' && child !== null) deepFreeze(child)
  }
  return Object.freeze(value)
}

/** The scheme the service speaks, for URLs in the catalog and the RC file. */
export function scheme(config: Config): 'https' | 'http' {
  return config.tls.enabled ? 'https' : 'http'
}

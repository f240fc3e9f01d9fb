import { existsSync, readFileSync } from 'node:fs'
import { isAbsolute, join, resolve } from 'node:path'
import { parse as parseToml } from 'smol-toml'

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
  store: { file: { directory: string } }
  images: {
    maxSizeBytes: number
    allowQcow2AsRaw: boolean
    /** Reject content whose format differs from disk_format (unsafe content is always rejected). */
    requireFormatMatch: boolean
    /** Roles allowed to make an image public; Glance's default policy allows only admins. */
    publicizeRoles: string[]
  }
  log: { level: string; file: string }
  cache: { maxSizeBytes: number; prefetchIntervalSeconds: number }
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

type Kind = 'string' | 'integer' | 'boolean' | 'string[]'
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
  store: { file_directory: { kind: 'string' } },
  images: {
    max_size: { kind: 'integer', min: 1 },
    allow_qcow2_as_raw: { kind: 'boolean' },
    require_format_match: { kind: 'boolean' },
    publicize_roles: { kind: 'string[]' },
  },
  cache: {
    max_size: { kind: 'integer', min: 0 },
    prefetch_interval: { kind: 'integer', min: 0, max: 86400 },
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
    store: { file: { directory: path(get('store', 'file_directory', join(dataDir, 'images'))) } },
    images: {
      maxSizeBytes: get('images', 'max_size', 1024 ** 4),
      allowQcow2AsRaw: get('images', 'allow_qcow2_as_raw', false),
      requireFormatMatch: get('images', 'require_format_match', true),
      publicizeRoles: get('images', 'publicize_roles', ['admin']),
    },
    cache: {
      maxSizeBytes: get('cache', 'max_size', 10 * 1024 ** 3),
      prefetchIntervalSeconds: get('cache', 'prefetch_interval', 300),
    },
    log: {
      level: overrides.logLevel ?? env.IMAGE_LIBRARY_LOG_LEVEL ?? get('log', 'level', 'info'),
      file: path(get('log', 'file', join(dataDir, 'logs', 'image-library.log'))),
    },
  }
  if (config.server.publicHost === '')
    config.server.publicHost = defaultPublicHost(config.server.host)
  checkLevel(config.log.level)
  return deepFreeze(config)
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
    const known = settings[section]
    if (
      known === undefined ||
      typeof values !== 'object' ||
      values === null ||
      Array.isArray(values)
    ) {
      throw new ConfigError(
        `${file}: unknown section [${section}]; sections are ${Object.keys(settings).join(', ')}.`,
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
      return value
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

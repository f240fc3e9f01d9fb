import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { InvalidArgumentError } from 'commander'
import { parse as parseToml } from 'smol-toml'

/** The settings of `agent serve` that a `[agent]` table of the configuration file may give. */
export const serveSettings = {
  cacheDir: 'cache_dir',
  maxSize: 'max_size',
  socket: 'socket',
  name: 'name',
  reportInterval: 'report_interval',
  precacheRate: 'precache_rate',
  diskFormat: 'disk_format',
  metricsListen: 'metrics_listen',
  verifyInterval: 'verify_interval',
  hold: 'hold',
  logFile: 'log_file',
  logLevel: 'log_level',
} as const

export type ServeSetting = keyof typeof serveSettings

/** The `[agent]` keys that may be a TOML number as well as a string. */
const numericKeys: ReadonlySet<string> = new Set([
  'max_size',
  'report_interval',
  'precache_rate',
  'verify_interval',
  'hold',
])

/** The `[agent]` and `[auth]` keys that name files, which are relative to the file's directory. */
const pathKeys: ReadonlySet<string> = new Set(['cache_dir', 'socket', 'log_file', 'cacert'])

/** The `OS_*` variable for each key of the configuration file's `[auth]` table. */
const authVariables: Readonly<Record<string, string>> = {
  auth_url: 'OS_AUTH_URL',
  username: 'OS_USERNAME',
  user_id: 'OS_USER_ID',
  password: 'OS_PASSWORD',
  project_name: 'OS_PROJECT_NAME',
  project_id: 'OS_PROJECT_ID',
  user_domain_name: 'OS_USER_DOMAIN_NAME',
  project_domain_name: 'OS_PROJECT_DOMAIN_NAME',
  region_name: 'OS_REGION_NAME',
  interface: 'OS_INTERFACE',
  cacert: 'OS_CACERT',
  insecure: 'OS_INSECURE',
}

export interface AgentConfigFile {
  /** The `[agent]` settings as text, by their option name; paths are absolute. */
  agent: Partial<Record<ServeSetting, string>>
  /** The `[auth]` settings as `OS_*` variables. */
  auth: Record<string, string>
}

/**
 * Reads the TOML file of `agent serve --config`. Throws InvalidArgumentError (exit status 2)
 * when the file cannot be read or parsed, has a key other than those of `[agent]` and `[auth]`,
 * or has a value of the wrong type. Relative paths are resolved against the file's directory,
 * so that the file means the same whatever the working directory of the agent.
 */
export async function readAgentConfigFile(path: string): Promise<AgentConfigFile> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new InvalidArgumentError(`Cannot read the configuration file ${path}: ${error.message}`)
  })
  let parsed: Record<string, unknown>
  try {
    parsed = parseToml(text)
  } catch (error) {
    throw new InvalidArgumentError(`${path} is not valid TOML: ${(error as Error).message}`)
  }

  for (const key of Object.keys(parsed)) {
    if (key !== 'agent' && key !== 'auth') {
      throw new InvalidArgumentError(
        `${path}: unknown key '${key}'; the file has only [agent] and [auth] tables.`,
      )
    }
  }
  const directory = dirname(resolve(path))
  const settingByKey = new Map<string, ServeSetting>(
    Object.entries(serveSettings).map(([setting, key]) => [key, setting as ServeSetting]),
  )

  const agent: Partial<Record<ServeSetting, string>> = {}
  for (const [key, value] of Object.entries(table(parsed, 'agent', path))) {
    const setting = settingByKey.get(key)
    if (setting === undefined) {
      throw new InvalidArgumentError(
        `${path}: [agent] has no setting '${key}'. The settings are ` +
          `${Object.values(serveSettings).join(', ')}.`,
      )
    }
    agent[setting] = settingText(value, `[agent] ${key}`, path, numericKeys.has(key))
    if (pathKeys.has(key)) agent[setting] = resolve(directory, agent[setting])
  }

  const auth: Record<string, string> = {}
  for (const [key, value] of Object.entries(table(parsed, 'auth', path))) {
    const variable = authVariables[key]
    if (variable === undefined) {
      throw new InvalidArgumentError(`${path}: [auth] has no setting '${key}'.`)
    }
    const text =
      key === 'insecure' && typeof value === 'boolean'
        ? String(value)
        : settingText(value, `[auth] ${key}`, path, false)
    auth[variable] = pathKeys.has(key) ? resolve(directory, text) : text
  }
  return { agent, auth }
}

function table(parsed: Record<string, unknown>, name: string, path: string) {
  const value = parsed[name]
  if (value === undefined) return {}
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(`${path}: '${name}' must be a table, written [${name}].`)
  }
  return value as Record<string, unknown>
}

function settingText(value: unknown, name: string, path: string, numeric: boolean): string {
  if (typeof value === 'string' && value !== '') return value
  if (numeric && typeof value === 'number' && Number.isFinite(value)) return String(value)
  throw new InvalidArgumentError(
    `${path}: ${name} must be a non-empty string${numeric ? ' or a number' : ''}, ` +
      `got ${JSON.stringify(value) ?? String(value)}.`,
  )
}

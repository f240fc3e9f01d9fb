import { Option, type Command } from 'commander'
import { CliError, UsageError } from './errors.js'

/** Connection options as commander parses them from the flags that addConnectionOptions adds. */
export interface ConnectionOptions {
  osAuthUrl?: string
  osUsername?: string
  osUserId?: string
  osPassword?: string
  osProjectName?: string
  osProjectId?: string
  osUserDomainName?: string
  osUserDomainId?: string
  osProjectDomainName?: string
  osProjectDomainId?: string
  osDefaultDomain?: string
  osRegionName?: string
  osInterface?: string
  osCacert?: string
  insecure?: boolean
  debug?: boolean
}

/** A Keystone domain named by id or by name. */
export type DomainReference = { id: string } | { name: string }

export const endpointInterfaces = ['public', 'internal', 'admin'] as const
export type EndpointInterface = (typeof endpointInterfaces)[number]

/** Validated settings for password authentication against Keystone v3. */
export interface ConnectionConfig {
  /** The Keystone v3 base URL, ending in `/v3`. */
  authUrl: string
  user: { id: string } | { name: string; domain: DomainReference }
  password: string
  project: { id: string } | { name: string; domain: DomainReference }
  regionName: string | undefined
  endpointInterface: EndpointInterface
  caFile: string | undefined
  insecure: boolean
  debug: boolean
}

interface SettingSource {
  flag: string
  variable: string
  option: keyof ConnectionOptions
  metavar: string
}

const settings = {
  authUrl: { flag: '--os-auth-url', variable: 'OS_AUTH_URL', option: 'osAuthUrl', metavar: 'url' },
  username: {
    flag: '--os-username',
    variable: 'OS_USERNAME',
    option: 'osUsername',
    metavar: 'name',
  },
  userId: { flag: '--os-user-id', variable: 'OS_USER_ID', option: 'osUserId', metavar: 'id' },
  password: {
    flag: '--os-password',
    variable: 'OS_PASSWORD',
    option: 'osPassword',
    metavar: 'password',
  },
  projectName: {
    flag: '--os-project-name',
    variable: 'OS_PROJECT_NAME',
    option: 'osProjectName',
    metavar: 'name',
  },
  projectId: {
    flag: '--os-project-id',
    variable: 'OS_PROJECT_ID',
    option: 'osProjectId',
    metavar: 'id',
  },
  userDomainName: {
    flag: '--os-user-domain-name',
    variable: 'OS_USER_DOMAIN_NAME',
    option: 'osUserDomainName',
    metavar: 'name',
  },
  userDomainId: {
    flag: '--os-user-domain-id',
    variable: 'OS_USER_DOMAIN_ID',
    option: 'osUserDomainId',
    metavar: 'id',
  },
  projectDomainName: {
    flag: '--os-project-domain-name',
    variable: 'OS_PROJECT_DOMAIN_NAME',
    option: 'osProjectDomainName',
    metavar: 'name',
  },
  projectDomainId: {
    flag: '--os-project-domain-id',
    variable: 'OS_PROJECT_DOMAIN_ID',
    option: 'osProjectDomainId',
    metavar: 'id',
  },
  defaultDomain: {
    flag: '--os-default-domain',
    variable: 'OS_DEFAULT_DOMAIN',
    option: 'osDefaultDomain',
    metavar: 'id',
  },
  regionName: {
    flag: '--os-region-name',
    variable: 'OS_REGION_NAME',
    option: 'osRegionName',
    metavar: 'name',
  },
  endpointInterface: {
    flag: '--os-interface',
    variable: 'OS_INTERFACE',
    option: 'osInterface',
    metavar: 'interface',
  },
  caFile: { flag: '--os-cacert', variable: 'OS_CACERT', option: 'osCacert', metavar: 'file' },
} as const satisfies Record<string, SettingSource>

const optionDescriptions: Record<keyof typeof settings, string> = {
  authUrl: 'Keystone URL, with or without /v3',
  username: 'user name to authenticate as',
  userId: 'user id to authenticate as, instead of a user name',
  password: "the user's password",
  projectName: 'project to scope the token to, by name',
  projectId: 'project to scope the token to, by id',
  userDomainName: 'domain of the user, by name',
  userDomainId: 'domain of the user, by id',
  projectDomainName: 'domain of the project, by name',
  projectDomainId: 'domain of the project, by id',
  defaultDomain: 'domain id used when no user or project domain is set (default: default)',
  regionName: 'region whose image endpoint to use',
  endpointInterface:
    'endpoint interface in the catalog: public, internal or admin (default: public)',
  caFile: "PEM file of CA certificates that verify the servers' TLS certificates",
}

/**
 * Adds the `--os-*` connection flags, `--insecure` and `--debug` to a command. Each flag
 * overrides the `OS_*` variable of the same name. Leaf commands get them hidden from help, so
 * they also work after the command name.
 */
export function addConnectionOptions(command: Command, options: { hidden: boolean }): Command {
  for (const [key, source] of Object.entries(settings)) {
    const description = `${optionDescriptions[key as keyof typeof settings]} (env ${source.variable})`
    const option = new Option(`${source.flag} <${source.metavar}>`, description)
    command.addOption(options.hidden ? option.hideHelp() : option)
  }

  const insecure = new Option(
    '--insecure',
    "skip verification of the servers' TLS certificates (env OS_INSECURE)",
  )
  const debug = new Option('--debug', 'print each HTTP request and the stack of errors on stderr')
  command.addOption(options.hidden ? insecure.hideHelp() : insecure)
  command.addOption(options.hidden ? debug.hideHelp() : debug)
  return command
}

/**
 * Resolves the connection settings from the flags and the `OS_*` variables, flags first.
 * Throws a CliError that names every missing setting.
 */
export function resolveConnectionConfig(
  options: ConnectionOptions,
  env: NodeJS.ProcessEnv,
): ConnectionConfig {
  const read = (key: keyof typeof settings): string | undefined => {
    const fromFlag = options[settings[key].option]
    const value = typeof fromFlag === 'string' ? fromFlag : env[settings[key].variable]
    return value === undefined || value === '' ? undefined : value
  }

  checkAuthType(env)
  const missing = findMissingSettings(read)
  if (missing.length > 0) throw missingSettingsError(missing, env)

  const defaultDomain: DomainReference = { id: read('defaultDomain') ?? 'default' }
  return {
    authUrl: normalizeAuthUrl(read('authUrl') ?? ''),
    user: resolveUser(read, defaultDomain),
    password: read('password') ?? '',
    project: resolveProject(read, defaultDomain),
    regionName: read('regionName'),
    endpointInterface: parseEndpointInterface(read('endpointInterface') ?? 'public'),
    caFile: read('caFile'),
    insecure: options.insecure === true || isTrue(env['OS_INSECURE']),
    debug: options.debug === true,
  }
}

type SettingReader = (key: keyof typeof settings) => string | undefined

function checkAuthType(env: NodeJS.ProcessEnv): void {
  const authType = env['OS_AUTH_TYPE']
  if (authType === undefined || authType === '' || /^(v3)?password$/.test(authType)) return

  throw new CliError(
    `OS_AUTH_TYPE=${authType} is not supported: pcdctl authenticates with a password only. ` +
      'Unset OS_AUTH_TYPE or set it to "password".',
  )
}

function findMissingSettings(read: SettingReader): string[] {
  const missing: string[] = []
  if (read('authUrl') === undefined) missing.push('OS_AUTH_URL (--os-auth-url)')
  if (read('username') === undefined && read('userId') === undefined) {
    missing.push('OS_USERNAME (--os-username)')
  }
  if (read('password') === undefined) missing.push('OS_PASSWORD (--os-password)')
  if (read('projectName') === undefined && read('projectId') === undefined) {
    missing.push('OS_PROJECT_NAME or OS_PROJECT_ID (--os-project-name, --os-project-id)')
  }
  return missing
}

function missingSettingsError(missing: string[], env: NodeJS.ProcessEnv): CliError {
  const lines = [
    `Missing authentication settings: ${missing.join(', ')}.`,
    'Source your project\'s RC file first, for example ". admin-openrc.sh", or pass the flags.',
  ]
  if (env['OS_CLOUD'] !== undefined) {
    lines.push(`OS_CLOUD is set, but pcdctl does not read clouds.yaml.`)
  }
  return new CliError(lines.join('\n'))
}

function resolveUser(
  read: SettingReader,
  defaultDomain: DomainReference,
): ConnectionConfig['user'] {
  const userId = read('userId')
  const username = read('username')
  if (username === undefined && userId !== undefined) return { id: userId }

  return { name: username ?? '', domain: resolveDomain(read, 'user', defaultDomain) }
}

function resolveProject(
  read: SettingReader,
  defaultDomain: DomainReference,
): ConnectionConfig['project'] {
  const projectId = read('projectId')
  if (projectId !== undefined) return { id: projectId }

  return { name: read('projectName') ?? '', domain: resolveDomain(read, 'project', defaultDomain) }
}

function resolveDomain(
  read: SettingReader,
  owner: 'user' | 'project',
  defaultDomain: DomainReference,
): DomainReference {
  const id = read(owner === 'user' ? 'userDomainId' : 'projectDomainId')
  if (id !== undefined) return { id }

  const name = read(owner === 'user' ? 'userDomainName' : 'projectDomainName')
  return name !== undefined ? { name } : defaultDomain
}

/** Returns the Keystone v3 base URL for OS_AUTH_URL, appending `/v3` when it is missing. */
export function normalizeAuthUrl(authUrl: string): string {
  let url: URL
  try {
    url = new URL(authUrl)
  } catch {
    throw new CliError(`Invalid OS_AUTH_URL '${authUrl}': expected an http:// or https:// URL.`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(`Invalid OS_AUTH_URL '${authUrl}': expected an http:// or https:// URL.`)
  }

  const base = authUrl.replace(/[?#].*$/, '').replace(/\/+$/, '')
  if (/\/v2\.0$/.test(base)) {
    throw new CliError(
      `OS_AUTH_URL '${authUrl}' names the Keystone v2.0 API, which pcdctl does not support. ` +
        'Set it to the v3 URL.',
    )
  }
  return /\/v3$/.test(base) ? base : `${base}/v3`
}

function parseEndpointInterface(value: string): EndpointInterface {
  // keystoneauth also accepts the Keystone v2 names publicURL, internalURL and adminURL.
  const name = value.replace(/URL$/, '')
  const match = endpointInterfaces.find((candidate) => candidate === name)
  if (match === undefined) {
    throw new UsageError(
      `Invalid endpoint interface '${value}' (OS_INTERFACE or --os-interface): ` +
        `expected one of ${endpointInterfaces.join(', ')}.`,
    )
  }
  return match
}

function isTrue(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes|on)$/i.test(value)
}

import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import type { IdentityRepository } from '../db/identity-repository.js'
import type { Directory } from './directory.js'
import { defaultDomainId } from './model.js'
import { generatePassword } from './password.js'

export interface BootstrapResult {
  /** The new admin password, when this run created the admin user; otherwise `null`. */
  adminPassword: string | null
}

/**
 * Creates domain `Default`, project and user `admin` with a random password, and the roles
 * `admin`, `member` and `reader`, unless users exist already.
 */
export async function bootstrapIdentity(
  repo: IdentityRepository,
  directory: Directory,
): Promise<BootstrapResult> {
  if ((await repo.listUsers()).length > 0) return { adminPassword: null }

  await directory.ensureDomain(defaultDomainId, 'Default')
  const admin = await directory.ensureRole('admin')
  await directory.ensureRole('member')
  await directory.ensureRole('reader')
  const project = await directory.createProject({ name: 'admin', description: 'Bootstrap project' })

  const adminPassword = generatePassword()
  const user = await directory.createUser({
    name: 'admin',
    password: adminPassword,
    defaultProjectId: project.id,
  })
  await directory.assignRole(user.id, project.id, admin.id)
  return { adminPassword }
}

export interface RcSettings {
  authUrl: string
  username: string
  /** `null` keeps the password of an existing file. */
  password: string | null
  projectName: string
  region: string
  interface: 'public' | 'internal' | 'admin'
  caFile: string | null
}

/** Single-quotes a value for a POSIX shell. */
function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`
}

/**
 * Writes an RC file of `OS_*` variables, mode 0600. When `password` is `null`, keeps the one in
 * the existing file; without one, the file gets no password line.
 */
export async function writeRcFile(path: string, settings: RcSettings): Promise<void> {
  const password = settings.password ?? (await existingPassword(path))
  const lines = [
    '# Credentials for the openstack CLI and pcdctl: source this file, then run',
    '#   pcdctl image list',
    `export OS_AUTH_URL=${shellQuote(settings.authUrl)}`,
    `export OS_USERNAME=${shellQuote(settings.username)}`,
    ...(password === null ? [] : [`export OS_PASSWORD=${shellQuote(password)}`]),
    `export OS_PROJECT_NAME=${shellQuote(settings.projectName)}`,
    "export OS_USER_DOMAIN_NAME='Default'",
    "export OS_PROJECT_DOMAIN_NAME='Default'",
    `export OS_REGION_NAME=${shellQuote(settings.region)}`,
    'export OS_IDENTITY_API_VERSION=3',
    'export OS_IMAGE_API_VERSION=2',
    `export OS_INTERFACE=${settings.interface}`,
    ...(settings.caFile === null ? [] : [`export OS_CACERT=${shellQuote(settings.caFile)}`]),
  ]
  await writeFile(path, lines.join('\n') + '\n', { mode: 0o600 })
}

async function existingPassword(path: string): Promise<string | null> {
  if (!existsSync(path)) return null
  const text = await readFile(path, 'utf8')
  const match = /^export OS_PASSWORD='((?:[^']|'\\'')*)'$/m.exec(text)
  return match === null ? null : match[1]!.replaceAll(`'\\''`, "'")
}

/**
 * Replaces the password in an existing RC file, so that it keeps working after the password
 * changes. Returns `false` when there is no such file.
 */
export async function updateRcPassword(path: string, password: string): Promise<boolean> {
  if (!existsSync(path)) return false
  const text = await readFile(path, 'utf8')
  const line = `export OS_PASSWORD=${shellQuote(password)}`
  const updated = /^export OS_PASSWORD=.*$/m.test(text)
    ? text.replace(/^export OS_PASSWORD=.*$/m, () => line)
    : text.replace(/^(export OS_USERNAME=.*)$/m, (match) => `${match}\n${line}`)
  await writeFile(path, updated, { mode: 0o600 })
  return true
}

/** The settings of an RC file for the `openstack` CLI and pcdctl. */
export interface RcFileSettings {
  /** The identity API's URL, ending in `/v3`. */
  authUrl: string
  userDomainName: string
  username: string
  projectDomainName: string
  projectName: string
  projectId: string
  /** `null` when the catalog names no region. */
  regionName: string | null
  endpointInterface: 'public' | 'internal' | 'admin'
}

/** The value in place of the password, which the user replaces with the real one. */
export const passwordPlaceholder = '<password>'

/** Single-quotes a value for a POSIX shell. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`
}

/**
 * Builds the text of `openstack-rc.sh`. The password is never in it: OS_PASSWORD contains
 * {@link passwordPlaceholder}, and a comment asks the user to replace it.
 */
export function buildRcFile(settings: RcFileSettings): string {
  const project = commentText(settings.projectName)
  const lines = [
    '#!/bin/sh',
    `# OpenStack credentials for project ${project}: source this file, then run`,
    '#   pcdctl image list',
    `# Replace ${passwordPlaceholder} below with your password before you source it.`,
    `export OS_AUTH_URL=${shellQuote(settings.authUrl)}`,
    'export OS_IDENTITY_API_VERSION=3',
    'export OS_IMAGE_API_VERSION=2',
    `export OS_USER_DOMAIN_NAME=${shellQuote(settings.userDomainName)}`,
    `export OS_USERNAME=${shellQuote(settings.username)}`,
    `export OS_PASSWORD=${shellQuote(passwordPlaceholder)}`,
    `export OS_PROJECT_DOMAIN_NAME=${shellQuote(settings.projectDomainName)}`,
    `export OS_PROJECT_NAME=${shellQuote(settings.projectName)}`,
    `export OS_PROJECT_ID=${shellQuote(settings.projectId)}`,
    ...(settings.regionName === null
      ? []
      : [`export OS_REGION_NAME=${shellQuote(settings.regionName)}`]),
    `export OS_INTERFACE=${settings.endpointInterface}`,
    '# With the service CA certificate, set OS_CACERT and drop --insecure from commands:',
    "# export OS_CACERT='/path/to/ca.pem'",
  ]
  return lines.join('\n') + '\n'
}

/**
 * Replaces control characters with `?` for a comment line. A project name may contain a line
 * break, and the text after it would run as a command when the file is sourced.
 */
function commentText(value: string): string {
  return value.replace(/\p{Cc}/gu, '?')
}

export interface ImageCreateCommandOptions {
  diskFormat: string
  visibility: 'public' | 'private' | 'shared' | 'community'
  file: string
  name: string
}

/** Builds the `pcdctl image create` command line that uploads one file. */
export function buildImageCreateCommand(options: ImageCreateCommandOptions): string {
  const words = ['pcdctl', 'image', 'create', '--insecure', '--container-format', 'bare']
  words.push('--disk-format', options.diskFormat, `--${options.visibility}`)
  words.push('--file', options.file, options.name)
  return words.map(quoteIfNeeded).join(' ')
}

function quoteIfNeeded(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : shellQuote(word)
}

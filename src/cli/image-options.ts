import { Option, type Command } from 'commander'

/** Image visibilities that the Image API v2 accepts. */
export const visibilities = ['public', 'private', 'shared', 'community'] as const
export type Visibility = (typeof visibilities)[number]

/** Container formats that the openstack CLI 6.0 accepts for images. */
export const containerFormats = ['ami', 'ari', 'aki', 'bare', 'docker', 'ova', 'ovf']

/** Disk formats that the openstack CLI 6.0 accepts for images. */
export const diskFormats = [
  'ami',
  'ari',
  'aki',
  'vhd',
  'vmdk',
  'raw',
  'qcow2',
  'vhdx',
  'vdi',
  'iso',
  'ploop',
]

/**
 * Adds the mutually exclusive `--public`, `--private`, `--shared` and `--community` flags, with
 * help text from `describe` (for example "list only public images").
 */
export function addVisibilityOptions(
  command: Command,
  describe: (visibility: string) => string,
  extra: readonly string[] = [],
): Command {
  const all = [...visibilities, ...extra]
  for (const visibility of all) {
    const others = all.filter((other) => other !== visibility)
    command.addOption(new Option(`--${visibility}`, describe(visibility)).conflicts(others))
  }
  return command
}

/** Returns the visibility that one of the flags of addVisibilityOptions selected. */
export function readVisibility(
  options: Record<string, unknown>,
  extra: readonly string[] = [],
): string | undefined {
  return [...visibilities, ...extra].find((visibility) => options[visibility] === true)
}

/** Adds the mutually exclusive `--protected` and `--unprotected` flags. */
export function addProtectionOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--protected', 'prevent the image from being deleted').conflicts('unprotected'),
    )
    .addOption(new Option('--unprotected', 'allow the image to be deleted').conflicts('protected'))
}

/** Returns true for --protected, false for --unprotected, undefined for neither. */
export function readProtected(options: Record<string, unknown>): boolean | undefined {
  if (options['protected'] === true) return true
  if (options['unprotected'] === true) return false
  return undefined
}

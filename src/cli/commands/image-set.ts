import { Option, type Command } from 'commander'
import {
  parseKeyValue,
  parseNonNegativeInteger,
  setCommandAction,
  type CliIo,
  type CommandRuntime,
} from '../command-runtime.js'
import { addConnectionOptions } from '../connection-config.js'
import {
  memberStatuses,
  type ImageClient,
  type ImageRecord,
  type MemberStatus,
  type PatchOperation,
} from '../image-client.js'
import { findImage, findProjectId } from '../image-lookup.js'
import {
  addProtectionOptions,
  addVisibilityOptions,
  containerFormats,
  diskFormats,
  readProtected,
  readVisibility,
} from '../image-options.js'
import { appendValue } from '../output.js'
import type { JsonValue } from '../python-format.js'

/** The options of `image set` as commander parses them. */
export interface SetOptions {
  name?: string
  minDisk?: number
  minRam?: number
  containerFormat?: string
  diskFormat?: string
  property?: Record<string, string>
  tag?: string[]
  architecture?: string
  instanceId?: string
  kernelId?: string
  osDistro?: string
  osVersion?: string
  ramdiskId?: string
  deactivate?: boolean
  activate?: boolean
  project?: string
  projectDomain?: string
  accept?: boolean
  reject?: boolean
  pending?: boolean
  hidden?: boolean
  unhidden?: boolean
}

// Flags that set a well-known extra property, as in the openstack CLI.
const propertyShortcuts = [
  ['architecture', 'architecture'],
  ['instanceId', 'instance_uuid'],
  ['kernelId', 'kernel_id'],
  ['osDistro', 'os_distro'],
  ['osVersion', 'os_version'],
  ['ramdiskId', 'ramdisk_id'],
] as const

const example = `
Examples:
  pcdctl image set my-image --name ubuntu-24.04 --property os_distro=ubuntu --tag lts
  pcdctl image set 6f1d1d2c-3a57-4b8e-9c0b-5d2f3c1a9e10 --accept`

/** Adds `image set`: change an image's fields, properties, tags or membership status. */
export function defineImageSetCommand(image: Command, io: CliIo, result: { exitCode: number }) {
  const command = image
    .command('set')
    .description("Change an image's fields, properties and tags, or accept a shared image")
    .argument('<image>', 'image to change, by name or ID')
  addFieldOptions(command)
  addPropertyOptions(command)
  addMembershipOptions(command)
  addConnectionOptions(command, { hidden: true })
  command.addHelpText('after', example)
  setCommandAction(command, io, result, runImageSet)
  return command
}

function addFieldOptions(command: Command): void {
  command
    .option('--name <name>', 'new name of the image')
    .option(
      '--min-disk <gb>',
      'minimum disk size to boot the image, in GiB',
      parseNonNegativeInteger,
    )
    .option('--min-ram <mb>', 'minimum RAM to boot the image, in MiB', parseNonNegativeInteger)
    .addOption(
      new Option('--container-format <format>', 'container format of the image').choices(
        containerFormats,
      ),
    )
    .addOption(
      new Option('--disk-format <format>', 'disk format of the image').choices(diskFormats),
    )
  addProtectionOptions(command)
  addVisibilityOptions(command, (visibility) => `set the image's visibility to ${visibility}`)
  command
    .addOption(new Option('--deactivate', 'deactivate the image').conflicts('activate'))
    .addOption(new Option('--activate', 'reactivate a deactivated image').conflicts('deactivate'))
    .addOption(new Option('--hidden', 'hide the image from default listings').conflicts('unhidden'))
    .addOption(new Option('--unhidden', 'show the image in default listings').conflicts('hidden'))
}

function addPropertyOptions(command: Command): void {
  command
    .option('--property <key=value>', 'set an extra property; repeat for more', parseKeyValue)
    .option('--tag <tag>', 'add a tag; repeat for more', appendValue)
    .option('--architecture <architecture>', 'set the architecture property, such as x86_64')
    .option('--instance-id <id>', 'set the instance_uuid property')
    .option('--kernel-id <id>', 'set the kernel_id property')
    .option('--os-distro <distro>', 'set the os_distro property, such as ubuntu')
    .option('--os-version <version>', 'set the os_version property')
    .option('--ramdisk-id <id>', 'set the ramdisk_id property')
}

function addMembershipOptions(command: Command): void {
  command
    .option(
      '--project <project>',
      'with --accept, --reject or --pending: the member project (default: your project); ' +
        'otherwise: the new owner project. By name or ID',
    )
    .option('--project-domain <domain>', 'domain of --project, by name or ID')
  for (const status of memberStatuses) {
    const others = memberStatuses.filter((other) => other !== status).map(memberFlag)
    const description = `set the membership status of a shared image to ${status}`
    command.addOption(new Option(`--${memberFlag(status)}`, description).conflicts(others))
  }
}

const memberFlags: Record<MemberStatus, string> = {
  accepted: 'accept',
  rejected: 'reject',
  pending: 'pending',
}

function memberFlag(status: MemberStatus): string {
  return memberFlags[status]
}

async function runImageSet(runtime: CommandRuntime, command: Command): Promise<number> {
  const [nameOrId] = command.processedArgs as [string]
  const options = runtime.options as unknown as SetOptions
  const images = await runtime.images()
  const image = await findImage(images, nameOrId)

  const memberStatus = readMemberStatus(options)
  const project =
    options.project === undefined
      ? undefined
      : await findProjectId(await runtime.session(), options.project, options.projectDomain)

  if (memberStatus !== undefined) {
    await images.updateMemberStatus(image.id, project ?? images.projectId, memberStatus)
  }
  await changeActivation(images, image.id, options)

  const owner = memberStatus === undefined ? project : undefined
  const operations = buildSetOperations(image, options, runtime.options, owner)
  if (operations.length > 0) await images.updateImage(image.id, operations)
  return 0
}

function readMemberStatus(options: SetOptions): MemberStatus | undefined {
  if (options.accept === true) return 'accepted'
  if (options.reject === true) return 'rejected'
  if (options.pending === true) return 'pending'
  return undefined
}

async function changeActivation(images: ImageClient, imageId: string, options: SetOptions) {
  if (options.deactivate === true) await images.changeActivation(imageId, 'deactivate')
  if (options.activate === true) await images.changeActivation(imageId, 'reactivate')
}

/**
 * Builds the JSON-patch for `image set`: `replace` for core fields and for properties the image
 * has, `add` for new properties, and one `replace` of the whole tag list when tags are added.
 */
export function buildSetOperations(
  image: ImageRecord,
  options: SetOptions,
  flags: Record<string, unknown>,
  owner: string | undefined,
): PatchOperation[] {
  const operations: PatchOperation[] = []
  const replace = (field: string, value: JsonValue | undefined) => {
    if (value !== undefined) operations.push({ op: 'replace', path: toPointer(field), value })
  }

  replace('name', options.name)
  replace('min_disk', options.minDisk)
  replace('min_ram', options.minRam)
  replace('container_format', options.containerFormat)
  replace('disk_format', options.diskFormat)
  replace('visibility', readVisibility(flags))
  replace('protected', readProtected(flags))
  replace('os_hidden', readHidden(options))
  replace('owner', owner)

  for (const [key, value] of Object.entries(collectProperties(options))) {
    const op = image[key] === undefined ? 'add' : 'replace'
    operations.push({ op, path: toPointer(key), value })
  }
  operations.push(...buildTagOperations(image, options.tag ?? []))
  return operations
}

function readHidden(options: SetOptions): boolean | undefined {
  if (options.hidden === true) return true
  if (options.unhidden === true) return false
  return undefined
}

function collectProperties(options: SetOptions): Record<string, string> {
  const properties = { ...options.property }
  for (const [flag, property] of propertyShortcuts) {
    const value = options[flag]
    if (value !== undefined) properties[property] = value
  }
  return properties
}

function buildTagOperations(image: ImageRecord, added: readonly string[]): PatchOperation[] {
  const existing = Array.isArray(image['tags']) ? image['tags'].map(String) : []
  const merged = [...new Set([...existing, ...added])]
  if (merged.length === existing.length) return []
  return [{ op: 'replace', path: '/tags', value: merged }]
}

/** Encodes a field name as a JSON pointer (RFC 6901), escaping `~` and `/`. */
export function toPointer(field: string): string {
  return '/' + field.replace(/~/g, '~0').replace(/\//g, '~1')
}

import { InvalidInputError } from './errors.js'

export const imageStatuses = [
  'queued',
  'saving',
  'uploading',
  'importing',
  'active',
  'deactivated',
  'killed',
  'deleted',
  'pending_delete',
] as const
export type ImageStatus = (typeof imageStatuses)[number]

export const visibilities = ['public', 'private', 'shared', 'community'] as const
export type Visibility = (typeof visibilities)[number]

export const diskFormats = [
  'ami',
  'ari',
  'aki',
  'vhd',
  'vhdx',
  'vmdk',
  'raw',
  'qcow2',
  'vdi',
  'iso',
  'ploop',
] as const
export type DiskFormat = (typeof diskFormats)[number]

export const containerFormats = [
  'ami',
  'ari',
  'aki',
  'bare',
  'ovf',
  'ova',
  'docker',
  'compressed',
] as const
export type ContainerFormat = (typeof containerFormats)[number]

export const memberStatuses = ['pending', 'accepted', 'rejected'] as const
export type MemberStatus = (typeof memberStatuses)[number]

/** The hash algorithm of `osHashValue`; Glance's default and the only one we compute. */
export const osHashAlgo = 'sha512'

/**
 * One image record. Every field a client can read, plus where the data lives. Fields that Glance
 * shows as `null` while unset are `null` here too.
 */
export interface Image {
  id: string
  name: string | null
  status: ImageStatus
  visibility: Visibility
  protected: boolean
  osHidden: boolean
  checksum: string | null
  osHashAlgo: string | null
  osHashValue: string | null
  size: number | null
  virtualSize: number | null
  diskFormat: DiskFormat | null
  containerFormat: ContainerFormat | null
  minDisk: number
  minRam: number
  owner: string | null
  createdAt: Date
  updatedAt: Date
  tags: string[]
  /** Free-form properties; values are strings, as Glance stores them. */
  properties: Record<string, string>
  /**
   * Where the image data lives, in the order clients see them; empty until data arrives. An
   * image in several stores has one location in each.
   */
  locations: ImageLocation[]
}

/** One copy of the image data. */
export interface ImageLocation {
  /** The id of the store holding the data. */
  store: string
  /** The blob key in a store of this service; `null` for data at an external URL. */
  key: string | null
  /** The external URL of data outside this service's stores; `null` for our own stores. */
  url: string | null
  /** Free-form metadata that clients may set through the locations API. */
  metadata: Record<string, unknown>
  /** The host whose own disk has this copy; absent for a store that every host reaches. */
  host?: string
}

export interface ImageMember {
  imageId: string
  memberId: string
  status: MemberStatus
  createdAt: Date
  updatedAt: Date
}

function validateOneOf<T extends string>(values: readonly T[], field: string, value: unknown): T {
  if (typeof value === 'string' && (values as readonly string[]).includes(value)) {
    return value as T
  }
  throw new InvalidInputError(
    `Invalid value '${String(value)}' for ${field}: expected one of ${values.join(', ')}.`,
  )
}

export function validateVisibility(value: unknown): Visibility {
  return validateOneOf(visibilities, 'visibility', value)
}

export function validateDiskFormat(value: unknown): DiskFormat {
  return validateOneOf(diskFormats, 'disk_format', value)
}

export function validateContainerFormat(value: unknown): ContainerFormat {
  return validateOneOf(containerFormats, 'container_format', value)
}

export function validateMemberStatus(value: unknown): MemberStatus {
  return validateOneOf(memberStatuses, 'status', value)
}

export function validateImageStatus(value: unknown): ImageStatus {
  return validateOneOf(imageStatuses, 'status', value)
}

/** Maximum lengths Glance enforces on strings it stores. */
export const limits = {
  nameLength: 255,
  tagLength: 255,
  propertyNameLength: 255,
  propertyValueLength: 65535,
  maxTags: 128,
  maxProperties: 128,
} as const

import { DictCell, ListCell, compareCodePoints, type CellValue } from './cells.js'
import type { ImageMember, ImageRecord } from './image-client.js'
import type { ListResult, ShowResult } from './output.js'
import type { JsonValue } from './python-format.js'

// The image fields that the openstack CLI shows as their own rows. Every other field, including
// os_hash_algo, os_hash_value and os_hidden, goes into `properties`, as openstack shows them.
const coreImageFields = new Set([
  'checksum',
  'container_format',
  'created_at',
  'disk_format',
  'file',
  'id',
  'min_disk',
  'min_ram',
  'name',
  'owner',
  'protected',
  'schema',
  'size',
  'status',
  'updated_at',
  'virtual_size',
  'visibility',
])

/**
 * Builds the Field/Value rows of `image show` and `image create`: the core fields that are not
 * null, `tags`, and the extra properties in one `properties` field, sorted by field name.
 */
export function toImageShowResult(image: ImageRecord): ShowResult {
  const fields: Array<[string, CellValue]> = []
  const properties: Record<string, JsonValue> = {}

  for (const [name, value] of Object.entries(image)) {
    if (value === null || value === undefined || name === 'self' || name === 'tags') continue
    if (coreImageFields.has(name)) fields.push([name, value])
    else properties[name] = value
  }
  fields.push(['tags', new ListCell(toList(image['tags']))])
  if (Object.keys(properties).length > 0) fields.push(['properties', new DictCell(properties)])

  fields.sort(([left], [right]) => compareCodePoints(left, right))
  return { fields }
}

/** The columns of `image list`, and of `image list --long`. */
export const imageListColumns = ['ID', 'Name', 'Status'] as const
export const imageLongListColumns = [
  'ID',
  'Name',
  'Disk Format',
  'Container Format',
  'Size',
  'Checksum',
  'Status',
  'Visibility',
  'Protected',
  'Project',
  'Tags',
] as const

/** Builds the rows of `image list`. */
export function toImageListResult(images: readonly ImageRecord[], long: boolean): ListResult {
  if (!long) {
    const rows = images.map((image) => [image.id, image.name ?? null, image.status ?? null])
    return { columns: imageListColumns, rows }
  }

  const rows = images.map((image) => [
    image.id,
    image.name ?? null,
    image['disk_format'] ?? null,
    image['container_format'] ?? null,
    image['size'] ?? null,
    image['checksum'] ?? null,
    image.status ?? null,
    image['visibility'] ?? null,
    image['protected'] ?? null,
    image['owner'] ?? null,
    new ListCell(toList(image['tags'])),
  ])
  return { columns: imageLongListColumns, rows }
}

/** Builds the Field/Value rows of `image add project`: every field of the member, sorted. */
export function toMemberShowResult(member: ImageMember): ShowResult {
  const fields = Object.entries(member)
    .filter((entry): entry is [string, JsonValue] => entry[1] !== undefined)
    .sort(([left], [right]) => compareCodePoints(left, right))
  return { fields }
}

/** Builds the rows of `image member list`. */
export function toMemberListResult(members: readonly ImageMember[]): ListResult {
  return {
    columns: ['Image ID', 'Member ID', 'Status'],
    rows: members.map((member) => [member.image_id, member.member_id, member.status]),
  }
}

function toList(value: JsonValue | undefined): JsonValue[] {
  return Array.isArray(value) ? value : []
}

/**
 * Formats a size in bytes with decimal units, as `image show --human-readable` does in the
 * openstack CLI: 1500000 becomes `1.5M`.
 */
export function formatHumanSize(size: number | null | undefined): string {
  const suffixes = ['', 'K', 'M', 'G', 'T', 'P', 'E', 'Z']
  let value = size ?? 0
  let index = 0
  while (value >= 1000 && index < suffixes.length - 1) {
    value /= 1000
    index++
  }
  const stripped = value.toFixed(1).replace(/0+$/, '').replace(/\.$/, '')
  return `${stripped}${suffixes[index]}`
}

/** An image as the Image API v2 returns it: Glance's field names, plus free-form properties. */
export type WireImage = Record<string, unknown> & {
  id: string
  name: string | null
  status: string
  visibility: 'public' | 'private' | 'shared' | 'community'
  protected: boolean
  owner: string | null
  size: number | null
  virtual_size: number | null
  disk_format: string | null
  container_format: string | null
  min_disk: number
  min_ram: number
  tags: string[]
  created_at: string
  updated_at: string
}

/** Fields of the image schema; every other key of an image is a free-form property. */
const baseFields = new Set([
  'id',
  'name',
  'status',
  'visibility',
  'protected',
  'os_hidden',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'size',
  'virtual_size',
  'disk_format',
  'container_format',
  'min_disk',
  'min_ram',
  'owner',
  'created_at',
  'updated_at',
  'tags',
  'self',
  'file',
  'schema',
  'stores',
  'locations',
  'direct_url',
])

/** Returns the free-form properties of an image, as strings, sorted by key. */
export function propertiesOf(image: Record<string, unknown>): [string, string][] {
  return Object.entries(image)
    .filter(([key]) => !baseFields.has(key))
    .map(([key, value]): [string, string] => [
      key,
      typeof value === 'string' ? value : JSON.stringify(value),
    ])
    .sort(([a], [b]) => a.localeCompare(b))
}

/** True when the image is a snapshot of a server, which Nova marks with `image_type`. */
export function isSnapshot(image: Record<string, unknown>): boolean {
  return image.image_type === 'snapshot'
}

/** The fields of the edit form. */
export interface ImageEdits {
  name: string
  visibility: WireImage['visibility']
  protected: boolean
  minDisk: number
  minRam: number
  tags: string[]
  properties: [string, string][]
}

export interface PatchOperation {
  op: 'add' | 'replace' | 'remove'
  path: string
  value?: unknown
}

/** Escapes a property key for a JSON pointer (RFC 6901). */
function pointerOf(key: string): string {
  return `/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`
}

/**
 * Builds the JSON patch (media type `application/openstack-images-v2.1-json-patch`) that
 * turns `image` into the edited fields. Only what changed is sent, so a field that another
 * client changed meanwhile is left as that client set it.
 */
export function buildImagePatch(image: WireImage, edits: ImageEdits): PatchOperation[] {
  const operations: PatchOperation[] = []
  const replace = (path: string, before: unknown, after: unknown) => {
    if (before !== after) operations.push({ op: 'replace', path, value: after })
  }
  // The form shows a missing name as an empty field, and saving other changes keeps it missing.
  replace('/name', image.name ?? '', edits.name)
  replace('/visibility', image.visibility, edits.visibility)
  replace('/protected', image.protected, edits.protected)
  replace('/min_disk', image.min_disk, edits.minDisk)
  replace('/min_ram', image.min_ram, edits.minRam)
  if (JSON.stringify(image.tags) !== JSON.stringify(edits.tags)) {
    operations.push({ op: 'replace', path: '/tags', value: edits.tags })
  }

  const before = new Map(propertiesOf(image))
  const after = new Map(edits.properties)
  for (const [key, value] of after) {
    if (!before.has(key)) operations.push({ op: 'add', path: pointerOf(key), value })
    else if (before.get(key) !== value) {
      operations.push({ op: 'replace', path: pointerOf(key), value })
    }
  }
  for (const key of before.keys()) {
    if (!after.has(key)) operations.push({ op: 'remove', path: pointerOf(key) })
  }
  return operations
}

/** Returns the tags as the edit form shows them: joined with commas. */
export function formatTags(tags: string[]): string {
  return tags.join(', ')
}

/**
 * Returns the tags of the edit form's text. A tag may contain a comma or start with a space,
 * which the text cannot express, so untouched text keeps the image's tags as they are.
 */
export function editedTags(original: string[], text: string): string[] {
  return text === formatTags(original) ? original : parseTags(text)
}

/** Splits a comma-separated list of tags, dropping blanks and duplicates. */
export function parseTags(text: string): string[] {
  const tags = text
    .split(',')
    .map((tag) => tag.trim())
    .filter((tag) => tag !== '')
  return [...new Set(tags)]
}

import { ConflictError, ForbiddenError, InvalidInputError, ServiceError } from './errors.js'
import type { Image, ImageLocation } from './image.js'
import type { PatchOperation } from './image-service.js'
import type { ImageHashes } from './ports.js'

/** Access to external data URLs under the operator's URL policy. */
export interface UrlSource {
  /** The store id of external locations. */
  readonly storeId: string
  /** Throws a 400 for a URL that the policy does not allow. */
  check(url: string): void
  /** Returns the data size at the URL, or `null` when the server does not report it. */
  size(url: string): Promise<number | null>
}

/** Hashes a client may vouch for when it adds a location. */
export type ValidationData = ImageHashes

export interface LocationEdit {
  locations: ImageLocation[]
  /** For a queued image that gets its first location: the data fields it becomes active with. */
  activation: (ValidationData & { size: number }) | null
  /** Hashes to record on an active image that had none. */
  hashes: ValidationData | null
  /** Locations that the edit removed; their stored copies are deleted after the update. */
  removed: ImageLocation[]
}

/** Locations an image may have, as Glance's default image_location_quota. */
const maxLocations = 10

const hashLengths: Record<string, number> = {
  md5: 32,
  sha1: 40,
  sha224: 56,
  sha256: 64,
  sha384: 96,
  sha512: 128,
}

/**
 * Applies the `/locations` operations of a JSON-patch, as Glance does when its
 * `show_multiple_locations` option is on: add a URL (a queued image becomes active), change
 * metadata with a replace that keeps every URL, remove any location but the last.
 */
export async function editLocations(
  image: Image,
  operations: PatchOperation[],
  urls: UrlSource | null,
  urlOf: (location: ImageLocation) => string,
  isAdmin: boolean,
): Promise<LocationEdit> {
  const edit: LocationEdit = {
    locations: image.locations.map((location) => ({ ...location })),
    activation: null,
    hashes: null,
    removed: [],
  }
  for (const operation of operations) {
    const [, index, ...rest] = operation.path
    if (rest.length > 0) {
      throw new InvalidInputError(
        `Invalid path /${operation.path.join('/')}: use /locations or /locations/<index>.`,
      )
    }
    if (operation.op === 'add') {
      if (index === undefined) {
        throw new InvalidInputError('Add a location at /locations/- or /locations/<index>.')
      }
      await addLocation(image, edit, index, operation.value, urls, urlOf)
    } else if (operation.op === 'replace') {
      if (index !== undefined) {
        throw new InvalidInputError('Replace the whole list at /locations, not one entry.')
      }
      await replaceLocations(image, edit, operation.value, urls, urlOf)
    } else {
      removeLocation(edit, index, isAdmin)
    }
  }
  if (edit.locations.length > maxLocations) {
    throw new ServiceError(
      'QUOTA_EXCEEDED',
      `An image may have at most ${maxLocations} locations; remove one before adding another.`,
    )
  }
  return edit
}

async function addLocation(
  image: Image,
  edit: LocationEdit,
  index: string,
  value: unknown,
  urls: UrlSource | null,
  urlOf: (location: ImageLocation) => string,
): Promise<void> {
  if (image.status !== 'queued' && image.status !== 'active') {
    throw new ConflictError(
      `Image ${image.id} is ${image.status}; locations can be added to queued or active images only.`,
      'IMAGE_STATE_CONFLICT',
    )
  }
  const { url, metadata, validation } = parseLocation(value)
  checkUrl(url, urls)
  if (edit.locations.some((location) => urlOf(location) === url)) {
    throw new InvalidInputError(`Image ${image.id} already has the location ${url}.`)
  }
  const at = index === '-' ? edit.locations.length : Number(index)
  if (!Number.isInteger(at) || at < 0 || at > edit.locations.length) {
    throw new InvalidInputError(`Location index ${index} is outside 0-${edit.locations.length}.`)
  }

  const known =
    edit.activation !== null
      ? hashesOf(edit.activation)
      : image.status === 'active'
        ? hashesOf(image)
        : null
  if (known !== null && validation === null) {
    throw new InvalidInputError(
      `Image ${image.id} has a checksum, so a new location needs validation_data with the same checksum and os_hash_value.`,
    )
  }
  if (known !== null && validation !== null) checkMatch(image.id, known, validation)
  // A mismatch with known hashes is a conflict (409), so it is checked before the length (400).
  if (validation !== null) checkHashLength(validation)
  const size = await urls!.size(url)
  if (size === null) {
    throw new InvalidInputError(
      `The server of ${url} did not report the data size (Content-Length); use a server that does.`,
    )
  }
  const expected = edit.activation?.size ?? image.size
  if (expected !== null && size !== expected) {
    throw new InvalidInputError(
      `The data at ${url} is ${size} bytes, but the image has ${expected}; a location must hold the same data.`,
    )
  }
  if (image.status === 'queued' && edit.activation === null) {
    edit.activation = { size, ...(validation ?? noHashes) }
  } else if (validation !== null && image.checksum === null && image.osHashValue === null) {
    edit.hashes = validation
  }
  edit.locations.splice(at, 0, { store: urls!.storeId, key: null, url, metadata })
}

async function replaceLocations(
  image: Image,
  edit: LocationEdit,
  value: unknown,
  urls: UrlSource | null,
  urlOf: (location: ImageLocation) => string,
): Promise<void> {
  if (!Array.isArray(value)) {
    throw new InvalidInputError('The value of a /locations replace must be a list of locations.')
  }
  if (edit.locations.length === 0) {
    for (const item of value) await addLocation(image, edit, '-', item, urls, urlOf)
    return
  }
  const requested = value.map(parseLocation)
  const current = edit.locations.map(urlOf)
  const sameUrls =
    requested.length === current.length && requested.every(({ url }) => current.includes(url))
  if (!sameUrls) {
    throw new InvalidInputError(
      'A replace of /locations may reorder locations and change their metadata, but not add or remove URLs; use add and remove for that.',
    )
  }
  edit.locations = requested.map(({ url, metadata }) => {
    const location = edit.locations[current.indexOf(url)]!
    return { ...location, metadata }
  })
}

function removeLocation(edit: LocationEdit, index: string | undefined, isAdmin: boolean): void {
  const at = Number(index)
  if (index === undefined || !Number.isInteger(at) || at < 0 || at >= edit.locations.length) {
    throw new InvalidInputError(
      `Location index ${index ?? '(none)'} does not exist; the image has ${edit.locations.length}.`,
    )
  }
  if (edit.locations.length === 1) {
    throw new ForbiddenError(
      'Cannot remove the last location of an image; delete or deactivate the image instead.',
    )
  }
  if (edit.locations[at]!.key !== null && !isAdmin) {
    throw new ForbiddenError(
      'Only an admin may remove a copy that this service stores; use DELETE /v2/stores/{store}/{image}.',
    )
  }
  edit.removed.push(...edit.locations.splice(at, 1))
}

function parseLocation(value: unknown): {
  url: string
  metadata: Record<string, unknown>
  validation: ValidationData | null
} {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidInputError('A location must be an object: {"url": ..., "metadata": {...}}.')
  }
  const { url, metadata = {}, validation_data: validation } = value as Record<string, unknown>
  if (typeof url !== 'string' || url === '') {
    throw new InvalidInputError('The location has no url: add {"url": "https://..."}.')
  }
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new InvalidInputError('The metadata of a location must be an object.')
  }
  return {
    url,
    metadata: metadata as Record<string, unknown>,
    validation: validation === undefined ? null : parseValidation(validation),
  }
}

function parseValidation(value: unknown): ValidationData {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidInputError('validation_data must be an object of checksum and hashes.')
  }
  const {
    checksum = null,
    os_hash_algo = null,
    os_hash_value = null,
  } = value as Record<string, unknown>
  if (checksum !== null && !(typeof checksum === 'string' && /^[0-9a-f]{32}$/.test(checksum))) {
    throw new InvalidInputError('validation_data.checksum must be 32 lowercase hex digits (MD5).')
  }
  if ((os_hash_algo === null) !== (os_hash_value === null)) {
    throw new InvalidInputError('Give os_hash_algo and os_hash_value together.')
  }
  if (os_hash_algo !== null) {
    const length = typeof os_hash_algo === 'string' ? hashLengths[os_hash_algo] : undefined
    if (length === undefined) {
      throw new InvalidInputError(
        `os_hash_algo must be one of ${Object.keys(hashLengths).join(', ')}.`,
      )
    }
    if (typeof os_hash_value !== 'string' || !/^[0-9a-f]+$/.test(os_hash_value)) {
      throw new InvalidInputError('os_hash_value must be lowercase hex digits.')
    }
  }
  return {
    checksum: checksum as string | null,
    osHashAlgo: os_hash_algo as string | null,
    osHashValue: os_hash_value as string | null,
  }
}

function checkHashLength({ osHashAlgo, osHashValue }: ValidationData): void {
  if (osHashAlgo === null || osHashValue === null) return
  const length = hashLengths[osHashAlgo]!
  if (osHashValue.length !== length) {
    throw new InvalidInputError(`An ${osHashAlgo} os_hash_value has ${length} hex digits.`)
  }
}

function checkUrl(url: string, urls: UrlSource | null): void {
  let scheme: string
  try {
    scheme = new URL(url).protocol
  } catch {
    throw new InvalidInputError(`Location ${url} is not a valid URL.`)
  }
  if ((scheme !== 'http:' && scheme !== 'https:') || urls === null) {
    throw new InvalidInputError(
      `Location scheme ${scheme} is not accepted: locations must be http or https URLs.`,
    )
  }
  urls.check(url)
}

const noHashes: ValidationData = { checksum: null, osHashAlgo: null, osHashValue: null }

/** Returns the known hashes, or `null` when neither the checksum nor the secure hash is set. */
function hashesOf(source: ValidationData): ValidationData | null {
  if (source.checksum === null && source.osHashValue === null) return null
  return {
    checksum: source.checksum,
    osHashAlgo: source.osHashAlgo,
    osHashValue: source.osHashValue,
  }
}

function checkMatch(id: string, known: ValidationData, provided: ValidationData): void {
  const mismatch = (['checksum', 'osHashAlgo', 'osHashValue'] as const).find(
    (field) =>
      known[field] !== null && provided[field] !== null && known[field] !== provided[field],
  )
  if (mismatch !== undefined) {
    throw new ConflictError(
      `The location's validation_data does not match image ${id}: ${mismatch} differs.`,
    )
  }
}

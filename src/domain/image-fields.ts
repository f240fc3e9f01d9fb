import { ConflictError, ForbiddenError, InvalidInputError, ServiceError } from './errors.js'
import {
  limits,
  validateContainerFormat,
  validateDiskFormat,
  validateVisibility,
  type Image,
} from './image.js'

/** Attributes the service computes; clients may read but never set them. */
export const readOnlyAttributes = new Set([
  'status',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'size',
  'virtual_size',
  'created_at',
  'updated_at',
  'self',
  'file',
  'schema',
  'direct_url',
  'locations',
  'stores',
])

/** Attributes no client may use at all, as in Glance. */
export const reservedAttributes = new Set(['deleted', 'deleted_at', 'location'])

/** Base attributes a client may set; everything else is a free-form property. */
export const settableAttributes = new Set([
  'name',
  'visibility',
  'protected',
  'os_hidden',
  'disk_format',
  'container_format',
  'min_disk',
  'min_ram',
  'tags',
  'owner',
  'id',
])

/** Rejects attributes that the caller may not set; `id` only at creation. */
export function checkSettable(name: string, creating: boolean): void {
  if (reservedAttributes.has(name) || name.startsWith('os_glance')) {
    throw new ForbiddenError(`Attribute '${name}' is reserved.`)
  }
  if (readOnlyAttributes.has(name) || (name === 'id' && !creating)) {
    throw new ForbiddenError(`Attribute '${name}' is read-only.`)
  }
}

/** Sets one base attribute or property on a draft image, validating the value. */
export function setAttribute(image: Image, name: string, value: unknown): void {
  switch (name) {
    case 'name':
      image.name = validateName(value)
      return
    case 'visibility':
      image.visibility = validateVisibility(value)
      return
    case 'protected':
      image.protected = validateBoolean(name, value)
      return
    case 'os_hidden':
      image.osHidden = validateBoolean(name, value)
      return
    case 'disk_format':
      image.diskFormat = value === null ? null : validateDiskFormat(value)
      return
    case 'container_format':
      image.containerFormat = value === null ? null : validateContainerFormat(value)
      return
    case 'min_disk':
      image.minDisk = validateCount(name, value)
      return
    case 'min_ram':
      image.minRam = validateCount(name, value)
      return
    case 'tags':
      image.tags = validateTags(value)
      return
    case 'owner':
      image.owner = validateOwner(value)
      return
  }
  setProperty(image, name, value)
}

export function setProperty(image: Image, name: string, value: unknown): void {
  if (name.length === 0 || name.length > limits.propertyNameLength) {
    throw new InvalidInputError(
      `Property name '${name}' is invalid: use 1 to ${limits.propertyNameLength} characters.`,
    )
  }
  if (typeof value !== 'string') {
    throw new InvalidInputError(
      `Property '${name}' must be a string, got ${JSON.stringify(value)}; quote the value.`,
    )
  }
  if (value.length > limits.propertyValueLength) {
    throw new InvalidInputError(
      `Property '${name}' is too long: at most ${limits.propertyValueLength} characters.`,
    )
  }
  if (!(name in image.properties) && Object.keys(image.properties).length >= limits.maxProperties) {
    throw new ServiceError(
      'PAYLOAD_TOO_LARGE',
      `An image can have at most ${limits.maxProperties} properties; remove some before adding ${name}.`,
    )
  }
  validateText(`property name ${JSON.stringify(name)}`, name)
  image.properties[name] = validateText(`property ${name}`, value)
}

export function removeProperty(image: Image, name: string): void {
  if (!(name in image.properties)) {
    throw new ConflictError(`Property ${name} does not exist on image ${image.id}.`)
  }
  delete image.properties[name]
}

function validateName(value: unknown): string | null {
  if (value === null) return null
  if (typeof value !== 'string' || value.length > limits.nameLength) {
    throw new InvalidInputError(
      `Invalid value for name: expected a string of at most ${limits.nameLength} characters.`,
    )
  }
  return validateText('name', value)
}

function validateBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') {
    throw new InvalidInputError(
      `Invalid value ${JSON.stringify(value)} for ${name}: expected true or false.`,
    )
  }
  return value
}

/** Glance stores min_disk and min_ram as 32-bit integers, and so do the services reading them. */
const maxCount = 2 ** 31 - 1

function validateCount(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > maxCount) {
    throw new InvalidInputError(
      `Invalid value ${JSON.stringify(value)} for ${name}: expected a whole number from 0 to ${maxCount}.`,
    )
  }
  return value
}

/**
 * Rejects text that cannot be stored as given: NUL characters, and lone UTF-16 surrogates (what
 * invalid UTF-8 or an unpaired \ud800 escape turns into), which the database would replace.
 */
export function validateText(name: string, value: string): string {
  if (value.includes('\u0000') || !value.isWellFormed()) {
    throw new InvalidInputError(
      `Invalid value for ${name}: it contains a NUL character or invalid Unicode; send valid UTF-8 text.`,
    )
  }
  return value
}

export function validateTag(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > limits.tagLength) {
    throw new InvalidInputError(
      `Invalid tag ${JSON.stringify(value)}: expected a string of 1 to ${limits.tagLength} characters.`,
    )
  }
  return validateText('tag', value)
}

function validateTags(value: unknown): string[] {
  if (!Array.isArray(value)) {
    throw new InvalidInputError('Invalid value for tags: expected an array of strings.')
  }
  const tags = [...new Set(value.map(validateTag))]
  if (tags.length > limits.maxTags) {
    throw new ServiceError(
      'PAYLOAD_TOO_LARGE',
      `Too many tags: at most ${limits.maxTags} per image.`,
    )
  }
  return tags
}

function validateOwner(value: unknown): string | null {
  if (value === null) return null
  if (typeof value !== 'string' || value.length === 0 || value.length > 255) {
    throw new InvalidInputError('Invalid value for owner: expected a project id.')
  }
  return value
}

/** Removes a base attribute the way Glance allows: only a few may be cleared. */
export function removeAttribute(image: Image, name: string): void {
  if (settableAttributes.has(name)) {
    throw new ForbiddenError(`Attribute '${name}' cannot be removed; replace its value instead.`)
  }
  removeProperty(image, name)
}

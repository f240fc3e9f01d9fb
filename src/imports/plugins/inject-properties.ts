import { ServiceError } from '../../domain/errors.js'
import {
  readOnlyAttributes,
  reservedAttributes,
  settableAttributes,
} from '../../domain/image-fields.js'
import { limits } from '../../domain/image.js'

export interface InjectPropertiesOptions {
  /** Roles of the user who imports the image. */
  userRoles?: readonly string[]
  /**
   * Roles whose imports get no injected properties, like Glance's `ignore_user_roles`. The
   * default is `['admin']`, as in Glance.
   */
  ignoreUserRoles?: readonly string[]
}

const defaultIgnoreUserRoles: readonly string[] = ['admin']

/**
 * Merges operator-defined properties into an image's properties, like Glance's
 * inject_image_metadata import plugin. Injected values override the image's own. Returns a new
 * map and leaves both arguments unchanged. When the user has a role in `ignoreUserRoles`, the
 * result is a copy of `properties`.
 *
 * Throws Error, because the configuration is wrong, when an injected name is reserved
 * (`os_glance_*`, deleted, location) or names a base image attribute (name, id, status,
 * visibility, size, checksum, owner and the others), or when a name or value is outside the
 * property limits. Throws ServiceError PAYLOAD_TOO_LARGE when the merged map has more
 * properties than an image may have.
 *
 * @example
 * injectProperties({ os_distro: 'ubuntu' }, { hw_machine_type: 'q35' }, { userRoles: ['member'] })
 * // => { os_distro: 'ubuntu', hw_machine_type: 'q35' }
 */
export function injectProperties(
  properties: Readonly<Record<string, string>>,
  injected: Readonly<Record<string, string>>,
  options: InjectPropertiesOptions = {},
): Record<string, string> {
  validateInjectedProperties(injected)

  const ignoreUserRoles = options.ignoreUserRoles ?? defaultIgnoreUserRoles
  const userRoles = options.userRoles ?? []
  if (userRoles.some((role) => ignoreUserRoles.includes(role))) {
    return Object.fromEntries(Object.entries(properties))
  }

  // fromEntries defines each key as an own property, so a name like __proto__ stays data.
  const merged = Object.fromEntries([...Object.entries(properties), ...Object.entries(injected)])
  const count = Object.keys(merged).length
  if (count > limits.maxProperties) {
    throw new ServiceError(
      'PAYLOAD_TOO_LARGE',
      `Injecting the operator's properties would give the image ${count} properties, above ` +
        `the limit of ${limits.maxProperties}; remove some properties and import again.`,
    )
  }
  return merged
}

/**
 * Checks that every injected property has a name a client could set as a property and a string
 * value within the limits, and throws Error otherwise. Call it when loading the configuration,
 * so that a mistake stops start-up instead of every import.
 */
export function validateInjectedProperties(injected: Readonly<Record<string, unknown>>): void {
  for (const [name, value] of Object.entries(injected)) {
    if (name.startsWith('os_glance') || reservedAttributes.has(name)) {
      throw new Error(
        `Injected property '${name}' is invalid: the name is reserved; remove it from the ` +
          'injected properties.',
      )
    }
    if (isBaseAttribute(name)) {
      throw new Error(
        `Injected property '${name}' is invalid: it is a base image attribute, not a ` +
          'property; remove it from the injected properties.',
      )
    }
    if (name.length === 0 || name.length > limits.propertyNameLength) {
      throw new Error(
        `Injected property name '${name}' is invalid: use 1 to ${limits.propertyNameLength} ` +
          'characters.',
      )
    }
    if (typeof value !== 'string' || value.length > limits.propertyValueLength) {
      const received = typeof value === 'string' ? `${value.length} characters` : typeof value
      throw new Error(
        `Injected property '${name}' is invalid: expected a string of at most ` +
          `${limits.propertyValueLength} characters, got ${received}.`,
      )
    }
  }
}

function isBaseAttribute(name: string): boolean {
  return readOnlyAttributes.has(name) || settableAttributes.has(name)
}

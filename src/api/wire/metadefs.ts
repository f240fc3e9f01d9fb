import { InvalidInputError } from '../../domain/errors.js'
import {
  validateNamespaceVisibility,
  type MetadefItem,
  type MetadefItemDraft,
  type MetadefItemKind,
  type NamespaceDetail,
  type NamespaceInput,
  type ResourceType,
} from '../../domain/metadef-service.js'
import { wireTime } from './image.js'

type Json = Record<string, unknown>

const timestamps = {
  created_at: {
    type: 'string',
    format: 'date-time',
    readOnly: true,
    description: 'Creation time, UTC',
  },
  updated_at: {
    type: 'string',
    format: 'date-time',
    readOnly: true,
    description: 'Last change, UTC',
  },
}

const propertyTypes = ['array', 'boolean', 'integer', 'number', 'object', 'string']

const propertyDefinition = {
  type: 'object',
  required: ['title', 'type'],
  properties: {
    title: { type: 'string', description: 'Label shown to users' },
    description: { type: 'string' },
    type: { type: 'string', enum: propertyTypes, description: 'JSON Schema type of the value' },
    enum: { type: 'array', description: 'The values allowed' },
    default: { description: 'The value used when none is set' },
    readonly: { type: 'boolean' },
    operators: { type: 'array', items: { type: 'string' } },
    minimum: { type: 'number' },
    maximum: { type: 'number' },
    pattern: { type: 'string', format: 'regex' },
    minLength: { type: 'integer', minimum: 0 },
    maxLength: { type: 'integer', minimum: 0 },
    items: { type: 'object', description: 'The type of array elements' },
    uniqueItems: { type: 'boolean' },
    minItems: { type: 'integer', minimum: 0 },
    maxItems: { type: 'integer', minimum: 0 },
  },
}

/** Builds a list schema in Glance's shape: the items, a `schema` link and optional paging links. */
function listSchema(name: string, key: string, item: Json, paged: boolean): Json {
  const properties: Json = { [key]: { type: 'array', items: item }, schema: { type: 'string' } }
  const links = [{ rel: 'describedby', href: '{schema}' }]
  if (paged) {
    properties.first = { type: 'string' }
    properties.next = { type: 'string' }
    links.unshift({ rel: 'first', href: '{first}' }, { rel: 'next', href: '{next}' })
  }
  return { name, properties, links }
}

export const resourceTypeAssociationSchema = {
  name: 'resource_type_association',
  required: ['name'],
  properties: {
    name: {
      type: 'string',
      maxLength: 80,
      description: 'Resource type, such as OS::Glance::Image',
    },
    prefix: { type: 'string', maxLength: 80, description: 'Prefix of property names there' },
    properties_target: {
      type: 'string',
      maxLength: 80,
      description: 'Sub-part of the resource that the properties apply to',
    },
    ...timestamps,
  },
}

export const tagSchema = {
  name: 'tag',
  required: ['name'],
  properties: { name: { type: 'string', maxLength: 255 }, ...timestamps },
}

export const propertySchema = {
  name: 'property',
  required: ['name', ...propertyDefinition.required],
  properties: {
    name: { type: 'string', maxLength: 255, description: 'Property key' },
    ...propertyDefinition.properties,
  },
}

export const objectSchema = {
  name: 'object',
  required: ['name'],
  properties: {
    name: { type: 'string', maxLength: 255 },
    description: { type: 'string' },
    required: {
      type: 'array',
      items: { type: 'string' },
      description: 'Properties that must be set',
    },
    properties: { type: 'object', additionalProperties: propertyDefinition },
    schema: { type: 'string', readOnly: true },
    self: { type: 'string', readOnly: true },
    ...timestamps,
  },
}

export const namespaceSchema = {
  name: 'namespace',
  required: ['namespace'],
  properties: {
    namespace: { type: 'string', maxLength: 80, description: 'Unique name of the namespace' },
    display_name: { type: 'string', maxLength: 80, description: 'Name shown to users' },
    description: { type: 'string', maxLength: 500 },
    visibility: { type: 'string', enum: ['public', 'private'] },
    protected: { type: 'boolean', description: 'Whether deletion is blocked' },
    owner: { type: 'string', maxLength: 255, description: 'Owner project id' },
    resource_type_associations: { type: 'array', items: resourceTypeAssociationSchema },
    objects: { type: 'array', items: objectSchema },
    properties: { type: 'object', additionalProperties: propertyDefinition },
    tags: { type: 'array', items: tagSchema },
    schema: { type: 'string', readOnly: true },
    self: { type: 'string', readOnly: true },
    ...timestamps,
  },
}

/** The metadef schemas by the last part of their path under `/v2/schemas/metadefs/`. */
export const metadefSchemas: Record<string, Json> = {
  namespace: namespaceSchema,
  namespaces: listSchema('namespaces', 'namespaces', namespaceSchema, true),
  object: objectSchema,
  objects: listSchema('objects', 'objects', objectSchema, false),
  property: propertySchema,
  properties: {
    name: 'properties',
    properties: {
      properties: { type: 'object', additionalProperties: propertyDefinition },
      schema: { type: 'string' },
    },
    links: [{ rel: 'describedby', href: '{schema}' }],
  },
  resource_type: resourceTypeAssociationSchema,
  resource_types: listSchema(
    'resource_type_associations',
    'resource_type_associations',
    resourceTypeAssociationSchema,
    false,
  ),
  tag: tagSchema,
  tags: listSchema('tags', 'tags', tagSchema, false),
}

/** Checks that a request body, or a part of one, is a JSON object. */
export function objectOf(value: unknown, what: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidInputError(`The ${what} must be a JSON object.`)
  }
  return value as Json
}

function stringOf(body: Json, key: string): string | undefined {
  const value = body[key]
  if (value === undefined) return undefined
  if (typeof value !== 'string') throw new InvalidInputError(`The field ${key} must be a string.`)
  return value
}

function requiredStringOf(body: Json, key: string): string {
  const value = stringOf(body, key)
  if (value === undefined || value === '') {
    throw new InvalidInputError(`The field ${key} is required and must not be empty.`)
  }
  return value
}

function arrayOf(body: Json, key: string): unknown[] {
  const value = body[key] ?? []
  if (!Array.isArray(value)) throw new InvalidInputError(`The field ${key} must be an array.`)
  return value
}

/** Reads a namespace's own fields from a create or update body. Absent fields stay absent. */
export function namespaceFromWire(body: Json): NamespaceInput {
  const input: NamespaceInput = {}
  const namespace = stringOf(body, 'namespace')
  if (namespace !== undefined) input.namespace = namespace
  if (body.display_name !== undefined) input.displayName = nullableString(body, 'display_name')
  if (body.description !== undefined) input.description = nullableString(body, 'description')
  if (body.visibility !== undefined) input.visibility = validateNamespaceVisibility(body.visibility)
  if (body.owner !== undefined) input.owner = requiredStringOf(body, 'owner')
  if (body.protected !== undefined) {
    if (typeof body.protected !== 'boolean') {
      throw new InvalidInputError('The field protected must be true or false.')
    }
    input.protected = body.protected
  }
  return input
}

function nullableString(body: Json, key: string): string | null {
  return body[key] === null ? null : (stringOf(body, key) ?? null)
}

/** Reads the definitions that a namespace create body may carry. */
export function namespaceItemsFromWire(body: Json): Record<MetadefItemKind, MetadefItemDraft[]> {
  const properties = objectOf(body.properties ?? {}, 'properties field')
  return {
    resource_type: arrayOf(body, 'resource_type_associations').map(associationFromWire),
    object: arrayOf(body, 'objects').map(objectFromWire),
    property: Object.entries(properties).map(([name, value]) =>
      propertyFromWire({ ...objectOf(value, `property ${name}`), name }),
    ),
    tag: arrayOf(body, 'tags').map(tagFromWire),
  }
}

export function associationFromWire(value: unknown): MetadefItemDraft {
  const body = objectOf(value, 'resource type association')
  const document: Json = {}
  for (const key of ['prefix', 'properties_target']) {
    const field = stringOf(body, key)
    if (field !== undefined) document[key] = field
  }
  return { name: requiredStringOf(body, 'name'), document }
}

export function objectFromWire(value: unknown): MetadefItemDraft {
  const body = objectOf(value, 'object')
  const document: Json = {}
  const description = stringOf(body, 'description')
  if (description !== undefined) document.description = description
  if (body.required !== undefined) {
    const required = arrayOf(body, 'required')
    if (!required.every((entry) => typeof entry === 'string')) {
      throw new InvalidInputError('The field required must be an array of property names.')
    }
    document.required = required
  }
  const properties = objectOf(body.properties ?? {}, 'properties field')
  for (const [name, property] of Object.entries(properties)) checkProperty(property, name)
  document.properties = properties
  return { name: requiredStringOf(body, 'name'), document }
}

/** Reads a property. The document keeps every field except the name, as the client sent it. */
export function propertyFromWire(value: unknown): MetadefItemDraft {
  const { name, ...document } = objectOf(value, 'property')
  if (typeof name !== 'string' || name === '') {
    throw new InvalidInputError('The field name is required and must not be empty.')
  }
  checkProperty(document, name)
  return { name, document }
}

function checkProperty(value: unknown, name: string): void {
  const property = objectOf(value, `property ${name}`)
  requiredStringOf(property, 'title')
  if (!propertyTypes.includes(property.type as string)) {
    throw new InvalidInputError(
      `Property ${name} has an invalid type ${JSON.stringify(property.type)}: use one of ${propertyTypes.join(', ')}.`,
    )
  }
}

export function tagFromWire(value: unknown): MetadefItemDraft {
  return { name: requiredStringOf(objectOf(value, 'tag'), 'name'), document: {} }
}

/** Builds the path of a namespace, or of a definition in it, with each name escaped. */
export function metadefPath(namespace: string, ...rest: string[]): string {
  return ['/v2/metadefs/namespaces', namespace, ...rest]
    .map((part, i) => (i === 0 ? part : encodeURIComponent(part)))
    .join('/')
}

/**
 * Renders the namespace as Glance shows it. Each kind of definition appears only when the
 * namespace has some, and properties are an object keyed by name.
 */
export function namespaceToWire({ namespace, items }: NamespaceDetail): Json {
  const wire: Json = {
    namespace: namespace.namespace,
    display_name: namespace.displayName ?? undefined,
    description: namespace.description ?? undefined,
    visibility: namespace.visibility,
    protected: namespace.protected,
    owner: namespace.owner,
    created_at: wireTime(namespace.createdAt),
    updated_at: wireTime(namespace.updatedAt),
    self: metadefPath(namespace.namespace),
    schema: '/v2/schemas/metadefs/namespace',
  }
  if (items.resource_type.length > 0) {
    wire.resource_type_associations = items.resource_type.map(associationToWire)
  }
  if (items.object.length > 0) {
    wire.objects = items.object.map((item) => objectToWire(namespace.namespace, item))
  }
  if (items.property.length > 0) {
    wire.properties = Object.fromEntries(items.property.map((item) => [item.name, item.document]))
  }
  if (items.tag.length > 0) wire.tags = items.tag.map((item) => ({ name: item.name }))
  return wire
}

export function objectToWire(namespace: string, item: MetadefItem): Json {
  return {
    name: item.name,
    ...item.document,
    created_at: wireTime(item.createdAt),
    updated_at: wireTime(item.updatedAt),
    self: metadefPath(namespace, 'objects', item.name),
    schema: '/v2/schemas/metadefs/object',
  }
}

export function propertyToWire(item: MetadefItem): Json {
  return { name: item.name, ...item.document }
}

export function tagToWire(item: MetadefItem): Json {
  return {
    name: item.name,
    created_at: wireTime(item.createdAt),
    updated_at: wireTime(item.updatedAt),
  }
}

export function associationToWire(item: MetadefItem): Json {
  return {
    name: item.name,
    ...item.document,
    created_at: wireTime(item.createdAt),
    updated_at: wireTime(item.updatedAt),
  }
}

export function resourceTypeToWire(type: ResourceType): Json {
  return {
    name: type.name,
    created_at: wireTime(type.createdAt),
    updated_at: wireTime(type.updatedAt),
  }
}

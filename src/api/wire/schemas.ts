import {
  containerFormats,
  diskFormats,
  imageStatuses,
  memberStatuses,
  visibilities,
} from '../../domain/image.js'

const nullableString = (description: string, maxLength = 255) => ({
  type: ['null', 'string'],
  maxLength,
  description,
})

const readOnly = (schema: Record<string, unknown>) => ({ ...schema, readOnly: true })

/** The image schema clients fetch from `/v2/schemas/image`; field names and types as Glance's. */
const uuidPattern =
  '^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$'

export const imageSchema = {
  name: 'image',
  additionalProperties: { type: 'string' },
  links: [
    { rel: 'self', href: '{self}' },
    { rel: 'enclosure', href: '{file}' },
    { rel: 'describedby', href: '{schema}' },
  ],
  properties: {
    id: {
      type: 'string',
      pattern: uuidPattern,
      description: 'Image id, a UUID',
    },
    name: nullableString('Human-readable image name'),
    status: readOnly({ type: 'string', enum: [...imageStatuses], description: 'Lifecycle status' }),
    visibility: { type: 'string', enum: [...visibilities], description: 'Who may see the image' },
    protected: { type: 'boolean', description: 'Whether deletion is blocked' },
    os_hidden: { type: 'boolean', description: 'Whether default listings leave the image out' },
    checksum: readOnly(nullableString('MD5 digest of the data, hex', 32)),
    os_hash_algo: readOnly(nullableString('Hash algorithm of os_hash_value', 64)),
    os_hash_value: readOnly(nullableString('Hex digest of the data with os_hash_algo', 128)),
    owner: nullableString('Project that owns the image'),
    size: readOnly({ type: ['null', 'integer'], description: 'Data size in bytes' }),
    virtual_size: readOnly({
      type: ['null', 'integer'],
      description: 'Disk size seen by a guest, in bytes',
    }),
    container_format: {
      type: ['null', 'string'],
      enum: [null, ...containerFormats],
      description: 'Container format',
    },
    disk_format: {
      type: ['null', 'string'],
      enum: [null, ...diskFormats],
      description: 'Disk format',
    },
    created_at: readOnly({ type: 'string', description: 'Creation time, UTC' }),
    updated_at: readOnly({ type: 'string', description: 'Last change, UTC' }),
    tags: {
      type: 'array',
      items: { type: 'string', maxLength: 255 },
      description: 'Free-form labels',
    },
    direct_url: readOnly({ type: 'string', description: 'Location of the data in its store' }),
    min_ram: { type: 'integer', description: 'Minimum RAM to boot, in MiB' },
    min_disk: { type: 'integer', description: 'Minimum disk to boot, in GiB' },
    self: readOnly({ type: 'string', description: 'Path of this image' }),
    file: readOnly({ type: 'string', description: 'Path of the image data' }),
    stores: readOnly({ type: 'string', description: 'Stores that hold the data' }),
    schema: readOnly({ type: 'string', description: 'Path of this schema' }),
    locations: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          url: { type: 'string', maxLength: 255 },
          metadata: { type: 'object' },
          validation_data: { type: 'object' },
        },
        required: ['url', 'metadata'],
      },
      description: 'Locations of the data',
    },
  },
}

export const imagesSchema = {
  name: 'images',
  properties: {
    images: { type: 'array', items: imageSchema },
    schema: { type: 'string' },
    first: { type: 'string' },
    next: { type: 'string' },
  },
  links: [
    { rel: 'first', href: '{first}' },
    { rel: 'next', href: '{next}' },
    { rel: 'describedby', href: '{schema}' },
  ],
}

export const memberSchema = {
  name: 'member',
  properties: {
    created_at: { type: 'string', description: 'Creation time, UTC' },
    image_id: { type: 'string', description: 'Image id, a UUID' },
    member_id: { type: 'string', description: 'Project id of the member' },
    status: {
      type: 'string',
      enum: [...memberStatuses],
      description: 'Whether the member accepted the image',
    },
    updated_at: { type: 'string', description: 'Last change, UTC' },
    schema: { type: 'string', readOnly: true },
  },
}

export const membersSchema = {
  name: 'members',
  properties: {
    members: { type: 'array', items: memberSchema },
    schema: { type: 'string' },
  },
  links: [{ rel: 'describedby', href: '{schema}' }],
}

const taskStatus = { type: 'string', enum: ['pending', 'processing', 'success', 'failure'] }

/** An import task, as `GET /v2/tasks/{id}` and `GET /v2/images/{id}/tasks` show it. */
export const taskSchema = {
  name: 'task',
  properties: {
    id: { type: 'string', pattern: uuidPattern },
    type: { type: 'string', enum: ['import', 'api_image_import'] },
    status: taskStatus,
    input: { type: 'object' },
    result: { type: ['null', 'object'] },
    owner: { type: 'string' },
    message: { type: 'string' },
    image_id: { type: 'string' },
    request_id: { type: 'string' },
    user_id: { type: 'string' },
    expires_at: { type: ['null', 'string'] },
    created_at: { type: 'string' },
    updated_at: { type: 'string' },
    self: { type: 'string' },
    schema: { type: 'string' },
  },
}

export const tasksSchema = {
  name: 'tasks',
  properties: {
    tasks: { type: 'array', items: taskSchema },
    schema: { type: 'string' },
    first: { type: 'string' },
    next: { type: 'string' },
  },
  links: [
    { rel: 'first', href: '{first}' },
    { rel: 'next', href: '{next}' },
    { rel: 'describedby', href: '{schema}' },
  ],
}

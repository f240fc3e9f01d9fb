import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { InvalidInputError, NotFoundError } from '../../domain/errors.js'
import type {
  MetadefItem,
  MetadefItemDraft,
  MetadefItemKind,
  MetadefService,
} from '../../domain/metadef-service.js'
import {
  associationFromWire,
  associationToWire,
  metadefSchemas,
  namespaceFromWire,
  namespaceItemsFromWire,
  namespaceToWire,
  objectFromWire,
  objectOf,
  objectToWire,
  propertyFromWire,
  propertyToWire,
  resourceTypeToWire,
  tagFromWire,
  tagToWire,
} from '../wire/metadefs.js'
import { authOf, jsonBody } from './images.js'

type Json = Record<string, unknown>
type NamespaceParams = { Params: { namespace: string } }
type ItemParams = { Params: { namespace: string; name: string } }

/** The wire format and routes of one kind of definition. */
interface ItemWire {
  kind: MetadefItemKind
  /** The path segment under a namespace, such as `objects`. */
  segment: string
  parse(body: unknown): MetadefItemDraft
  render(namespace: string, item: MetadefItem): Json
  renderList(namespace: string, items: MetadefItem[]): Json
  /** Whether single definitions can be read and replaced (associations cannot). */
  editable: boolean
}

const itemWires: ItemWire[] = [
  {
    kind: 'object',
    segment: 'objects',
    parse: objectFromWire,
    render: objectToWire,
    renderList: (namespace, items) => ({
      objects: items.map((item) => objectToWire(namespace, item)),
      schema: '/v2/schemas/metadefs/objects',
    }),
    editable: true,
  },
  {
    kind: 'property',
    segment: 'properties',
    parse: propertyFromWire,
    render: (_namespace, item) => propertyToWire(item),
    renderList: (_namespace, items) => ({
      properties: Object.fromEntries(items.map((item) => [item.name, item.document])),
    }),
    editable: true,
  },
  {
    kind: 'tag',
    segment: 'tags',
    parse: tagFromWire,
    render: (_namespace, item) => tagToWire(item),
    renderList: (_namespace, items) => ({ tags: items.map(tagToWire) }),
    editable: true,
  },
  {
    kind: 'resource_type',
    segment: 'resource_types',
    parse: associationFromWire,
    render: (_namespace, item) => associationToWire(item),
    renderList: (_namespace, items) => ({
      resource_type_associations: items.map(associationToWire),
    }),
    editable: false,
  },
]

/** Glance's metadata definitions API (metadefs) and its schemas. */
export function registerMetadefRoutes(app: FastifyInstance, metadefs: MetadefService): void {
  const handlers = new NamespaceHandlers(metadefs)
  app.get<{ Params: { name: string } }>('/v2/schemas/metadefs/:name', showSchema)
  app.get('/v2/metadefs/resource_types', handlers.listResourceTypes)
  app.get('/v2/metadefs/namespaces', handlers.list)
  app.post('/v2/metadefs/namespaces', handlers.create)
  app.get<NamespaceParams>('/v2/metadefs/namespaces/:namespace', handlers.show)
  app.put<NamespaceParams>('/v2/metadefs/namespaces/:namespace', handlers.update)
  app.delete<NamespaceParams>('/v2/metadefs/namespaces/:namespace', handlers.remove)
  for (const wire of itemWires) registerItemRoutes(app, new ItemHandlers(metadefs, wire))
}

function registerItemRoutes(app: FastifyInstance, handlers: ItemHandlers): void {
  const { segment, editable, kind } = handlers.wire
  const list = `/v2/metadefs/namespaces/:namespace/${segment}`
  const one = `${list}/:name`
  app.get<NamespaceParams>(list, handlers.list)
  app.post<NamespaceParams>(list, kind === 'tag' ? handlers.createTags : handlers.create)
  app.delete<ItemParams>(one, handlers.remove)
  if (!editable) return

  app.delete<NamespaceParams>(list, handlers.removeAll)
  app.get<ItemParams>(one, handlers.show)
  app.put<ItemParams>(one, handlers.update)
  if (kind === 'tag') app.post<ItemParams>(one, handlers.createTag)
}

async function showSchema(request: FastifyRequest<{ Params: { name: string } }>): Promise<Json> {
  const schema = metadefSchemas[request.params.name]
  if (schema === undefined) {
    throw new NotFoundError(`No metadefs schema named ${request.params.name}.`)
  }
  return schema
}

class NamespaceHandlers {
  readonly #metadefs: MetadefService

  constructor(metadefs: MetadefService) {
    this.#metadefs = metadefs
  }

  listResourceTypes = async (): Promise<Json> => {
    const types = await this.#metadefs.listResourceTypes()
    return { resource_types: types.map(resourceTypeToWire) }
  }

  list = async (request: FastifyRequest): Promise<Json> => {
    const namespaces = await this.#metadefs.listNamespaces(authOf(request))
    return {
      namespaces: namespaces.map(namespaceToWire),
      first: '/v2/metadefs/namespaces',
      schema: '/v2/schemas/metadefs/namespaces',
    }
  }

  create = async (request: FastifyRequest, reply: FastifyReply): Promise<Json> => {
    const body = objectOf(jsonBody(request), 'request body')
    const detail = await this.#metadefs.createNamespace(
      authOf(request),
      namespaceFromWire(body),
      namespaceItemsFromWire(body),
    )
    reply.status(201)
    return namespaceToWire(detail)
  }

  show = async (request: FastifyRequest<NamespaceParams>): Promise<Json> => {
    const detail = await this.#metadefs.showNamespace(authOf(request), request.params.namespace)
    return namespaceToWire(detail)
  }

  update = async (request: FastifyRequest<NamespaceParams>): Promise<Json> => {
    const body = objectOf(jsonBody(request), 'request body')
    const input = namespaceFromWire(body)
    if (input.namespace === undefined || input.namespace === '') {
      throw new InvalidInputError('The namespace field is required and must not be empty.')
    }
    const detail = await this.#metadefs.updateNamespace(
      authOf(request),
      request.params.namespace,
      input,
    )
    return namespaceToWire(detail)
  }

  remove = async (request: FastifyRequest<NamespaceParams>, reply: FastifyReply) => {
    await this.#metadefs.deleteNamespace(authOf(request), request.params.namespace)
    reply.status(204).send()
  }
}

/** Handlers for one kind of definition inside a namespace. */
class ItemHandlers {
  readonly #metadefs: MetadefService
  readonly wire: ItemWire

  constructor(metadefs: MetadefService, wire: ItemWire) {
    this.#metadefs = metadefs
    this.wire = wire
  }

  list = async (request: FastifyRequest<NamespaceParams>): Promise<Json> => {
    const { namespace } = request.params
    const items = await this.#metadefs.listItems(authOf(request), namespace, this.wire.kind)
    return this.wire.renderList(namespace, items)
  }

  show = async (request: FastifyRequest<ItemParams>): Promise<Json> => {
    const { namespace, name } = request.params
    const item = await this.#metadefs.showItem(authOf(request), namespace, this.wire.kind, name)
    return this.wire.render(namespace, item)
  }

  create = async (request: FastifyRequest<NamespaceParams>, reply: FastifyReply) => {
    const draft = this.wire.parse(jsonBody(request))
    return this.#createOne(request, reply, draft)
  }

  /** `POST .../tags/{name}` takes no body: the path names the tag. */
  createTag = async (request: FastifyRequest<ItemParams>, reply: FastifyReply) => {
    return this.#createOne(request, reply, { name: request.params.name, document: {} })
  }

  /**
   * `POST .../tags` with `{"tags": [...]}` replaces every tag of the namespace, as Glance's
   * "create multiple tags" call does. With `X-Openstack-Append: true` the tags are added instead.
   */
  createTags = async (request: FastifyRequest<NamespaceParams>, reply: FastifyReply) => {
    const body = objectOf(jsonBody(request), 'request body')
    if (!Array.isArray(body.tags)) throw new InvalidInputError('The field tags must be an array.')
    const drafts = body.tags.map(tagFromWire)
    const append = String(request.headers['x-openstack-append']).toLowerCase() === 'true'

    const { namespace } = request.params
    const ctx = authOf(request)
    const tags = await this.#metadefs.createItems(ctx, namespace, 'tag', drafts, !append)
    reply.status(201)
    return { tags: tags.map((tag) => ({ name: tag.name })) }
  }

  update = async (request: FastifyRequest<ItemParams>): Promise<Json> => {
    const { namespace, name } = request.params
    const draft = this.wire.parse(jsonBody(request))
    const ctx = authOf(request)
    const item = await this.#metadefs.updateItem(ctx, namespace, this.wire.kind, name, draft)
    return this.wire.render(namespace, item)
  }

  remove = async (request: FastifyRequest<ItemParams>, reply: FastifyReply) => {
    const { namespace, name } = request.params
    await this.#metadefs.deleteItems(authOf(request), namespace, this.wire.kind, name)
    reply.status(204).send()
  }

  removeAll = async (request: FastifyRequest<NamespaceParams>, reply: FastifyReply) => {
    await this.#metadefs.deleteItems(
      authOf(request),
      request.params.namespace,
      this.wire.kind,
      null,
    )
    reply.status(204).send()
  }

  async #createOne(
    request: FastifyRequest<NamespaceParams>,
    reply: FastifyReply,
    draft: MetadefItemDraft,
  ): Promise<Json> {
    const { namespace } = request.params
    const ctx = authOf(request)
    const [item] = await this.#metadefs.createItems(ctx, namespace, this.wire.kind, [draft])
    reply.status(201)
    return this.wire.render(namespace, item!)
  }
}

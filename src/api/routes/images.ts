import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { InvalidInputError, ServiceError } from '../../domain/errors.js'
import type { ImageService } from '../../domain/image-service.js'
import type { Image } from '../../domain/image.js'
import type { AuthContext, ListQuery } from '../../domain/ports.js'
import { hiddenLocations, imageToWire, type LocationView } from '../wire/image.js'
import { parseListQuery, type QueryValues } from '../wire/list-query.js'
import { parsePatch, patchMediaTypes, unsupportedPatchType } from '../wire/patch.js'
import { parseRange } from '../wire/range.js'

type IdParams = { Params: { id: string } }

/** Routes of `/v2/images`: each handler reads the request, calls the service, writes the reply. */
export function registerImageRoutes(
  app: FastifyInstance,
  images: ImageService,
  view: LocationView,
  importMethods: readonly string[],
): void {
  const handlers = new ImageHandlers(images, view, importMethods)
  app.post('/v2/images', (req, reply) => handlers.create(req, reply))
  app.get('/v2/images', (req, reply) => handlers.list(req, reply))
  app.get<IdParams>('/v2/images/:id', (req, reply) => handlers.show(req, reply))
  app.patch<IdParams>('/v2/images/:id', (req, reply) => handlers.update(req, reply))
  app.delete<IdParams>('/v2/images/:id', (req, reply) => handlers.remove(req, reply))
  registerRawBodyRoutes(app, (scope) => {
    scope.put<IdParams>('/v2/images/:id/file', (req, reply) => handlers.upload(req, reply))
  })
  app.get<IdParams>('/v2/images/:id/file', (req, reply) => handlers.download(req, reply))
  app.delete<{ Params: { store: string; id: string } }>(
    '/v2/stores/:store/:id',
    async (req, reply) => {
      await images.deleteFromStore(authOf(req), req.params.store, req.params.id)
      reply.status(204).send()
    },
  )
  app.post<IdParams>('/v2/images/:id/actions/deactivate', async (req, reply) => {
    await images.deactivate(authOf(req), req.params.id)
    reply.status(204).send()
  })
  app.post<IdParams>('/v2/images/:id/actions/reactivate', async (req, reply) => {
    await images.reactivate(authOf(req), req.params.id)
    reply.status(204).send()
  })
}

export function authOf(request: FastifyRequest): AuthContext {
  if (request.auth === undefined) throw new ServiceError('UNAUTHORIZED', 'Authentication required.')
  return request.auth
}

/**
 * Registers routes in a scope without the JSON parser, so that a body of any type reaches the
 * handler unread and the handler can reject a wrong Content-Type with 415.
 */
export function registerRawBodyRoutes(
  app: FastifyInstance,
  register: (scope: FastifyInstance) => void,
): void {
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined))
    register(scope)
  })
}

/** Rejects a body that is not `application/octet-stream` with 415; `what` names the data. */
export function requireOctetStream(request: FastifyRequest, what: string): void {
  const type = mediaType(request)
  if (type !== 'application/octet-stream') {
    throw new ServiceError(
      'UNSUPPORTED_MEDIA_TYPE',
      `Content type ${type ?? '(none)'} is not supported for ${what}; send application/octet-stream.`,
    )
  }
}

/** Reads a JSON body that any of the JSON media types delivered. */
export function jsonBody(request: FastifyRequest): unknown {
  const type = mediaType(request)
  if (type !== 'application/json') {
    throw new ServiceError(
      'UNSUPPORTED_MEDIA_TYPE',
      `Content type ${type ?? '(none)'} is not supported here; send application/json.`,
    )
  }
  return request.body
}

function mediaType(request: FastifyRequest): string | undefined {
  return request.headers['content-type']?.split(';')[0]?.trim().toLowerCase()
}

class ImageHandlers {
  readonly #images: ImageService
  readonly #view: LocationView
  readonly #importMethods: string

  constructor(images: ImageService, view: LocationView, importMethods: readonly string[]) {
    this.#images = images
    this.#view = view
    this.#importMethods = importMethods.join(',')
  }

  /** The wire image; locations, which name server paths, only for its owner and admins. */
  #toWire(image: Image, ctx: AuthContext): Record<string, unknown> {
    const mayLocate = ctx.isAdmin || this.#images.policy.isOwner(ctx, image)
    return imageToWire(image, mayLocate ? this.#view : hiddenLocations)
  }

  async create(request: FastifyRequest, reply: FastifyReply) {
    const body = jsonBody(request)
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new InvalidInputError('The request body must be a JSON object of image attributes.')
    }
    const ctx = authOf(request)
    const image = await this.#images.create(ctx, body as Record<string, unknown>)
    // Glance names the import methods on every create, so clients need no discovery call.
    reply
      .status(201)
      .header('location', `/v2/images/${image.id}`)
      .header('openstack-image-import-methods', this.#importMethods)
      .header('openstack-image-store-ids', this.#storeIds())
    return this.#toWire(image, ctx)
  }

  #storeIds(): string {
    return this.#images.stores
      .list()
      .filter((store) => !store.readOnly)
      .map((store) => store.id)
      .join(',')
  }

  async list(request: FastifyRequest, _reply: FastifyReply) {
    const ctx = authOf(request)
    const parsed = parseListQuery(request.query as QueryValues)
    const marker = parsed.marker === null ? null : await this.#marker(ctx, parsed.marker)
    const query: ListQuery = {
      scope: {
        projectId: ctx.isAdmin ? null : ctx.projectId,
        visibility: parsed.visibility,
        memberStatus: parsed.memberStatus,
      },
      filters: parsed.filters,
      sort: parsed.sort,
      limit: parsed.limit + 1,
      marker,
    }
    const found = await this.#images.list(query)
    const page = found.slice(0, parsed.limit)

    const body: Record<string, unknown> = {
      images: page.map((image) => this.#toWire(image, ctx)),
      first: pageLink(request.query as QueryValues, null),
      schema: '/v2/schemas/images',
    }
    if (found.length > parsed.limit && page.length > 0) {
      body.next = pageLink(request.query as QueryValues, page.at(-1)!.id)
    }
    return body
  }

  async #marker(ctx: AuthContext, id: string) {
    try {
      return await this.#images.get(ctx, id)
    } catch (error) {
      if (error instanceof ServiceError && error.status === 404) {
        throw new InvalidInputError(`marker ${id} could not be found; start the listing again.`)
      }
      throw error
    }
  }

  async show(request: FastifyRequest<IdParams>, _reply: FastifyReply) {
    const ctx = authOf(request)
    return this.#toWire(await this.#images.get(ctx, request.params.id), ctx)
  }

  async update(request: FastifyRequest<IdParams>, _reply: FastifyReply) {
    const type = mediaType(request)
    const patchType = patchMediaTypes.find((t) => t === type)
    if (patchType === undefined) throw unsupportedPatchType(request.headers['content-type'])
    const operations = parsePatch(request.body, patchType)
    const ctx = authOf(request)
    return this.#toWire(await this.#images.update(ctx, request.params.id, operations), ctx)
  }

  async remove(request: FastifyRequest<IdParams>, reply: FastifyReply) {
    await this.#images.delete(authOf(request), request.params.id)
    reply.status(204).send()
  }

  async upload(request: FastifyRequest<IdParams>, reply: FastifyReply) {
    requireOctetStream(request, 'image data')
    const controller = new AbortController()
    request.raw.once('close', () => {
      if (!request.raw.complete) controller.abort(new Error('client closed the upload'))
    })
    await this.#images.upload(authOf(request), request.params.id, request.raw, {
      expectedSize: expectedSize(request),
      signal: controller.signal,
      ...storeHeader(request),
    })
    request.bytesIn = Number(request.headers['content-length'] ?? 0)
    reply.status(204).send()
  }

  async download(request: FastifyRequest<IdParams>, reply: FastifyReply) {
    const range = parseRange(request.headers.range, request.headers['content-range'])
    const data = await this.#images.download(authOf(request), request.params.id, range)
    if (data === null) return reply.status(204).send()

    const { image, stream, range: served } = data
    const length = served.end - served.start + 1
    reply
      .header('content-type', 'application/octet-stream')
      .header('content-length', String(length))
    if (image.checksum !== null && range === null) reply.header('content-md5', image.checksum)
    if (range !== null) {
      reply.status(206).header('content-range', `bytes ${served.start}-${served.end}/${image.size}`)
    }
    request.bytesOut = length
    return reply.send(stream)
  }
}

/** Returns the target store of an upload from `X-Image-Meta-Store`, when the client names one. */
function storeHeader(request: FastifyRequest): { store?: string } {
  const store = storeHeaderOf(request)
  return store === null ? {} : { store }
}

export function storeHeaderOf(request: FastifyRequest): string | null {
  const header = request.headers['x-image-meta-store']
  return typeof header === 'string' && header !== '' ? header : null
}

function expectedSize(request: FastifyRequest): number | null {
  const header = request.headers['x-openstack-image-size']
  if (typeof header === 'string') {
    if (!/^\d+$/.test(header)) {
      throw new InvalidInputError(`x-openstack-image-size must be a byte count, got ${header}.`)
    }
    return Number(header)
  }
  const length = request.headers['content-length']
  return length === undefined ? null : Number(length)
}

function pageLink(query: QueryValues, marker: string | null): string {
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) {
    if (key === 'marker' || value === undefined) continue
    for (const item of Array.isArray(value) ? value : [value]) params.append(key, item)
  }
  if (marker !== null) params.set('marker', marker)
  const text = params.toString()
  return text === '' ? '/v2/images' : `/v2/images?${text}`
}

import { randomUUID } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { Logger } from 'pino'
import {
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  ServiceError,
} from './errors.js'
import { checkSettable, removeAttribute, setAttribute, validateTag } from './image-fields.js'
import {
  limits,
  osHashAlgo,
  validateMemberStatus,
  type Image,
  type ImageLocation,
  type ImageMember,
  type ImageStatus,
  type MemberStatus,
} from './image.js'
import type { ImagePolicy } from './policy.js'
import type { Quotas } from './quotas.js'
import { editLocations, type LocationEdit, type UrlSource } from './location-editor.js'
import type {
  AuthContext,
  ByteRange,
  ContentInspector,
  ImageReader,
  ImageRepository,
  ImageStores,
  ListQuery,
  ReplicaSource,
  ProjectUsage,
} from './ports.js'
import { UploadMeter } from './upload-meter.js'
import { DigestCheck } from '../hashing/digest-check.js'

export interface ImageServiceConfig {
  maxSizeBytes: number
  /** Glance's `show_multiple_locations`: owners may edit locations through PATCH. */
  editableLocations: boolean
}

/** One JSON-patch operation, already parsed from either patch media type. */
export interface PatchOperation {
  op: 'add' | 'replace' | 'remove'
  /** The path as decoded JSON-pointer segments: `/name` is `['name']`. */
  path: string[]
  value?: unknown
}

export interface UploadOptions {
  /** Bytes announced by the client (`Content-Length` or `x-openstack-image-size`). */
  expectedSize: number | null
  signal?: AbortSignal
  /** The store to write to (`X-Image-Meta-Store`); the default store when absent. */
  store?: string
  /** Bytes the owner's image_size_total quota still allows; unlimited when absent. */
  quotaBytes?: number
}

export interface ImageData {
  image: Image
  stream: Readable
  /** The range served; the whole image when the request had none. */
  range: ByteRange
}

/**
 * A partial write untouched for this long belongs to no live upload: an upload whose client
 * stalls is cut off after five idle minutes (the server's connection timeout).
 */
const staleWriteMs = 15 * 60 * 1000

const uuidPattern = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i

/**
 * The image use cases. Each public method reads as: check policy, check the status, write the
 * metadata, move the data.
 */
export class ImageService {
  readonly #repo: ImageRepository
  readonly #stores: ImageStores
  readonly #reader: ImageReader
  readonly #policy: ImagePolicy
  readonly #quotas: Quotas
  readonly #urls: UrlSource | null
  #replicas: ReplicaSource | null
  readonly #deleteListeners: ((image: Image) => Promise<void>)[] = []
  readonly #inspector: ContentInspector
  readonly #config: ImageServiceConfig
  readonly #log: Logger

  constructor(deps: {
    repo: ImageRepository
    stores: ImageStores
    reader: ImageReader
    policy: ImagePolicy
    quotas: Quotas
    inspector: ContentInspector
    /** Reads external location URLs; `null` refuses every external location. */
    urls: UrlSource | null
    /** Copies from other hosts, when images live on hosts' own disks. */
    replicas?: ReplicaSource | null
    config: ImageServiceConfig
    log: Logger
  }) {
    this.#repo = deps.repo
    this.#stores = deps.stores
    this.#reader = deps.reader
    this.#policy = deps.policy
    this.#quotas = deps.quotas
    this.#urls = deps.urls
    this.#replicas = deps.replicas ?? null
    this.#inspector = deps.inspector
    this.#config = Object.freeze({ ...deps.config })
    this.#log = deps.log
  }

  get policy(): ImagePolicy {
    return this.#policy
  }

  /** Creates a `queued` image from the request's attributes (already in wire names). */
  async create(ctx: AuthContext, attributes: Record<string, unknown>): Promise<Image> {
    this.#policy.requireWriter(ctx)
    const now = new Date()
    const image = emptyImage(randomUUID(), ctx.projectId, now)

    for (const [name, value] of Object.entries(attributes)) {
      checkSettable(name, true)
      if (name === 'id') image.id = validateImageId(value)
      else if (name === 'owner') this.#setOwner(ctx, image, value)
      else setAttribute(image, name, value)
    }
    if (image.visibility === 'public') this.#policy.requirePublicize(ctx)
    await this.#quotas.checkCreate(image.owner ?? ctx.projectId)

    await this.#repo.create(image)
    this.#log.info({ imageId: image.id, projectId: ctx.projectId }, 'image created')
    return image
  }

  #setOwner(ctx: AuthContext, image: Image, value: unknown): void {
    if (!ctx.isAdmin && value !== ctx.projectId) {
      throw new ForbiddenError('Only an admin may set the owner of an image to another project.')
    }
    setAttribute(image, 'owner', value)
  }

  /** Returns an image the caller may see; otherwise a 404. */
  async get(ctx: AuthContext, id: string): Promise<Image> {
    const image = await this.#repo.get(id)
    if (image === null) throw this.#policy.notFound(id)
    if (ctx.isAdmin || this.#policy.isOwner(ctx, image) || image.visibility !== 'shared') {
      if (this.#policy.canSee(ctx, image, null)) return image
      throw this.#policy.notFound(id)
    }
    const member = await this.#repo.getMember(id, ctx.projectId)
    if (!this.#policy.canSee(ctx, image, member)) throw this.#policy.notFound(id)
    return image
  }

  async list(query: ListQuery): Promise<Image[]> {
    return this.#repo.list(query)
  }

  /** Returns the totals of the caller's project. */
  async usage(ctx: AuthContext): Promise<ProjectUsage> {
    return this.#quotas.usage(ctx.projectId)
  }

  get quotas(): Quotas {
    return this.#quotas
  }

  get stores(): ImageStores {
    return this.#stores
  }

  /** Registers work to do after an image is deleted, such as removing its staged data. */
  onDelete(listener: (image: Image) => Promise<void>): void {
    this.#deleteListeners.push(listener)
  }

  /** Connects the replicas of other hosts, which need this service to be built first. */
  useReplicas(replicas: ReplicaSource): void {
    this.#replicas = replicas
  }

  /** Applies JSON-patch operations in order, all or nothing. */
  async update(ctx: AuthContext, id: string, operations: PatchOperation[]): Promise<Image> {
    const image = await this.get(ctx, id)
    this.#policy.requireOwner(ctx, image, 'modify')

    const draft = structuredClone(image)
    const locationOperations = operations.filter((operation) => operation.path[0] === 'locations')
    for (const operation of operations) {
      if (operation.path[0] !== 'locations') this.#applyOperation(ctx, image, draft, operation)
    }
    if (draft.visibility === 'public' && image.visibility !== 'public') {
      this.#policy.requirePublicize(ctx)
    }
    const edit = await this.#editLocations(ctx, image, locationOperations)

    let updated = await this.#repo.update(draft)
    if (updated !== null && edit !== null) {
      updated = await this.#repo.setLocations(id, edit.locations, edit.activation, edit.hashes)
      if (updated === null) {
        throw new ConflictError(
          `Image ${id} changed status meanwhile; read it again and retry.`,
          'IMAGE_STATE_CONFLICT',
        )
      }
      await this.#reader.forget(id)
      for (const location of edit.removed) await this.removeCopy(id, location)
    }
    if (updated === null) throw this.#policy.notFound(id)
    this.#log.info({ imageId: id, projectId: ctx.projectId }, 'image updated')
    return updated
  }

  async #editLocations(
    ctx: AuthContext,
    image: Image,
    operations: PatchOperation[],
  ): Promise<LocationEdit | null> {
    if (operations.length === 0) return null
    if (!this.#config.editableLocations) {
      throw new ForbiddenError(
        'Image locations are not exposed by this service; an operator can turn on [images] show_multiple_locations.',
      )
    }
    const urlOf = (location: ImageLocation) => this.#stores.urlOf(location)
    return editLocations(image, operations, this.#urls, urlOf, ctx.isAdmin)
  }

  #applyOperation(ctx: AuthContext, image: Image, draft: Image, operation: PatchOperation): void {
    const [name, ...rest] = operation.path
    if (name === undefined || name === '') {
      throw new InvalidInputError('A patch path must name an attribute, such as /name.')
    }
    if (rest.length > 0) {
      throw new InvalidInputError(`Nested paths are not allowed: /${operation.path.join('/')}.`)
    }
    checkSettable(name, false)
    if ((name === 'disk_format' || name === 'container_format') && image.status !== 'queued') {
      throw new ForbiddenError(
        `Attribute ${name} can be only replaced for a queued image; this image is ${image.status}.`,
      )
    }
    if (name === 'owner' && !ctx.isAdmin) {
      throw new ForbiddenError('Only an admin may change the owner of an image.')
    }

    if (operation.op === 'remove') {
      removeAttribute(draft, name)
    } else if (
      operation.op === 'replace' &&
      !isBaseAttribute(name) &&
      !(name in draft.properties)
    ) {
      throw new ConflictError(`Property ${name} does not exist on image ${image.id}; use add.`)
    } else {
      setAttribute(draft, name, operation.value)
    }
  }

  async delete(ctx: AuthContext, id: string): Promise<void> {
    const image = await this.get(ctx, id)
    this.#policy.requireOwner(ctx, image, 'delete')
    if (image.protected) {
      throw new ForbiddenError(
        `Image ${id} is protected and cannot be deleted; set protected to false first.`,
      )
    }

    const deleted = await this.#repo.delete(id)
    if (deleted === null) throw this.#policy.notFound(id)
    await this.#removeData(deleted)
    for (const listener of this.#deleteListeners) {
      await listener(deleted).catch((error: unknown) =>
        this.#log.error({ imageId: id, err: error }, 'clean-up after delete failed'),
      )
    }
    this.#log.info({ imageId: id, projectId: ctx.projectId }, 'image deleted')
  }

  /** Removes one store's copy of an active image; admins only, and never the last copy. */
  async deleteFromStore(ctx: AuthContext, storeId: string, id: string): Promise<void> {
    if (!ctx.isAdmin) {
      throw new ForbiddenError('Deleting an image from one store requires the admin role.')
    }
    this.#stores.writable(storeId)
    const image = await this.get(ctx, id)
    const location = image.locations.find(
      (candidate) => candidate.store === storeId && this.#stores.isReadableHere(candidate),
    )
    if (location === undefined) {
      throw new NotFoundError(`Image ${id} has no data in store ${storeId}.`)
    }
    if (image.status !== 'active') {
      throw new ConflictError(
        `Image ${id} is ${image.status}; data can be removed from a store only when it is active.`,
        'IMAGE_STATE_CONFLICT',
      )
    }
    if (image.locations.length === 1) {
      throw new ConflictError(
        `Store ${storeId} has the only copy of image ${id}; delete the image instead.`,
      )
    }
    await this.#repo.removeLocation(id, storeId, location.host)
    await this.#reader.forget(id)
    await this.removeCopy(id, location)
    this.#log.info(
      { imageId: id, store: storeId, projectId: ctx.projectId },
      'image data removed from store',
    )
  }

  async #removeData(image: Image): Promise<void> {
    await this.#reader.forget(image.id)
    for (const location of image.locations) await this.removeCopy(image.id, location)
    if (image.locations.some((location) => !this.#stores.isReadableHere(location))) {
      await this.#replicas?.forgetRemote(image)
    }
  }

  /** Deletes one copy of the data on this host; the record no longer points at it. */
  async removeCopy(imageId: string, location: ImageLocation): Promise<void> {
    if (location.key === null || !this.#stores.isReadableHere(location)) return
    try {
      await this.#stores.writable(location.store).delete(location.key)
    } catch (error) {
      // The record no longer names this copy; the consistency check removes data without one.
      this.#log.error({ imageId, store: location.store, err: error }, 'image data not removed')
    }
  }

  /** Stores the image data and activates the image, or leaves it `queued` with nothing stored. */
  async upload(
    ctx: AuthContext,
    id: string,
    body: Readable,
    options: UploadOptions,
  ): Promise<Image> {
    const image = await this.get(ctx, id)
    this.#policy.requireOwner(ctx, image, 'upload data to')
    this.#checkUploadable(image, options.expectedSize)
    await this.checkFreeSpace(options.store ?? this.#stores.defaultId, options.expectedSize)
    const owner = image.owner ?? ctx.projectId
    const quotaBytes = await this.#quotas.checkData(owner, options.expectedSize, 'store')

    if ((await this.#repo.transition(id, ['queued'], 'saving')) === null) {
      throw new ConflictError(
        `Image ${id} is not queued for data: another upload is running or has finished.`,
        'IMAGE_STATE_CONFLICT',
      )
    }
    try {
      return await this.ingest(image, body, { ...options, quotaBytes })
    } catch (error) {
      const current = await this.#repo.get(id)
      await this.#repo.resetUpload(id)
      this.#log.info({ imageId: id, err: error }, 'upload failed; image is queued again')
      if (current !== null && current.status !== 'saving') {
        // Another host took the upload over as if this one were down, and removed its data.
        throw new ConflictError(
          `The upload of image ${id} was interrupted because another host took it over; upload the data again.`,
          'IMAGE_STATE_CONFLICT',
        )
      }
      throw error
    }
  }

  #checkUploadable(image: Image, expectedSize: number | null): void {
    if (image.status !== 'queued') {
      throw new ConflictError(
        `Image ${image.id} is ${image.status}; data can only be uploaded to a queued image.`,
        'IMAGE_STATE_CONFLICT',
      )
    }
    if (image.diskFormat === null || image.containerFormat === null) {
      throw new InvalidInputError(
        'Properties disk_format and container_format must be set before uploading data.',
      )
    }
    if (expectedSize !== null && expectedSize > this.#config.maxSizeBytes) {
      throw new ServiceError(
        'PAYLOAD_TOO_LARGE',
        `The image is ${expectedSize} bytes but the maximum image size is ${this.#config.maxSizeBytes} bytes.`,
      )
    }
  }

  /** Throws 400 for an unknown store, and 413 when the store has too little space. */
  async checkFreeSpace(storeId: string, expectedSize: number | null): Promise<void> {
    const store = this.#stores.writable(storeId)
    if (expectedSize === null) return
    const { freeBytes } = await store.capacity()
    if (expectedSize > freeBytes) {
      throw new ServiceError(
        'PAYLOAD_TOO_LARGE',
        `The image is ${expectedSize} bytes but the ${store.name} store has ${freeBytes} bytes free.`,
      )
    }
  }

  /**
   * Streams data into the store for an image that is `saving` or `importing`, then activates
   * it. On failure nothing stays in the store; the caller resets the image's status.
   */
  async ingest(image: Image, body: Readable, options: UploadOptions): Promise<Image> {
    const meter = new UploadMeter({
      inspection: this.#inspector.begin(image),
      maxSizeBytes: this.#config.maxSizeBytes,
      expectedSize: options.expectedSize,
      ...quotaOption(options.quotaBytes, 'image_size_total'),
    })
    body.on('error', (error) => meter.destroy(error))
    body.pipe(meter)

    const key = image.id
    const storeId = options.store ?? this.#stores.defaultId
    const store = this.#stores.writable(storeId)
    try {
      await store.write(key, meter, options.signal)
    } catch (error) {
      // Read and drop the rest of the body, so that the client, which may send it all before
      // it reads the reply, gets the error and can reuse the connection.
      body.unpipe(meter)
      body.resume()
      throw error
    }
    const { size, checksum, osHashValue, inspection } = meter.result

    const active = await this.#repo.activate(image.id, {
      size,
      checksum,
      osHashAlgo,
      osHashValue,
      virtualSize: inspection?.virtualSize ?? null,
      locations: [this.#stores.locationFor(storeId, key)],
    })
    if (active === null) {
      await store.delete(key)
      throw new ConflictError(
        `Image ${image.id} was deleted or changed while its data was uploading.`,
        'IMAGE_STATE_CONFLICT',
      )
    }
    this.#log.info({ imageId: image.id, store: storeId, bytesIn: size }, 'image data stored')
    return active
  }

  /**
   * Copies an active image's data into another store, checking its SHA-512 on the way, and
   * adds the location. Throws, with nothing left in the target, when the copy fails.
   */
  async copyToStore(
    image: Image,
    storeId: string,
    signal?: AbortSignal,
    open?: () => Promise<Readable>,
  ): Promise<Image> {
    const target = this.#stores.writable(storeId)
    if (image.size === null || image.locations.length === 0) {
      throw new ConflictError(`Image ${image.id} has no data to copy.`, 'IMAGE_STATE_CONFLICT')
    }
    const source =
      open === undefined
        ? await this.#stores.read(image.locations, { start: 0, end: image.size - 1 })
        : await open()
    const check = new DigestCheck(image, this.#inspector.begin(image))
    source.on('error', (error) => check.destroy(error))
    try {
      await target.write(image.id, source.pipe(check), signal)
    } catch (error) {
      // A source such as an `rbd export` process must not stay blocked on a write that failed.
      source.destroy()
      throw error
    }
    const updated = await this.#repo.addLocation(
      image.id,
      this.#stores.locationFor(storeId, image.id),
    )
    if (updated === null) {
      await target.delete(image.id)
      throw this.#policy.notFound(image.id)
    }
    this.#log.info({ imageId: image.id, store: storeId, bytesIn: image.size }, 'image copied')
    return updated
  }

  /**
   * Opens the image data, or one range of it, for reading. Returns `null` for an image without
   * data (the caller sends 204). Throws 416 for a range outside the data.
   */
  async download(
    ctx: AuthContext,
    id: string,
    range: { start: number; end: number | null } | null,
  ): Promise<ImageData | null> {
    const image = await this.get(ctx, id)
    if (image.status === 'deactivated' && !ctx.isAdmin) {
      throw new ForbiddenError(
        'The requested image has been deactivated. Image data download is forbidden.',
      )
    }
    if (image.locations.length === 0 || image.size === null) return null

    const served = resolveRange(range, image.size)
    try {
      const readable = image.locations.some((location) => this.#stores.isReadableHere(location))
      const local =
        readable || this.#replicas === null ? image : await this.#replicas.ensureLocal(image)
      const stream = await this.#reader.read(local, served)
      return { image, stream, range: served }
    } catch (error) {
      this.#log.error({ imageId: id, err: error }, 'image data unreadable')
      throw new ServiceError(
        'STORE_UNAVAILABLE',
        `The data of image ${id} cannot be read from any of its stores (${storeIds(image)}); try again later or ask an operator.`,
        { cause: error },
      )
    }
  }

  /**
   * Opens this host's copy of an active image for another host that replicates it; the peer
   * call is authenticated, so no project policy applies.
   */
  async openLocalCopy(id: string): Promise<{ stream: Readable; size: number }> {
    const image = await this.#repo.get(id)
    const here = image?.locations.filter((location) => this.#stores.isReadableHere(location))
    if (image === null || image.status !== 'active' || image.size === null || !here?.length) {
      throw new NotFoundError(`This host has no copy of image ${id}.`, 'IMAGE_NOT_FOUND')
    }
    const stream = await this.#stores.read(here, { start: 0, end: image.size - 1 })
    return { stream, size: image.size }
  }

  /** Deletes this host's copies of an image that was deleted elsewhere. */
  async dropLocalCopies(id: string): Promise<void> {
    const image = await this.#repo.get(id)
    if (image !== null) {
      throw new ConflictError(`Image ${id} still exists; only a deleted image's copies go.`)
    }
    for (const store of this.#stores.all()) {
      await store.removeIncomplete({ key: id })
      await store.delete(id)
    }
    this.#log.info({ imageId: id }, 'copies of a deleted image removed')
  }

  /** Hides an active image's data from everyone but admins; the owner or an admin may. */
  async deactivate(ctx: AuthContext, id: string): Promise<void> {
    await this.#toggleActive(ctx, id, 'deactivate', ['active', 'deactivated'], 'deactivated')
  }

  async reactivate(ctx: AuthContext, id: string): Promise<void> {
    await this.#toggleActive(ctx, id, 'reactivate', ['active', 'deactivated'], 'active')
  }

  async #toggleActive(
    ctx: AuthContext,
    id: string,
    action: string,
    from: ImageStatus[],
    to: ImageStatus,
  ): Promise<void> {
    const image = await this.get(ctx, id)
    // Glance's default policy: admins, or members of the owning project.
    this.#policy.requireOwner(ctx, image, action)
    if (!from.includes(image.status)) {
      throw new ForbiddenError(`Not allowed to ${action} image in status '${image.status}'.`)
    }
    if (image.status === to) return
    if ((await this.#repo.transition(id, [image.status], to)) === null) {
      throw new ConflictError(
        `Image ${id} changed status meanwhile; try again.`,
        'IMAGE_STATE_CONFLICT',
      )
    }
    this.#log.info({ imageId: id, projectId: ctx.projectId, status: to }, 'image status changed')
  }

  async addTag(ctx: AuthContext, id: string, tag: string): Promise<void> {
    const image = await this.get(ctx, id)
    this.#policy.requireOwner(ctx, image, 'modify')
    validateTag(tag)
    if (image.tags.includes(tag)) return
    if (image.tags.length >= limits.maxTags) {
      throw new ServiceError(
        'PAYLOAD_TOO_LARGE',
        `Image ${id} has the maximum of ${limits.maxTags} tags.`,
      )
    }
    await this.#repo.update({ ...image, tags: [...image.tags, tag] })
  }

  async deleteTag(ctx: AuthContext, id: string, tag: string): Promise<void> {
    const image = await this.get(ctx, id)
    this.#policy.requireOwner(ctx, image, 'modify')
    if (!image.tags.includes(tag)) {
      throw new NotFoundError(`Tag ${tag} not found on image ${id}.`)
    }
    await this.#repo.update({ ...image, tags: image.tags.filter((t) => t !== tag) })
  }

  async addMember(ctx: AuthContext, id: string, memberId: unknown): Promise<ImageMember> {
    const image = await this.get(ctx, id)
    this.#policy.requireOwner(ctx, image, 'share')
    if (image.visibility !== 'shared') {
      throw new ForbiddenError(
        `Only shared images have members; image ${id} is ${image.visibility}. Set its visibility to shared first.`,
      )
    }
    if (typeof memberId !== 'string' || memberId.length === 0 || memberId.length > 255) {
      throw new InvalidInputError('The request body must be {"member": "<project id>"}.')
    }
    // Such an id could never be named again in /v2/images/{id}/members/{member}.
    if (memberId === '.' || memberId === '..' || memberId.includes('/')) {
      throw new InvalidInputError(
        `'${memberId}' is not a valid project id: a member id cannot be '.', '..' or contain '/'.`,
      )
    }
    const now = new Date()
    const member: ImageMember = {
      imageId: id,
      memberId,
      status: 'pending',
      createdAt: now,
      updatedAt: now,
    }
    await this.#repo.addMember(member)
    this.#log.info({ imageId: id, projectId: ctx.projectId, member: memberId }, 'member added')
    return member
  }

  /** Owners and admins see every member; a member gets only its own membership. */
  async listMembers(ctx: AuthContext, id: string): Promise<ImageMember[]> {
    const image = await this.get(ctx, id)
    if (image.visibility !== 'shared') {
      throw new ForbiddenError(
        `Only shared images have members; image ${id} is ${image.visibility}.`,
      )
    }
    const members = await this.#repo.listMembers(id)
    if (ctx.isAdmin || this.#policy.isOwner(ctx, image)) return members
    return members.filter((member) => member.memberId === ctx.projectId)
  }

  async getMember(ctx: AuthContext, id: string, memberId: string): Promise<ImageMember> {
    const image = await this.get(ctx, id)
    const member = await this.#repo.getMember(id, memberId)
    const mayRead = ctx.isAdmin || this.#policy.isOwner(ctx, image) || memberId === ctx.projectId
    if (member === null || !mayRead) {
      throw new NotFoundError(`Project ${memberId} is not a member of image ${id}.`)
    }
    return member
  }

  /** Only the member itself may accept, reject or reset its membership. */
  async updateMember(
    ctx: AuthContext,
    id: string,
    memberId: string,
    status: unknown,
  ): Promise<ImageMember> {
    const newStatus: MemberStatus = validateMemberStatus(status)
    const member = await this.getMember(ctx, id, memberId)
    if (memberId !== ctx.projectId) {
      throw new ForbiddenError(
        `Only project ${memberId} may change its membership status; the image owner cannot.`,
      )
    }
    this.#policy.requireWriter(ctx)

    const updated = { ...member, status: newStatus, updatedAt: new Date() }
    await this.#repo.updateMember(updated)
    return updated
  }

  async deleteMember(ctx: AuthContext, id: string, memberId: string): Promise<void> {
    const image = await this.get(ctx, id)
    if (!ctx.isAdmin && !this.#policy.isOwner(ctx, image)) {
      await this.getMember(ctx, id, memberId)
      throw new ForbiddenError(`Only the owner of image ${id} may remove its members.`)
    }
    this.#policy.requireOwner(ctx, image, 'unshare')
    if (!(await this.#repo.deleteMember(id, memberId))) {
      throw new NotFoundError(`Project ${memberId} is not a member of image ${id}.`)
    }
  }

  /**
   * Removes what interrupted uploads of this host left behind, and writes left untouched
   * for a while; runs once at start-up.
   */
  async recoverInterruptedUploads(): Promise<number> {
    let removed = 0
    for (const store of this.#stores.all()) {
      removed += await store.removeIncomplete({ olderThanMs: staleWriteMs })
    }
    return removed + (await this.#resetUploads(await this.#repo.listInterruptedUploads()))
  }

  /** Returns the uploads that a host which went down left `saving` to `queued`. */
  async reclaimUploads(host: string): Promise<number> {
    return this.#resetUploads(await this.#repo.listInterruptedUploads(['saving'], host))
  }

  async #resetUploads(images: Image[]): Promise<number> {
    for (const image of images) {
      for (const store of this.#stores.all()) {
        await store.removeIncomplete({ key: image.id })
        await store.delete(image.id)
      }
      await this.#repo.resetUpload(image.id)
      this.#log.warn({ imageId: image.id }, 'interrupted upload reset to queued')
    }
    return images.length
  }
}

const baseAttributeNames = new Set([
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
])

function isBaseAttribute(name: string): boolean {
  return baseAttributeNames.has(name)
}

function emptyImage(id: string, owner: string, now: Date): Image {
  return {
    id,
    name: null,
    status: 'queued',
    visibility: 'shared',
    protected: false,
    osHidden: false,
    checksum: null,
    osHashAlgo: null,
    osHashValue: null,
    size: null,
    virtualSize: null,
    diskFormat: null,
    containerFormat: null,
    minDisk: 0,
    minRam: 0,
    owner,
    createdAt: now,
    updatedAt: now,
    tags: [],
    properties: {},
    locations: [],
  }
}

/** Builds the meter's quota option for a finite allowance; none for unlimited. */
export function quotaOption(bytes: number | undefined, name: string) {
  return bytes === undefined || bytes === Number.POSITIVE_INFINITY ? {} : { quota: { bytes, name } }
}

/** Lists the ids of the stores with the image's data, sorted, as Glance's `stores` field. */
export function storeIds(image: Image): string {
  return [...new Set(image.locations.map((location) => location.store))].sort().join(',')
}

function validateImageId(value: unknown): string {
  if (typeof value !== 'string' || !uuidPattern.test(value)) {
    throw new InvalidInputError(`Invalid id ${JSON.stringify(value)}: an image id must be a UUID.`)
  }
  return value.toLowerCase()
}

/**
 * Checks a requested range against the image size. `end: null` means to the last byte, and a
 * negative `start` requests that many bytes at the end.
 */
export function resolveRange(
  range: { start: number; end: number | null } | null,
  size: number,
): ByteRange {
  if (range === null) return { start: 0, end: size - 1 }
  if (range.start < 0) return { start: Math.max(0, size + range.start), end: size - 1 }
  const end = range.end === null ? size - 1 : Math.min(range.end, size - 1)
  if (range.start >= size || range.start > end) {
    throw new ServiceError(
      'RANGE_NOT_SATISFIABLE',
      `Requested range ${range.start}-${range.end ?? ''} is outside the image's ${size} bytes.`,
      { headers: { 'content-range': `bytes */${size}` } },
    )
  }
  return { start: range.start, end }
}

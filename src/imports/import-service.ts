import { randomUUID } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { Logger } from 'pino'
import {
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  ServiceError,
} from '../domain/errors.js'
import { quotaOption, type ImageService } from '../domain/image-service.js'
import type { Image } from '../domain/image.js'
import type {
  AuthContext,
  BlobStore,
  ImageRepository,
  ImportTask,
  TaskRepository,
} from '../domain/ports.js'
import { UploadMeter } from '../domain/upload-meter.js'
import type { ImportPipeline } from './import-pipeline.js'
import { importMethodNames, type ImportMethod } from './methods.js'
import { injectProperties } from './plugins/inject-properties.js'

/**
 * The source of web-download data. The implementation enforces the operator's URL policy when
 * the import runs, so a rejected host shows as a failed import, as Glance reports unreachable
 * URLs. The import call itself only checks that the URL is well formed.
 */
export interface WebSource {
  /** Opens the URL; the stream fails with a readable message when a limit trips. */
  open(
    url: string,
    options: { signal?: AbortSignal },
  ): Promise<{ stream: Readable; size: number | null }>
}

export interface ImportServiceDeps {
  images: ImageService
  repo: ImageRepository
  tasks: TaskRepository
  /** Store for staged data waiting for its import; never served to clients. */
  staging: BlobStore
  maxSizeBytes: number
  /** The methods offered, in the order `/v2/info/import` lists them. */
  methods: readonly ImportMethod[]
  /** `null` turns web-download off, whatever `methods` lists. */
  web: WebSource | null
  /** Decompression and conversion of glance-direct and web-download data. */
  pipeline: ImportPipeline
  /** Operator-defined properties that imports add; `null` when the plugin is off. */
  inject: { properties: Record<string, string>; ignoreRoles: string[] } | null
  log: Logger
}

/** The steps of one import: the method, the target stores in order, and the failure rule. */
interface ImportPlan {
  method: ImportMethod
  stores: string[]
  allMustSucceed: boolean
  uri: string | null
  /** Properties that the import adds to the image once its data is stored. */
  inject: Record<string, string>
}

/** Properties through which Glance reports an import's progress on the image. */
const importingProperty = 'os_glance_importing_to_stores'
const importLockProperty = 'os_glance_import_task'
const taskListLimit = 1000
const failedProperty = 'os_glance_failed_import'

/**
 * Glance's interoperable import. glance-direct imports staged data (the image goes from
 * `uploading` to `importing`), web-download fetches a URL (`queued` to `importing`), and
 * copy-image copies an active image into more stores. Each import is a task that runs in the
 * background and resumes after a restart. Data goes to the first target store, which makes the
 * image `active`, then is copied to the others; `os_glance_importing_to_stores` and
 * `os_glance_failed_import` show the progress. A failed import returns the image to `queued`
 * with no data, unless it was a copy, which leaves the image as it was.
 */
export class ImportService {
  readonly #deps: ImportServiceDeps
  readonly #methods: ImportMethod[]
  readonly #running = new Set<Promise<void>>()
  /** Aborted at shutdown: running imports stop where they are and resume at the next start. */
  readonly #stopping = new AbortController()

  constructor(deps: ImportServiceDeps) {
    this.#deps = deps
    deps.images.onDelete(async (image) => {
      if (image.status === 'uploading' || image.status === 'importing') {
        await deps.staging.delete(image.id)
      }
    })
    this.#methods = deps.methods.filter((method) => method !== 'web-download' || deps.web !== null)
  }

  get methods(): readonly ImportMethod[] {
    return this.#methods
  }

  /** Stores data in the staging area; the image goes from `queued` to `uploading`. */
  async stage(ctx: AuthContext, id: string, body: Readable, expectedSize: number | null) {
    const { images, repo, staging } = this.#deps
    const image = await images.get(ctx, id)
    images.policy.requireOwner(ctx, image, 'stage data for')
    const owner = image.owner ?? ctx.projectId
    const quotaBytes = await images.quotas.checkData(owner, expectedSize, 'stage')
    if ((await repo.transition(id, ['queued'], 'uploading')) === null) {
      throw new ConflictError(
        `Image ${id} is ${image.status}; data can only be staged for a queued image.`,
        'IMAGE_STATE_CONFLICT',
      )
    }
    try {
      const meter = new UploadMeter({
        inspection: null,
        maxSizeBytes: this.#deps.maxSizeBytes,
        expectedSize,
        ...quotaOption(quotaBytes, 'image_stage_total'),
      })
      body.on('error', (error) => meter.destroy(error))
      body.pipe(meter)
      const { size } = await staging.write(id, meter).catch((error: unknown) => {
        body.unpipe(meter)
        body.resume()
        throw error
      })
      await repo.setStagedSize(id, size)
    } catch (error) {
      await repo.resetUpload(id)
      throw error
    }
  }

  /**
   * Checks the request, moves the image to its importing status, records the task and starts
   * it; resolves with the task. `headerStore` is the `X-Image-Meta-Store` header, if any.
   */
  async start(
    ctx: AuthContext,
    id: string,
    request: Record<string, unknown>,
    requestId: string,
    headerStore: string | null = null,
  ): Promise<ImportTask> {
    const { images, repo, tasks } = this.#deps
    const method = this.#methodOf(request)
    const image = await images.get(ctx, id)
    if (method === 'copy-image') {
      if (!ctx.isAdmin) throw new ForbiddenError('copy-image requires the admin role.')
    } else {
      images.policy.requireOwner(ctx, image, 'import')
    }
    const plan = this.#plan(method, request, image, headerStore)
    const inject = this.#deps.inject
    if (inject !== null && method !== 'copy-image') {
      plan.inject = injectProperties({}, inject.properties, {
        userRoles: ctx.roles,
        ignoreUserRoles: inject.ignoreRoles,
      })
    }
    if (method !== 'copy-image') {
      const staged = method === 'glance-direct' ? image.size : null
      const owner = image.owner ?? ctx.projectId
      await images.quotas.checkData(owner, staged, 'store', method === 'web-download')
    }

    const task = newTask(ctx, image, requestId, request, plan)
    await this.#enter(image, plan, task)
    try {
      await tasks.create(task)
    } catch (error) {
      await this.#leave(image, plan, task)
      throw error
    }
    await repo.setProperties(id, {
      [importingProperty]: plan.stores.join(','),
      [failedProperty]: '',
    })
    this.#launch(task, plan)
    return task
  }

  /** The status change or lock that keeps a second import of the image out. */
  /**
   * Takes the image's import lock, which every import holds until it ends, so that a copy
   * cannot start while an import still copies to its other stores. glance-direct and
   * web-download also move the image to `importing`.
   */
  async #enter(image: Image, plan: ImportPlan, task: ImportTask): Promise<void> {
    const { repo } = this.#deps
    if (plan.method === 'copy-image' && image.status !== 'active') {
      throw new ConflictError(
        `Image ${image.id} is ${image.status}; copy-image needs an active image.`,
        'IMAGE_STATE_CONFLICT',
      )
    }
    if (
      plan.method !== 'copy-image' &&
      (image.diskFormat === null || image.containerFormat === null)
    ) {
      throw new InvalidInputError('Set disk_format and container_format before importing.')
    }
    if (!(await this.#lock(image, task))) {
      throw new ConflictError(
        `Image ${image.id} has an import running; wait for it to finish.`,
        'IMAGE_STATE_CONFLICT',
      )
    }
    if (plan.method === 'copy-image') return
    const from = plan.method === 'glance-direct' ? 'uploading' : 'queued'
    if ((await repo.transition(image.id, [from], 'importing')) === null) {
      await repo.unlockImport(image.id, task.id)
      const needs = from === 'uploading' ? 'staged data (status uploading)' : 'a queued image'
      throw new ConflictError(
        `Image ${image.id} is ${image.status}; ${plan.method} needs ${needs}.`,
        'IMAGE_STATE_CONFLICT',
      )
    }
  }

  /** Takes the import lock, first releasing one that a finished or lost task left behind. */
  async #lock(image: Image, task: ImportTask): Promise<boolean> {
    const { repo, tasks, log } = this.#deps
    if (await repo.lockImport(image.id, task.id)) return true
    const holder = (await repo.get(image.id))?.properties[importLockProperty]
    if (holder === undefined) return repo.lockImport(image.id, task.id)
    const holding = await tasks.get(holder)
    if (holding !== null && (holding.status === 'processing' || holding.status === 'pending')) {
      return false
    }
    log.warn({ imageId: image.id }, 'released an import lock that a finished task left')
    await repo.unlockImport(image.id, holder)
    return repo.lockImport(image.id, task.id)
  }

  async #leave(image: Image, plan: ImportPlan, task: ImportTask): Promise<void> {
    const { repo } = this.#deps
    if (plan.method !== 'copy-image') {
      const back = plan.method === 'glance-direct' ? 'uploading' : 'queued'
      await repo.transition(image.id, ['importing'], back)
    }
    await repo.unlockImport(image.id, task.id)
  }

  /** Lists an image's import tasks, whose input may hold URLs: for its owner and admins. */
  async tasksOf(ctx: AuthContext, id: string): Promise<ImportTask[]> {
    const { images } = this.#deps
    const image = await images.get(ctx, id)
    if (!ctx.isAdmin && !images.policy.isOwner(ctx, image)) {
      throw new ForbiddenError(`Only the owner of image ${id} may read its import tasks.`)
    }
    return this.#deps.tasks.listForImage(id)
  }

  /** Lists the tasks of the caller's project, newest first; an admin gets every task. */
  async listTasks(ctx: AuthContext): Promise<ImportTask[]> {
    return this.#deps.tasks.list(ctx.isAdmin ? null : ctx.projectId, taskListLimit)
  }

  async getTask(ctx: AuthContext, id: string): Promise<ImportTask> {
    const task = await this.#deps.tasks.get(id)
    if (task === null || (!ctx.isAdmin && task.owner !== ctx.projectId)) {
      throw new NotFoundError(`Task ${id} not found.`)
    }
    return task
  }

  /** Interrupts the running imports, leaving their tasks to resume at the next start. */
  async stop(): Promise<void> {
    this.#stopping.abort(new Error('the service is stopping'))
    await Promise.allSettled([...this.#running])
  }

  #launch(task: ImportTask, plan: ImportPlan): void {
    const run = this.#run(task, plan)
      .catch((error: unknown) =>
        this.#deps.log.error({ imageId: task.imageId, err: error }, 'import task failed to end'),
      )
      .finally(() => this.#running.delete(run))
    this.#running.add(run)
  }

  async #run(task: ImportTask, plan: ImportPlan): Promise<void> {
    const { images, repo, staging, tasks, log } = this.#deps
    const signal = this.#stopping.signal
    const progress = new Progress(repo, task.imageId, plan.stores)
    let image = await repo.get(task.imageId)
    try {
      if (image === null) throw new ServiceError('IMAGE_NOT_FOUND', 'The image was deleted.')
      const present = new Set(image.locations.map((location) => location.store))
      for (const store of plan.stores.filter((id) => present.has(id))) await progress.done(store)

      if (image.status === 'importing') {
        // Set before the data, so that the image turns active with its injected properties.
        if (Object.keys(plan.inject).length > 0) {
          await repo.setProperties(image.id, plan.inject)
          image = (await repo.get(image.id)) ?? image
        }
        image = await this.#ingest(image, plan, progress)
      }
      for (const store of progress.remaining) {
        try {
          image = await images.copyToStore(image, store, signal)
          await progress.done(store)
        } catch (error) {
          log.warn({ imageId: image.id, store, err: error }, 'copy to store failed')
          await progress.failed(store)
          if (plan.allMustSucceed) throw error
        }
      }
      await tasks.finish(task.id, 'success', '', { image_id: image.id, stores: plan.stores })
      log.info({ imageId: image.id, op: plan.method }, 'image import finished')
    } catch (error) {
      if (signal.aborted) {
        log.warn({ imageId: task.imageId, op: plan.method }, 'import interrupted by shutdown')
        return
      }
      const message = failureMessage(error, plan)
      log.info({ imageId: task.imageId, op: plan.method, err: error }, 'image import failed')
      await progress.failAll()
      if (image !== null) await this.#undo(image, plan, task)
      await tasks.finish(task.id, 'failure', message, null)
    }
    await repo.unlockImport(task.imageId, task.id)
    if (plan.method !== 'copy-image') await staging.delete(task.imageId)
  }

  /** Brings the data in through the first store that takes it; the image becomes active. */
  async #ingest(image: Image, plan: ImportPlan, progress: Progress): Promise<Image> {
    let lastError: unknown = null
    for (const store of progress.remaining) {
      try {
        const signal = this.#stopping.signal
        const { images, pipeline } = this.#deps
        const prepared = await pipeline.prepare(
          image,
          await this.#open(image, plan, signal),
          signal,
        )
        let active: Image
        try {
          const owner = image.owner ?? ''
          const quotaBytes = await images.quotas
            .checkData(owner, prepared.size, 'store', false)
            .catch((error: unknown) => {
              prepared.stream.destroy()
              throw error
            })
          active = await images.ingest(prepared.image, prepared.stream, {
            expectedSize: prepared.size,
            store,
            signal,
            quotaBytes,
          })
        } finally {
          await prepared.cleanup()
        }
        await progress.done(store)
        return active
      } catch (error) {
        lastError = error
        if (this.#stopping.signal.aborted) break
        await progress.failed(store)
        if (plan.allMustSucceed) break
      }
    }
    throw lastError
  }

  async #open(
    image: Image,
    plan: ImportPlan,
    signal: AbortSignal,
  ): Promise<{ stream: Readable; size: number | null }> {
    if (plan.method === 'web-download') return this.#deps.web!.open(plan.uri!, { signal })
    const { staging } = this.#deps
    const { size } = await staging.stat(image.id)
    return { stream: await staging.read(image.id), size }
  }

  /** After a failure: a copy keeps the image as it was, other imports leave it `queued`. */
  async #undo(image: Image, plan: ImportPlan, task: ImportTask): Promise<void> {
    const { images, repo } = this.#deps
    const current = (await repo.get(image.id)) ?? image
    if (plan.method === 'copy-image') {
      if (!plan.allMustSucceed) return
      // The import lock kept other imports out, so the targets that gained a copy since the
      // task began gained it from this task.
      const before = new Set(task.input.stores_before as string[] | undefined)
      for (const location of current.locations) {
        if (before.has(location.store) || !plan.stores.includes(location.store)) continue
        await repo.removeLocation(image.id, location.store)
        await images.removeCopy(image.id, location)
      }
      return
    }
    await repo.resetUpload(image.id, ['importing', 'active'])
    for (const location of current.locations) await images.removeCopy(image.id, location)
  }

  #methodOf(request: Record<string, unknown>): ImportMethod {
    const method = request.method as { name?: unknown } | undefined
    const name = method?.name
    const offered = this.#methods.join(', ')
    if (typeof name !== 'string') {
      throw new InvalidInputError(
        `The import request needs {"method": {"name": ...}}; methods offered: ${offered}.`,
      )
    }
    if (!(this.#methods as string[]).includes(name)) {
      throw new InvalidInputError(
        `Import method ${name} is not offered; methods offered: ${offered}.`,
      )
    }
    return name as ImportMethod
  }

  #plan(
    method: ImportMethod,
    request: Record<string, unknown>,
    image: Image,
    headerStore: string | null,
  ): ImportPlan {
    const stores = this.#deps.images.stores
    const allStores = request.all_stores
    const listed = request.stores
    const mustSucceed = request.all_stores_must_succeed
    if (allStores !== undefined && typeof allStores !== 'boolean') {
      throw new InvalidInputError('all_stores must be true or false.')
    }
    if (mustSucceed !== undefined && typeof mustSucceed !== 'boolean') {
      throw new InvalidInputError('all_stores_must_succeed must be true or false.')
    }
    if (listed !== undefined && listed !== null) {
      if (!Array.isArray(listed) || !listed.every((item) => typeof item === 'string')) {
        throw new InvalidInputError('stores must be a list of store ids.')
      }
      if (allStores === true) {
        throw new InvalidInputError('Give either stores or all_stores=true, not both.')
      }
    }

    const present = new Set(image.locations.map((location) => location.store))
    let targets: string[]
    if (allStores === true) {
      const writable = stores.list().filter((info) => !info.readOnly)
      targets = writable.map((info) => info.id).filter((id) => !present.has(id))
    } else if (Array.isArray(listed)) {
      targets = [...new Set(listed as string[])]
    } else if (headerStore !== null) {
      targets = [headerStore]
    } else if (method === 'copy-image') {
      throw new InvalidInputError('copy-image needs the target stores: stores or all_stores.')
    } else {
      targets = [stores.defaultId]
    }
    for (const id of targets) {
      stores.writable(id)
      if (method === 'copy-image' && present.has(id)) {
        throw new ConflictError(`Image ${image.id} is already in store ${id}.`)
      }
    }
    if (targets.length === 0 && Array.isArray(listed)) {
      throw new InvalidInputError('stores is empty; name at least one store or use all_stores.')
    }
    if (targets.length === 0) {
      throw new ConflictError(`Image ${image.id} is already in every store.`)
    }

    let uri: string | null = null
    if (method === 'web-download') {
      uri = checkWebUri((request.method as { uri?: unknown }).uri)
    }
    return { method, stores: targets, allMustSucceed: mustSucceed !== false, uri, inject: {} }
  }

  /**
   * Resumes the imports a restart interrupted, and puts images whose import cannot resume
   * where a client can retry. Returns how many images it touched.
   */
  async recover(): Promise<number> {
    const { repo, staging, tasks } = this.#deps
    const removed = await staging.removeIncomplete()
    const unfinished = await tasks.listUnfinished()
    const left = await repo.listInterruptedUploads(['uploading', 'importing'])
    return removed + (await this.#resume(unfinished, left, 'a restart'))
  }

  /**
   * Takes over the imports of a host that went down: resumes the web-download and
   * copy-image tasks here, and returns images whose staged data was on that host to `queued`.
   * Each task goes to one host only, whichever adopts it first.
   */
  async adoptFrom(host: string): Promise<number> {
    const { repo, tasks } = this.#deps
    const adopted: ImportTask[] = []
    for (const task of await tasks.listUnfinished(host)) {
      if (await tasks.adopt(task.id, host)) adopted.push(task)
    }
    const left = await repo.listInterruptedUploads(['uploading', 'importing'], host)
    return this.#resume(adopted, left, `the loss of host ${host}`)
  }

  async #resume(unfinished: ImportTask[], left: Image[], cause: string): Promise<number> {
    const { repo, tasks, log } = this.#deps
    let touched = 0
    const resumed = new Set<string>()
    for (const task of unfinished) {
      const plan = planOf(task)
      const image = await repo.get(task.imageId)
      const resumable =
        image !== null &&
        (plan.method === 'copy-image'
          ? image.status === 'active'
          : image.status === 'active' ||
            (image.status === 'importing' && (await this.#hasSource(image, plan))))
      if (!resumable) {
        await tasks.finish(task.id, 'failure', `The import was interrupted by ${cause}.`, null)
        if (image !== null) await this.#undo(image, plan, task)
        await repo.unlockImport(task.imageId, task.id)
        continue
      }
      resumed.add(task.imageId)
      touched++
      log.warn({ imageId: task.imageId, op: plan.method }, `resuming an import after ${cause}`)
      this.#launch(task, plan)
    }

    for (const image of left) {
      if (resumed.has(image.id)) continue
      const staged = await this.#isStaged(image.id)
      if (image.status === 'importing' && staged) {
        await repo.transition(image.id, ['importing'], 'uploading')
      } else if (!staged) {
        await repo.resetUpload(image.id)
      } else {
        continue
      }
      touched++
      log.warn({ imageId: image.id, status: image.status }, `import reset after ${cause}`)
    }
    return touched
  }

  async #hasSource(image: Image, plan: ImportPlan): Promise<boolean> {
    return plan.method === 'web-download' || this.#isStaged(image.id)
  }

  #isStaged(id: string): Promise<boolean> {
    return this.#deps.staging.stat(id).then(
      () => true,
      () => false,
    )
  }
}

/** Keeps the image's progress properties in step with the import. */
class Progress {
  readonly #repo: ImageRepository
  readonly #imageId: string
  readonly #remaining: string[]
  readonly #failed: string[] = []

  constructor(repo: ImageRepository, imageId: string, stores: string[]) {
    this.#repo = repo
    this.#imageId = imageId
    this.#remaining = [...stores]
  }

  get remaining(): string[] {
    return [...this.#remaining]
  }

  async done(store: string): Promise<void> {
    this.#drop(store)
    await this.#save()
  }

  async failed(store: string): Promise<void> {
    this.#drop(store)
    if (!this.#failed.includes(store)) this.#failed.push(store)
    await this.#save()
  }

  /** Marks every store not yet done as failed. */
  async failAll(): Promise<void> {
    for (const store of this.remaining) this.#failed.push(store)
    this.#remaining.length = 0
    await this.#save()
  }

  #drop(store: string): void {
    const at = this.#remaining.indexOf(store)
    if (at >= 0) this.#remaining.splice(at, 1)
  }

  #save(): Promise<void> {
    return this.#repo.setProperties(this.#imageId, {
      [importingProperty]: this.#remaining.join(','),
      [failedProperty]: this.#failed.join(','),
    })
  }
}

/** Checks that a web-download URL is well formed; the host policy applies when it runs. */
function checkWebUri(value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    throw new InvalidInputError('web-download needs the data URL in method.uri.')
  }
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new InvalidInputError('method.uri is not a valid URL.')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidInputError(`web-download fetches http and https URLs, not ${url.protocol}.`)
  }
  if (url.username !== '' || url.password !== '') {
    throw new InvalidInputError('web-download URLs may not carry a user name or password.')
  }
  return value
}

function failureMessage(error: unknown, plan: ImportPlan): string {
  if (error instanceof ServiceError) return error.message
  if (plan.method === 'web-download' && error instanceof Error) {
    return `web-download failed: ${error.message}`
  }
  return `The ${plan.method} import failed; the service log has the details.`
}

/** Rebuilds an import's plan from its task record, to resume it. */
function planOf(task: ImportTask): ImportPlan {
  const request = (task.input.import_req ?? {}) as Record<string, unknown>
  const method = (request.method ?? {}) as { name?: string; uri?: string }
  return {
    method: (importMethodNames as readonly string[]).includes(method.name ?? '')
      ? (method.name as ImportMethod)
      : 'glance-direct',
    stores: (task.input.backend as string[] | undefined) ?? [],
    allMustSucceed: request.all_stores_must_succeed !== false,
    uri: method.uri ?? null,
    inject: (task.input.inject_properties as Record<string, string> | undefined) ?? {},
  }
}

function newTask(
  ctx: AuthContext,
  image: Image,
  requestId: string,
  request: Record<string, unknown>,
  plan: ImportPlan,
): ImportTask {
  const now = new Date()
  return {
    id: randomUUID(),
    imageId: image.id,
    owner: image.owner ?? ctx.projectId,
    userId: ctx.userId,
    requestId,
    status: 'processing',
    input: {
      image_id: image.id,
      import_req: request,
      backend: plan.stores,
      stores_before: image.locations.map((location) => location.store),
      inject_properties: plan.inject,
    },
    result: null,
    message: '',
    createdAt: now,
    updatedAt: now,
  }
}

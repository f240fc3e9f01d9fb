import { randomUUID } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { Logger } from 'pino'
import { ConflictError, InvalidInputError, ServiceError } from '../domain/errors.js'
import type { ImageService } from '../domain/image-service.js'
import type { Image } from '../domain/image.js'
import type {
  AuthContext,
  BlobStore,
  ImageRepository,
  ImportTask,
  TaskRepository,
} from '../domain/ports.js'
import { UploadMeter } from '../domain/upload-meter.js'

/** Import methods this service implements. */
export const importMethods = ['glance-direct'] as const

export interface ImportServiceDeps {
  images: ImageService
  repo: ImageRepository
  tasks: TaskRepository
  /** Store for staged data waiting for its import; never served to clients. */
  staging: BlobStore
  maxSizeBytes: number
  log: Logger
}

/**
 * Glance's interoperable import, glance-direct method: the client stages the data (the image
 * becomes `uploading`), then requests the import (`importing`), which a background task turns
 * into an `active` image. A failed import returns the image to `queued` and removes its data.
 */
export class ImportService {
  readonly #deps: ImportServiceDeps

  constructor(deps: ImportServiceDeps) {
    this.#deps = deps
  }

  /** Stores data in the staging area; the image goes from `queued` to `uploading`. */
  async stage(ctx: AuthContext, id: string, body: Readable, expectedSize: number | null) {
    const { images, repo, staging } = this.#deps
    const image = await images.get(ctx, id)
    images.policy.requireOwner(ctx, image, 'stage data for')
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
      })
      body.on('error', (error) => meter.destroy(error))
      body.pipe(meter)
      await staging.write(id, meter).catch((error: unknown) => {
        body.unpipe(meter)
        body.resume()
        throw error
      })
    } catch (error) {
      await repo.resetUpload(id)
      throw error
    }
  }

  /** Starts the import of staged data; resolves with the task once it is recorded. */
  async start(
    ctx: AuthContext,
    id: string,
    request: Record<string, unknown>,
    requestId: string,
  ): Promise<ImportTask> {
    const { images, repo, tasks } = this.#deps
    const method = methodName(request)
    const image = await images.get(ctx, id)
    images.policy.requireOwner(ctx, image, 'import')
    if (image.diskFormat === null || image.containerFormat === null) {
      throw new InvalidInputError('Set disk_format and container_format before importing.')
    }
    const importing = await repo.transition(id, ['uploading'], 'importing')
    if (importing === null) {
      throw new ConflictError(
        `Image ${id} is ${image.status}; glance-direct needs staged data (status uploading).`,
        'IMAGE_STATE_CONFLICT',
      )
    }

    const task = newTask(ctx, importing, requestId, request, method)
    await tasks.create(task)
    this.#run(task, importing).catch((error: unknown) =>
      this.#deps.log.error({ imageId: id, err: error }, 'import task failed to record its end'),
    )
    return task
  }

  async tasksOf(ctx: AuthContext, id: string): Promise<ImportTask[]> {
    await this.#deps.images.get(ctx, id)
    return this.#deps.tasks.listForImage(id)
  }

  async #run(task: ImportTask, image: Image): Promise<void> {
    const { images, repo, staging, tasks, log } = this.#deps
    try {
      const { size } = await staging.stat(image.id)
      const data = await staging.read(image.id)
      const active = await images.ingest(image, data, { expectedSize: size })
      await staging.delete(image.id)
      await tasks.finish(task.id, 'success', '', { image_id: image.id })
      log.info({ imageId: image.id, bytesIn: active.size }, 'image imported')
    } catch (error) {
      const message = error instanceof ServiceError ? error.message : 'The import failed.'
      log.info({ imageId: image.id, err: error }, 'image import failed; image is queued again')
      await staging.delete(image.id)
      await repo.resetUpload(image.id)
      await tasks.finish(task.id, 'failure', message, null)
    }
  }

  /** Puts images whose import a crash interrupted back where a client can retry. */
  async recover(): Promise<number> {
    const { repo, staging, log } = this.#deps
    const images = await repo.listInterruptedUploads(['uploading', 'importing'])
    let reset = 0
    for (const image of images) {
      const staged = await staging.stat(image.id).then(
        () => true,
        () => false,
      )
      if (image.status === 'importing' && staged) {
        await repo.transition(image.id, ['importing'], 'uploading')
      } else if (!staged) {
        await repo.resetUpload(image.id)
      } else {
        continue
      }
      reset++
      log.warn({ imageId: image.id, status: image.status }, 'interrupted import reset')
    }
    return reset + (await staging.removeIncomplete())
  }
}

function methodName(request: Record<string, unknown>): (typeof importMethods)[number] {
  const method = request.method as { name?: unknown } | undefined
  const name = method?.name
  if (typeof name !== 'string') {
    throw new InvalidInputError('The import request needs {"method": {"name": "glance-direct"}}.')
  }
  if (!(importMethods as readonly string[]).includes(name)) {
    throw new InvalidInputError(
      `Import method ${name} is not supported; available: ${importMethods.join(', ')}.`,
    )
  }
  return name as (typeof importMethods)[number]
}

function newTask(
  ctx: AuthContext,
  image: Image,
  requestId: string,
  request: Record<string, unknown>,
  method: string,
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
      import_req: { ...request, method: { name: method } },
      backend: [],
    },
    result: null,
    message: '',
    createdAt: now,
    updatedAt: now,
  }
}

import type { Readable } from 'node:stream'
import type { Logger } from 'pino'
import { InvalidInputError } from '../domain/errors.js'
import type { Image } from '../domain/image.js'
import type { BlobStore, ByteRange, ImageReader, ImageStores } from '../domain/ports.js'
import { DigestCheck } from '../hashing/digest-check.js'

export interface ImageCacheConfig {
  /** The cache never keeps more than this many bytes; least recently used images go first. */
  maxBytes: number
  /** A queued image is fetched once it has waited this long, as Glance's prefetcher does. */
  prefetchIntervalMs: number
}

interface CacheEntry {
  size: number
  hits: number
  lastAccessed: number
  cachedAt: number
}

export interface CacheListing {
  cached: {
    imageId: string
    hits: number
    lastAccessed: number
    lastModified: number
    size: number
  }[]
  queued: string[]
}

export const clearTargets = ['cache', 'queue'] as const

/**
 * A per-host cache of image data in front of the image stores, for stores that are remote (and
 * to serve Glance's cache API). Reads of cached images come from the local copy and count as
 * hits; other reads go to the stores. Images enter the cache when an admin queues them; a copy
 * is published only after its SHA-512 matches the image's `os_hash_value`.
 *
 * NOTE: hit counts and access times live in memory, so the service empties the cache directory
 * at start-up, and images are fetched again when queued.
 */
export class ImageCache implements ImageReader {
  readonly #stores: ImageStores
  readonly #local: BlobStore
  readonly #config: ImageCacheConfig
  readonly #log: Logger
  readonly #entries = new Map<string, CacheEntry>()
  readonly #queue = new Map<string, { image: Image; queuedAt: number }>()
  #timer: NodeJS.Timeout | null = null
  #working = false

  constructor(stores: ImageStores, local: BlobStore, config: ImageCacheConfig, log: Logger) {
    this.#stores = stores
    this.#local = local
    this.#config = Object.freeze({ ...config })
    this.#log = log.child({ component: 'cache' })
  }

  /** Removes what an earlier run left in the cache directory and starts the prefetcher. */
  async start(): Promise<void> {
    await this.#local.removeIncomplete()
    this.#timer = setInterval(
      () => {
        this.#prefetch().catch((error: unknown) =>
          this.#log.error({ err: error }, 'cache prefetch failed'),
        )
      },
      Math.max(100, this.#config.prefetchIntervalMs / 2),
    )
    this.#timer.unref()
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer)
  }

  list(): CacheListing {
    return {
      cached: [...this.#entries].map(([imageId, e]) => ({
        imageId,
        hits: e.hits,
        lastAccessed: e.lastAccessed,
        lastModified: e.cachedAt,
        size: e.size,
      })),
      queued: [...this.#queue.keys()],
    }
  }

  /** Queues an active image for caching; throws 400 for an image without data. */
  queue(image: Image): void {
    if (image.status !== 'active' || image.locations.length === 0 || image.size === null) {
      throw new InvalidInputError(
        `Image ${image.id} is ${image.status}; only active images can be cached.`,
      )
    }
    if (this.#entries.has(image.id)) return
    this.#queue.set(image.id, { image, queuedAt: Date.now() })
  }

  /** Removes one image from the cache and the queue. */
  async evict(imageId: string): Promise<void> {
    this.#queue.delete(imageId)
    if (this.#entries.delete(imageId)) await this.#local.delete(imageId)
  }

  async clear(target: (typeof clearTargets)[number] | null): Promise<void> {
    if (target !== 'cache') this.#queue.clear()
    if (target === 'queue') return
    for (const imageId of [...this.#entries.keys()]) await this.evict(imageId)
  }

  async #prefetch(): Promise<void> {
    if (this.#working) return
    this.#working = true
    try {
      const due = Date.now() - this.#config.prefetchIntervalMs
      for (const [imageId, { image, queuedAt }] of [...this.#queue]) {
        if (queuedAt > due) continue
        await this.#fetch(image)
        this.#queue.delete(imageId)
      }
    } finally {
      this.#working = false
    }
  }

  async #fetch(image: Image): Promise<void> {
    const key = image.id
    const check = new DigestCheck(image)
    try {
      const source = await this.#stores.read(image.locations, { start: 0, end: image.size! - 1 })
      source.on('error', (error) => check.destroy(error))
      const { size } = await this.#local.write(key, source.pipe(check))
      const now = Date.now()
      this.#entries.set(key, { size, hits: 0, lastAccessed: now, cachedAt: now })
      this.#log.info({ imageId: image.id, bytesIn: size }, 'image cached')
      await this.#prune()
    } catch (error) {
      this.#log.warn({ imageId: image.id, err: error }, 'image not cached')
    }
  }

  /** Evicts least recently used images until the cache fits its limit. */
  async #prune(): Promise<void> {
    let total = [...this.#entries.values()].reduce((sum, e) => sum + e.size, 0)
    const byAge = [...this.#entries].sort((a, b) => a[1].lastAccessed - b[1].lastAccessed)
    for (const [imageId, entry] of byAge) {
      if (total <= this.#config.maxBytes) break
      await this.evict(imageId)
      total -= entry.size
      this.#log.info({ imageId, size: entry.size }, 'image evicted from cache')
    }
  }

  async read(image: Image, range: ByteRange): Promise<Readable> {
    const entry = this.#entries.get(image.id)
    if (entry === undefined) return this.#stores.read(image.locations, range)
    entry.hits++
    entry.lastAccessed = Date.now()
    return this.#local.read(image.id, range)
  }

  forget(imageId: string): Promise<void> {
    return this.evict(imageId)
  }
}

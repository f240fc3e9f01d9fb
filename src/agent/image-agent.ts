import { setMaxListeners } from 'node:events'
import { mkdir, statfs, stat } from 'node:fs/promises'
import type { Logger } from 'pino'
import { CliError, HttpError } from '../cli/errors.js'
import { isUuidLike } from '../cli/image-lookup.js'
import { AgentError } from './agent-error.js'
import { CacheDirectory, type CachedImage } from './cache-directory.js'
import { DiskRegistry, type VmDiskFormat } from './disk-registry.js'
import { downloadImage, DownloadRejected, verifyFile } from './image-download.js'
import { imageFacts, type ImageFacts, type LibraryClient } from './library-client.js'
import { MetricsRegistry } from './metrics.js'
import { TokenBucket } from './throttle.js'
import { formatBytes } from '../cli/transfer.js'
import type { CacheLimit } from './sizes.js'

export interface AgentConfig {
  /** The cache directory; see CacheDirectory for its layout. */
  cacheDir: string
  limit: CacheLimit
  /** Bytes per second for all background pre-cache downloads together; Infinity for no limit. */
  precacheRate: number
  /** A hit hashes the copy again when its last full check is older than this. */
  verifyIntervalMs: number
  /** An image handed out stays unevictable this long, so the caller can make its disk. */
  holdMs: number
  /** Download attempts, across library hosts, before a network failure is final. */
  maxAttempts: number
  retryDelayMs: number
  /** The default kind of disk for `disk create`: a qcow2 overlay or a raw copy. */
  diskFormat: VmDiskFormat
  /** How often changed hit counts are written to `usage.json`; one minute by default. */
  usageSaveIntervalMs?: number
}

/** The result of a fetch: a verified local copy and how it was obtained. */
export interface FetchResult {
  image: ImageFacts
  path: string
  /** `hit`: from the cache; `miss`: downloaded; `joined`: waited for another fetch's download. */
  result: 'hit' | 'miss' | 'joined'
  bytesFetched: number
  sources: string[]
}

interface Download {
  promise: Promise<{ entry: CachedImage; bytesFetched: number; sources: string[] }>
  /** True while only background pre-caching waits for it, which runs at the limited rate. */
  background: boolean
  size: number
}

/**
 * The hypervisor's image cache, which hands out verified local copies of library images. Each
 * image is downloaded once, however many callers request it at the same time. Eviction takes
 * the least recently used copies that no VM disk, fetch or recent caller uses.
 */
export class ImageAgent {
  readonly directory: CacheDirectory
  readonly disks: DiskRegistry
  readonly metrics = createAgentMetrics()
  readonly #library: LibraryClient
  readonly #config: AgentConfig
  readonly #log: Logger
  readonly #downloads = new Map<string, Download>()
  readonly #verifications = new Map<string, Promise<boolean>>()
  readonly #users = new Map<string, number>()
  readonly #heldUntil = new Map<string, number>()
  readonly #abort = new AbortController()
  readonly #precacheBucket = new TokenBucket()
  #usageTimer: NodeJS.Timeout | undefined

  private constructor(
    directory: CacheDirectory,
    disks: DiskRegistry,
    library: LibraryClient,
    config: AgentConfig,
    log: Logger,
  ) {
    this.directory = directory
    this.disks = disks
    this.#library = library
    this.#config = Object.freeze({ ...config })
    this.#log = log
    // Every running download listens on this signal, and more than 10 at once would make Node
    // print a listener leak warning outside the JSON log.
    setMaxListeners(0, this.#abort.signal)
  }

  static async open(config: AgentConfig, library: LibraryClient, log: Logger): Promise<ImageAgent> {
    await mkdir(config.cacheDir, { recursive: true, mode: 0o755 })
    // The registry comes first, so that loading the cache keeps a broken copy that is a base.
    const disks = await DiskRegistry.open(config.cacheDir, log)
    const directory = await CacheDirectory.open(
      config.cacheDir,
      log,
      (imageId) => disks.keepsEveryImage || disks.hasOverlayOn(imageId),
    )
    const agent = new ImageAgent(directory, disks, library, config, log)
    agent.#updateGauges()
    agent.#scheduleUsageSaves()
    return agent
  }

  // Without these writes a crash would lose every hit since the start, and the eviction order
  // would fall back to download time, which puts the oldest and often busiest copies first.
  #scheduleUsageSaves(): void {
    this.#usageTimer = setInterval(() => {
      if (!this.directory.hasUnsavedUsage) return
      this.directory.saveUsage().catch((error: unknown) => {
        this.#log.warn({ op: 'save-usage', err: error }, 'writing usage.json failed')
      })
    }, this.#config.usageSaveIntervalMs ?? 60_000)
    this.#usageTimer.unref()
  }

  get library(): LibraryClient {
    return this.#library
  }

  get defaultDiskFormat(): VmDiskFormat {
    return this.#config.diskFormat
  }

  /**
   * Returns a verified local copy of an image, named by id or by unique name. The image record
   * is always read first: a deleted, hidden or deactivated image is refused even when cached.
   * `check` may throw to reject the image from its record, before any download. Throws
   * AgentError.
   */
  async fetch(
    nameOrId: string,
    options: { verify?: boolean; background?: boolean; check?: (image: ImageFacts) => void } = {},
  ) {
    const started = performance.now()
    let imageId: string | undefined
    try {
      const image = await this.#lookup(nameOrId)
      imageId = image.id
      options.check?.(image)
      this.#take(image.id)
      const fetched = await this.#obtain(image, options).finally(() => this.#release(image.id))
      this.#count(fetched, options.background === true)
      this.#log.info(
        {
          op: 'fetch',
          imageId: image.id,
          status: fetched.result,
          bytesIn: fetched.bytesFetched,
          durationMs: Math.round(performance.now() - started),
          sources: fetched.sources,
        },
        'image fetched',
      )
      return fetched
    } catch (error) {
      this.metrics.add('image_agent_fetch_failures_total')
      const durationMs = Math.round(performance.now() - started)
      this.#log.warn(
        { op: 'fetch', imageId: imageId ?? nameOrId, durationMs, err: error },
        'image fetch failed',
      )
      throw error
    }
  }

  // A pre-cache of a copy that is already there is not a hit: no VM asked for it.
  #count(fetched: FetchResult, background: boolean): void {
    if (fetched.result === 'miss') {
      this.metrics.add('image_agent_cache_misses_total')
    } else if (!background) {
      this.metrics.add('image_agent_cache_hits_total')
    }
    if (!background) this.directory.recordUse(fetched.image.id, fetched.result !== 'miss')
  }

  /** Keeps an image unevictable while `action` runs (and for the hold time after). */
  async holding<T>(imageId: string, action: () => Promise<T>): Promise<T> {
    this.#take(imageId)
    try {
      return await action()
    } finally {
      this.#release(imageId)
    }
  }

  /** Returns the cache limit in bytes: fixed, or a share of the file system's size. */
  async maxBytes(): Promise<number> {
    if ('bytes' in this.#config.limit) return this.#config.limit.bytes
    const fs = await statfs(this.#config.cacheDir)
    return Math.floor((fs.blocks * fs.bsize * this.#config.limit.percent) / 100)
  }

  /** Bytes free on the cache's file system. */
  async freeDiskBytes(): Promise<number> {
    const fs = await statfs(this.#config.cacheDir)
    return fs.bavail * fs.bsize
  }

  /** Images that must not be evicted now: pinned by a VM disk, in use, or recently handed out. */
  async heldImages(): Promise<{ pinned: Set<string>; busy: Set<string> }> {
    const pinned = await this.#pinnedImages()
    const now = Date.now()
    const busy = new Set<string>([...this.#users.keys(), ...this.#downloads.keys()])
    for (const [id, until] of this.#heldUntil) {
      if (until > now) busy.add(id)
      else this.#heldUntil.delete(id)
    }
    return { pinned, busy }
  }

  /**
   * Renders the Prometheus metrics after reading every gauge again. Gauges updated only when a
   * download ends would show a running download, or an eviction, too late.
   */
  async renderMetrics(): Promise<string> {
    this.metrics.set('image_agent_cache_max_bytes', await this.maxBytes())
    this.#updateGauges()
    return this.metrics.render()
  }

  /** Stops background work; downloads in progress fail and keep their partial files. */
  async close(): Promise<void> {
    clearInterval(this.#usageTimer)
    this.#abort.abort(new Error('the agent is stopping'))
    await Promise.allSettled([...this.#downloads.values()].map((download) => download.promise))
    await this.directory.saveUsage()
    this.#library.close()
  }

  async #lookup(nameOrId: string): Promise<ImageFacts> {
    let facts: ImageFacts
    try {
      facts = imageFacts(await this.#library.getImage(nameOrId))
    } catch (error) {
      throw await this.#lookupFailure(nameOrId, error)
    }
    // The id names files in the cache, so an id like '../x' from a broken or hostile library
    // would write outside it.
    if (!isUuidLike(facts.id)) {
      throw new AgentError(
        'IMAGE_FORMAT_INVALID',
        `The library returned the id ${JSON.stringify(facts.id)} for image '${nameOrId}', ` +
          'which is not a UUID. The agent uses image ids as file names and accepts only UUIDs.',
      )
    }
    if (facts.status !== 'active') {
      throw new AgentError(
        'IMAGE_NOT_ACTIVE',
        `Image ${facts.id} is ${facts.status} in the library; only active images are handed out.`,
      )
    }
    if (facts.osHashValue === '' || facts.size < 0) {
      throw new AgentError(
        'IMAGE_FORMAT_INVALID',
        `Image ${facts.id} has no os_hash_value or size, so its data cannot be verified; ` +
          'the agent hands out only verified copies.',
      )
    }
    return facts
  }

  async #lookupFailure(nameOrId: string, error: unknown): Promise<AgentError> {
    const isMissing =
      (error instanceof HttpError && error.status === 404) ||
      (error instanceof CliError && !(error instanceof HttpError) && error.cause === undefined)
    if (!isMissing) {
      return new AgentError(
        'LIBRARY_UNAVAILABLE',
        `Cannot reach the image library to check image '${nameOrId}': ${(error as Error).message} ` +
          'The agent hands out a copy only after checking the image record; try again later.',
        { cause: error },
      )
    }
    if ((error as Error).message.startsWith('More than one')) {
      return new AgentError('BAD_REQUEST', (error as Error).message)
    }
    if (isUuidLike(nameOrId) && this.directory.get(nameOrId) !== undefined) {
      await this.#dropDeleted(nameOrId)
    }
    return new AgentError(
      'IMAGE_NOT_FOUND',
      `Image '${nameOrId}' is not in the library, or the agent's project cannot see it.`,
    )
  }

  // A deleted image's copy goes at once unless a VM disk still reads from it.
  async #dropDeleted(imageId: string): Promise<void> {
    const pinned = await this.#pinnedImages()
    if (pinned.has(imageId) || this.#downloads.has(imageId)) return
    await this.directory.remove(imageId)
    this.#log.info({ op: 'evict', imageId }, 'removed the copy of a deleted image')
    this.#updateGauges()
  }

  async #obtain(image: ImageFacts, options: { verify?: boolean; background?: boolean }) {
    let pending = this.#downloads.get(image.id)
    if (pending === undefined) {
      if (await this.#isValidCopy(image, options.verify === true)) {
        return this.#answer(image, 'hit', 0, [])
      }
      // Another fetch may have started the download while this one checked the copy.
      pending = this.#downloads.get(image.id)
    }

    const download = pending ?? this.#startDownload(image, options.background === true)
    if (options.background !== true) download.background = false
    const { bytesFetched, sources } = await download.promise
    return pending === undefined
      ? this.#answer(image, 'miss', bytesFetched, sources)
      : this.#answer(image, 'joined', 0, sources)
  }

  #answer(
    image: ImageFacts,
    result: FetchResult['result'],
    bytesFetched: number,
    sources: string[],
  ): FetchResult {
    return { image, path: this.directory.dataPath(image.id), result, bytesFetched, sources }
  }

  /**
   * True when a copy exists, belongs to this image record, and is intact: its size and mtime
   * are unchanged since its last full hash, which is recent enough (else it is hashed again).
   */
  async #isValidCopy(image: ImageFacts, forceVerify: boolean): Promise<boolean> {
    const entry = this.directory.get(image.id)
    if (entry === undefined) return false
    if (entry.osHashValue !== image.osHashValue || entry.size !== image.size) {
      this.#log.warn({ op: 'verify', imageId: image.id }, 'cached copy belongs to other data')
      return false
    }

    const file = await stat(this.directory.dataPath(image.id)).catch(() => undefined)
    const untouched =
      file !== undefined && file.size === entry.size && file.mtimeMs === entry.mtimeMs
    const fresh = Date.now() - entry.verifiedAt < this.#config.verifyIntervalMs
    if (untouched && fresh && !forceVerify) return true
    if (file === undefined) return false
    return this.#verify(image)
  }

  #verify(image: ImageFacts): Promise<boolean> {
    let verification = this.#verifications.get(image.id)
    if (verification === undefined) {
      verification = this.#hashCopy(image).finally(() => this.#verifications.delete(image.id))
      this.#verifications.set(image.id, verification)
    }
    return verification
  }

  async #hashCopy(image: ImageFacts): Promise<boolean> {
    const intact = await verifyFile(this.directory.dataPath(image.id), image)
    if (intact) {
      await this.directory.recordVerified(image.id)
      return true
    }
    this.metrics.add('image_agent_verify_failures_total')
    this.#log.error(
      { op: 'verify', imageId: image.id },
      'cached copy is corrupt; fetching it again',
    )
    return false
  }

  #startDownload(image: ImageFacts, background: boolean): Download {
    const download: Download = { background, size: image.size, promise: Promise.resolve() as never }
    download.promise = this.#download(image, download).finally(() => {
      this.#downloads.delete(image.id)
      this.#updateGauges()
    })
    this.#downloads.set(image.id, download)
    return download
  }

  async #download(image: ImageFacts, download: Download) {
    // Space is made before the first byte; the download's own size counts as used meanwhile.
    await this.#makeRoom(image)
    try {
      const result = await downloadImage({
        library: this.#library,
        directory: this.directory,
        image,
        rate: () => (download.background ? this.#config.precacheRate : Infinity),
        // One bucket for all downloads: --precache-rate limits pre-caching as a whole.
        bucket: this.#precacheBucket,
        maxAttempts: this.#config.maxAttempts,
        retryDelayMs: this.#config.retryDelayMs,
        log: this.#log,
        signal: this.#abort.signal,
        // Counted as they arrive, so bytes of a download that fails or is cut off count too.
        onReceived: (bytes) => this.metrics.add('image_agent_bytes_fetched_total', bytes),
      })
      const entry = await this.directory.publish({
        imageId: image.id,
        size: image.size,
        osHashAlgo: image.osHashAlgo,
        osHashValue: image.osHashValue,
        checksum: image.checksum,
        diskFormat: image.diskFormat,
        virtualSize: image.virtualSize,
        minDisk: image.minDisk,
        fetchedAt: Date.now(),
        verifiedAt: Date.now(),
      })
      return { entry, bytesFetched: result.bytesFetched, sources: result.sources }
    } catch (error) {
      throw this.#downloadFailure(image, error)
    }
  }

  #downloadFailure(image: ImageFacts, error: unknown): AgentError {
    if (error instanceof AgentError) return error
    if (error instanceof DownloadRejected) {
      if (error.code === 'CHECKSUM_MISMATCH') this.metrics.add('image_agent_verify_failures_total')
      return new AgentError(error.code, error.message, { cause: error })
    }
    return new AgentError(
      'LIBRARY_UNAVAILABLE',
      `Downloading image ${image.id} failed: ${(error as Error).message} ` +
        'The bytes received are kept and the next fetch resumes from them.',
      { cause: error },
    )
  }

  /**
   * Evicts least recently used copies until `image` fits under the limit, counting downloads in
   * progress at their full size. Throws CACHE_FULL when the held copies leave no room.
   */
  async #makeRoom(image: ImageFacts): Promise<void> {
    const limit = await this.maxBytes()
    const { pinned, busy } = await this.heldImages()
    busy.delete(image.id)
    let reserved = 0
    for (const id of this.#downloads.keys()) {
      if (id !== image.id) reserved += this.#downloads.get(id)?.size ?? 0
    }

    const candidates = this.directory
      .list()
      .filter(
        (entry) =>
          entry.imageId !== image.id && !pinned.has(entry.imageId) && !busy.has(entry.imageId),
      )
      .sort((a, b) => a.lastUsed - b.lastUsed)
    let used = this.directory.usedBytes() - (this.directory.get(image.id)?.size ?? 0) + reserved
    // An image that cannot fit even with every candidate gone evicts nothing.
    const evictable = candidates.reduce((total, entry) => total + entry.size, 0)
    if (used - evictable + image.size > limit) throw this.#cacheFull(image, limit, used - evictable)
    while (used + image.size > limit) {
      const victim = candidates.shift()
      if (victim === undefined) throw this.#cacheFull(image, limit, used)
      const current = this.directory.get(victim.imageId)
      if (current === undefined) {
        // Another eviction removed it meanwhile.
        used -= victim.size
        continue
      }
      // The candidates were listed before the awaits, so a fetch or a disk create may hold one now.
      // This check and remove(), which drops the entry before its first await, run in one turn.
      if (current !== victim || this.#isHeld(victim.imageId)) continue
      await this.directory.remove(victim.imageId)
      used -= victim.size
      this.metrics.add('image_agent_evictions_total')
      this.#log.info(
        { op: 'evict', imageId: victim.imageId, bytesOut: victim.size },
        'evicted a cached image',
      )
    }

    await this.#checkFreeSpace(image)
  }

  /**
   * Throws CACHE_FULL unless the file system has room for the rest of `image` after the rest of
   * every other download in progress, which all write to it at the same time.
   */
  async #checkFreeSpace(image: ImageFacts): Promise<void> {
    const free = await this.freeDiskBytes()
    let othersNeed = 0
    for (const [id, download] of this.#downloads) {
      if (id !== image.id) othersNeed += download.size - (await this.#partialBytes(id))
    }
    const needed = image.size - (await this.#partialBytes(image.id))
    if (needed + othersNeed <= free) return

    throw new AgentError(
      'CACHE_FULL',
      `Image ${image.id} needs ${formatBytes(needed)} more, but the cache's file system has ` +
        `${formatBytes(free)} free` +
        (othersNeed > 0 ? `, of which other downloads need ${formatBytes(othersNeed)}. ` : '. ') +
        'Free disk space or lower other use of that file system.',
    )
  }

  async #partialBytes(imageId: string): Promise<number> {
    const partial = await stat(this.directory.partialPath(imageId)).catch(() => undefined)
    return Math.min(partial?.size ?? 0, this.#downloads.get(imageId)?.size ?? Infinity)
  }

  #cacheFull(image: ImageFacts, limit: number, used: number): AgentError {
    if (image.size > limit) {
      return new AgentError(
        'CACHE_FULL',
        `Image ${image.id} (${formatBytes(image.size)}) is larger than the whole cache ` +
          `(${formatBytes(limit)}). Raise --max-size.`,
      )
    }
    return new AgentError(
      'CACHE_FULL',
      `Image ${image.id} (${formatBytes(image.size)}) does not fit in the cache: ` +
        `${formatBytes(used)} of ${formatBytes(limit)} are held by VM disks, fetches and ` +
        'downloads. Raise --max-size, or delete VM disks made from cached images.',
    )
  }

  /** Returns true while a copy must stay: in use, recently handed out, or the base of a VM disk. */
  #isHeld(imageId: string): boolean {
    return (
      this.#users.has(imageId) ||
      this.#downloads.has(imageId) ||
      (this.#heldUntil.get(imageId) ?? 0) > Date.now() ||
      this.disks.keepsEveryImage ||
      this.disks.hasOverlayOn(imageId)
    )
  }

  /** Returns the images that VM disks read from, or every cached image when those are unknown. */
  async #pinnedImages(): Promise<Set<string>> {
    if (this.disks.keepsEveryImage) {
      return new Set(this.directory.list().map((entry) => entry.imageId))
    }
    return this.disks.pinnedImages()
  }

  #take(imageId: string): void {
    this.#users.set(imageId, (this.#users.get(imageId) ?? 0) + 1)
  }

  #release(imageId: string): void {
    const users = (this.#users.get(imageId) ?? 1) - 1
    if (users > 0) this.#users.set(imageId, users)
    else this.#users.delete(imageId)
    this.#heldUntil.set(imageId, Date.now() + this.#config.holdMs)
  }

  #updateGauges(): void {
    this.metrics.set('image_agent_cache_used_bytes', this.directory.usedBytes())
    this.metrics.set('image_agent_cached_images', this.directory.list().length)
    this.metrics.set('image_agent_downloads_in_progress', this.#downloads.size)
  }
}

function createAgentMetrics(): MetricsRegistry {
  const metrics = new MetricsRegistry()
  metrics.declare(
    'image_agent_cache_hits_total',
    'counter',
    'Fetches answered without a download of their own.',
  )
  metrics.declare('image_agent_cache_misses_total', 'counter', 'Fetches that downloaded the image.')
  metrics.declare(
    'image_agent_bytes_fetched_total',
    'counter',
    'Image bytes received from the library.',
  )
  metrics.declare('image_agent_evictions_total', 'counter', 'Cached images evicted to make room.')
  metrics.declare('image_agent_fetch_failures_total', 'counter', 'Fetches that failed.')
  metrics.declare(
    'image_agent_verify_failures_total',
    'counter',
    'Copies whose data did not match the image record.',
  )
  metrics.declare('image_agent_cache_used_bytes', 'gauge', 'Bytes of verified copies in the cache.')
  metrics.declare('image_agent_cache_max_bytes', 'gauge', 'The cache size limit in bytes.')
  metrics.declare('image_agent_cached_images', 'gauge', 'Verified copies in the cache.')
  metrics.declare('image_agent_downloads_in_progress', 'gauge', 'Downloads running now.')
  return metrics
}

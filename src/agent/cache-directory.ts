import { mkdir, mkdtemp, open, readdir, readFile, rename, rm, stat, chmod } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Logger } from 'pino'

/** The record of one verified image copy in the cache. */
export interface CachedImage {
  imageId: string
  size: number
  osHashAlgo: string
  osHashValue: string
  checksum: string | null
  diskFormat: string
  virtualSize: number | null
  minDisk: number
  fetchedAt: number
  /** When the data was last hashed in full and matched `osHashValue`, in ms since the epoch. */
  verifiedAt: number
  /** The data file's mtime at that verification; a different mtime means it was written to. */
  mtimeMs: number
  hits: number
  lastUsed: number
}

/** The image record fields a partial download was started for; a resume needs the same. */
export interface PartialMeta {
  imageId: string
  size: number
  osHashAlgo: string
  osHashValue: string
}

type StoredMeta = Omit<CachedImage, 'hits' | 'lastUsed'>

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * The cache directory's layout and its durable operations:
 *
 * - `images/<id>/disk` and `images/<id>/meta.json`: a verified copy, published by renaming a
 *   complete directory, so a reader sees the whole copy or none of it;
 * - `partial/<id>` and `partial/<id>.json`: a download in progress, kept across restarts so it
 *   can resume, and never handed out;
 * - `tmp/`: directories being published; emptied at start-up;
 * - `usage.json`: hit counts and last use, written every minute while they change and at a
 *   clean stop (losing it loses only the eviction order).
 */
export class CacheDirectory {
  readonly root: string
  readonly #log: Logger
  readonly #entries = new Map<string, CachedImage>()
  #usageChanged = false

  private constructor(root: string, log: Logger) {
    this.root = root
    this.#log = log
  }

  /**
   * Opens (creating if needed) a cache directory and loads its index. Removes broken entries,
   * except those for which `isBase` returns true. Those stay on disk, out of the index, because
   * a VM disk reads from them.
   */
  static async open(
    root: string,
    log: Logger,
    isBase: (imageId: string) => boolean = () => false,
  ): Promise<CacheDirectory> {
    const directory = new CacheDirectory(root, log)
    for (const part of ['images', 'partial', 'tmp']) {
      await mkdir(join(root, part), { recursive: true, mode: 0o755 })
    }
    await rm(join(root, 'tmp'), { recursive: true, force: true })
    await mkdir(join(root, 'tmp'), { mode: 0o700 })
    await directory.#loadImages(isBase)
    await directory.#dropOrphanPartials()
    return directory
  }

  get imagesDir(): string {
    return join(this.root, 'images')
  }

  dataPath(imageId: string): string {
    return join(this.root, 'images', imageId, 'disk')
  }

  partialPath(imageId: string): string {
    return join(this.root, 'partial', imageId)
  }

  get(imageId: string): CachedImage | undefined {
    return this.#entries.get(imageId)
  }

  list(): CachedImage[] {
    return [...this.#entries.values()]
  }

  usedBytes(): number {
    let total = 0
    for (const entry of this.#entries.values()) total += entry.size
    return total
  }

  /** Notes that a copy was handed out: from the cache (a hit) or right after its download. */
  recordUse(imageId: string, isHit: boolean, now = Date.now()): void {
    const entry = this.#entries.get(imageId)
    if (entry === undefined) return
    if (isHit) entry.hits++
    entry.lastUsed = now
    this.#usageChanged = true
  }

  /** True when hit counts or last use changed since `usage.json` was last written. */
  get hasUnsavedUsage(): boolean {
    return this.#usageChanged
  }

  /** Notes a full verification of the data, with the file's current mtime. */
  async recordVerified(imageId: string): Promise<void> {
    const entry = this.#entries.get(imageId)
    if (entry === undefined) return
    entry.verifiedAt = Date.now()
    entry.mtimeMs = (await stat(this.dataPath(imageId))).mtimeMs
    await writeDurable(join(this.imagesDir, imageId, 'meta.json'), storedMeta(entry))
  }

  /** Reads the partial download's meta, or undefined when there is none or it is unreadable. */
  async readPartial(imageId: string): Promise<PartialMeta | undefined> {
    try {
      const meta = JSON.parse(await readFile(`${this.partialPath(imageId)}.json`, 'utf8'))
      return meta as PartialMeta
    } catch {
      return undefined
    }
  }

  /** Records which image record a partial download belongs to, before its first byte. */
  async startPartial(meta: PartialMeta): Promise<void> {
    await writeDurable(`${this.partialPath(meta.imageId)}.json`, meta)
  }

  async discardPartial(imageId: string): Promise<void> {
    await rm(this.partialPath(imageId), { force: true })
    await rm(`${this.partialPath(imageId)}.json`, { force: true })
  }

  /**
   * Publishes a complete, verified partial download as the cached copy of its image. The data
   * file must already be fsynced. Replaces an earlier copy of the same image.
   */
  async publish(meta: Omit<StoredMeta, 'mtimeMs'>): Promise<CachedImage> {
    const staging = await mkdtemp(join(this.root, 'tmp', `${meta.imageId}-`))
    // mkdtemp makes a 0700 directory, which QEMU, running as its own user, could not enter to
    // read the backing file of an overlay.
    await chmod(staging, 0o755)
    const disk = join(staging, 'disk')
    await rename(this.partialPath(meta.imageId), disk)
    await chmod(disk, 0o444)
    const stored: StoredMeta = { ...meta, mtimeMs: (await stat(disk)).mtimeMs }
    // writeDurable also syncs staging, so the rename of the data file is durable too.
    await writeDurable(join(staging, 'meta.json'), stored)

    await this.remove(meta.imageId)
    await rename(staging, join(this.imagesDir, meta.imageId))
    await syncDirectory(this.imagesDir)
    await rm(`${this.partialPath(meta.imageId)}.json`, { force: true })

    const entry: CachedImage = { ...stored, hits: 0, lastUsed: Date.now() }
    this.#entries.set(meta.imageId, entry)
    return entry
  }

  /** Removes a cached copy; nothing happens when there is none. */
  async remove(imageId: string): Promise<void> {
    this.#entries.delete(imageId)
    const directory = join(this.imagesDir, imageId)
    // Renamed first, so that a crash mid-removal leaves nothing that looks like a copy.
    const doomed = join(this.root, 'tmp', `removed-${imageId}-${process.hrtime.bigint()}`)
    try {
      await rename(directory, doomed)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
      throw error
    }
    await rm(doomed, { recursive: true, force: true })
  }

  /** Writes hit counts and last use of every copy, so a restart keeps the eviction order. */
  async saveUsage(): Promise<void> {
    this.#usageChanged = false
    const usage: Record<string, { hits: number; lastUsed: number }> = {}
    for (const [id, entry] of this.#entries)
      usage[id] = { hits: entry.hits, lastUsed: entry.lastUsed }
    await writeDurable(join(this.root, 'usage.json'), usage)
  }

  async #loadImages(isBase: (imageId: string) => boolean): Promise<void> {
    const usage = await readUsage(join(this.root, 'usage.json'), this.#log)
    for (const name of await readdir(this.imagesDir)) {
      const meta = await readStoredMeta(join(this.imagesDir, name))
      if ((meta === undefined || meta.imageId !== name) && isBase(name)) {
        this.#log.error(
          { imageId: name, op: 'load' },
          'keeping an unreadable cache entry that a VM disk uses; the next fetch replaces it',
        )
        continue
      }
      if (meta === undefined || meta.imageId !== name) {
        this.#log.warn({ imageId: name, op: 'load' }, 'removing an unreadable cache entry')
        await rm(join(this.imagesDir, name), { recursive: true, force: true })
        continue
      }
      const used = usage[name]
      this.#entries.set(name, {
        ...meta,
        hits: used?.hits ?? 0,
        lastUsed: used?.lastUsed ?? meta.fetchedAt,
      })
    }
  }

  async #dropOrphanPartials(): Promise<void> {
    const names = new Set(await readdir(join(this.root, 'partial')))
    for (const name of names) {
      const imageId = name.endsWith('.json') ? name.slice(0, -5) : name
      const complete =
        uuidPattern.test(imageId) && names.has(imageId) && names.has(`${imageId}.json`)
      if (complete || (name === `${imageId}.json` && uuidPattern.test(imageId))) continue
      await rm(join(this.root, 'partial', name), { force: true, recursive: true })
    }
  }
}

async function readStoredMeta(directory: string): Promise<StoredMeta | undefined> {
  try {
    const meta = JSON.parse(await readFile(join(directory, 'meta.json'), 'utf8')) as StoredMeta
    const data = await stat(join(directory, 'disk'))
    if (typeof meta.osHashValue !== 'string' || data.size !== meta.size) return undefined
    return meta
  } catch {
    return undefined
  }
}

type Usage = Record<string, { hits: number; lastUsed: number } | undefined>

/** Reads `usage.json`. An unreadable file costs only the eviction order, so it is logged. */
async function readUsage(path: string, log: Logger): Promise<Usage> {
  let usage: unknown
  try {
    usage = JSON.parse(await readFile(path, 'utf8'))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {}
    log.warn({ op: 'load', path, err: error }, 'usage file unreadable; hit counts start at zero')
    return {}
  }
  if (typeof usage !== 'object' || usage === null || Array.isArray(usage)) {
    log.warn({ op: 'load', path }, 'usage file unreadable; hit counts start at zero')
    return {}
  }
  const valid: Usage = {}
  for (const [imageId, entry] of Object.entries(usage)) {
    const { hits, lastUsed } = (entry ?? {}) as Record<string, unknown>
    if (Number.isSafeInteger(hits) && Number.isFinite(lastUsed)) {
      valid[imageId] = { hits: hits as number, lastUsed: lastUsed as number }
    }
  }
  return valid
}

function storedMeta(entry: CachedImage): StoredMeta {
  const { hits: _hits, lastUsed: _lastUsed, ...meta } = entry
  return meta
}

let temporaryCounter = 0

/**
 * Writes JSON to a temporary file, fsyncs it, renames it over `path` and fsyncs the directory,
 * so that after a power loss `path` has either the old or the new content, and keeps the new.
 */
export async function writeDurable(path: string, value: unknown): Promise<void> {
  const temporary = `${path}.${process.pid}-${++temporaryCounter}.tmp`
  const file = await open(temporary, 'w', 0o644)
  try {
    await file.writeFile(`${JSON.stringify(value)}\n`)
    await file.sync()
  } finally {
    await file.close()
  }
  await rename(temporary, path)
  await syncDirectory(dirname(path))
}

export async function syncDirectory(path: string): Promise<void> {
  const directory = await open(path, 'r')
  try {
    await directory.sync()
  } finally {
    await directory.close()
  }
}

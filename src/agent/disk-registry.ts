import { lstat, readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { writeDurable } from './cache-directory.js'

export const vmDiskFormats = ['qcow2', 'raw'] as const
export type VmDiskFormat = (typeof vmDiskFormats)[number]

/** The start of the name that an unreadable `disks.json` is renamed to. */
const unreadablePrefix = 'disks.json.unreadable-'

/** A VM disk that `disk create` made from a cached image. */
export interface VmDisk {
  path: string
  imageId: string
  format: VmDiskFormat
  /** The cached copy the disk reads from; null for a raw copy, which needs no base. */
  backingFile: string | null
  createdAt: number
  /**
   * The device, inode and birth time of the disk file (`dev:ino:ns`), so that `disk delete`
   * removes only the file the agent made. Absent while the disk is built, and for disks made by older agents.
   */
  fileId?: string
  /**
   * The file the disk is built in before it is linked to `path`, while `disk create` runs. A
   * restart after a crash deletes it, so a half-made disk does not stay behind.
   */
  temporaryPath?: string
}

/**
 * The VM disks made from cached images, kept in `disks.json` in the cache directory. A qcow2
 * overlay pins its base image: the base is never evicted while the overlay file exists. An
 * entry whose file is gone (the VM was deleted) pins nothing and is dropped on the next scan.
 */
export class DiskRegistry {
  readonly #file: string
  #disks = new Map<string, VmDisk>()
  /** Disks being made: registered, but their files do not exist yet. */
  readonly #creating = new Set<string>()
  /** Paths claimed by a `disk create` in progress. */
  readonly #claimed = new Set<string>()
  #writing: Promise<void> = Promise.resolve()
  #keepsEveryImage = false

  private constructor(file: string) {
    this.#file = file
  }

  /**
   * Opens the registry in `cacheDir`. An unreadable `disks.json` is renamed to
   * `disks.json.unreadable-<ms since the epoch>`, and the registry starts empty. While such a file
   * exists, every cached copy is kept (see `keepsEveryImage`), because the lost entries may name
   * overlays on any of them.
   */
  static async open(cacheDir: string, log: Logger): Promise<DiskRegistry> {
    const registry = new DiskRegistry(join(cacheDir, 'disks.json'))
    const text = await readFile(registry.#file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined
      throw error
    })
    const disks = text === undefined ? [] : parseDisks(text)
    if (disks === undefined) {
      const aside = join(cacheDir, `${unreadablePrefix}${Date.now()}`)
      await rename(registry.#file, aside)
      log.error(
        { op: 'load', path: registry.#file, movedTo: aside },
        'VM disk registry unreadable; moved it aside',
      )
    }
    registry.#disks = new Map((disks ?? []).map((disk) => [disk.path, disk]))
    await registry.#removeTemporaryFiles(log)

    const unreadable = (await readdir(cacheDir)).filter((name) => name.startsWith(unreadablePrefix))
    if (unreadable.length > 0) {
      registry.#keepsEveryImage = true
      log.error(
        { op: 'load', files: unreadable.map((name) => join(cacheDir, name)) },
        'no cached copy is evicted while these unreadable VM disk registries exist; ' +
          'delete them once no VM disk they list uses the cache',
      )
    }
    return registry
  }

  /**
   * True while an unreadable registry of an earlier run exists. The VM disks it listed are
   * unknown, so every cached copy counts as the base of one and is never evicted.
   */
  get keepsEveryImage(): boolean {
    return this.#keepsEveryImage
  }

  get(path: string): VmDisk | undefined {
    return this.#disks.get(path)
  }

  /** Lists the disks whose files still exist, dropping the others from the registry. */
  async list(): Promise<VmDisk[]> {
    const alive: VmDisk[] = []
    let dropped = false
    for (const disk of this.#disks.values()) {
      if (this.#creating.has(disk.path) || (await exists(disk.path))) {
        alive.push(disk)
      } else {
        this.#disks.delete(disk.path)
        dropped = true
      }
    }
    if (dropped) await this.#save()
    return alive
  }

  /** Returns the ids of the images that an existing qcow2 overlay reads from. */
  async pinnedImages(): Promise<Set<string>> {
    const disks = await this.list()
    return new Set(disks.filter((disk) => disk.backingFile !== null).map((disk) => disk.imageId))
  }

  /**
   * Returns true when a registered qcow2 overlay reads from the image. It reads only the registry
   * in memory and checks no file, so an eviction can call it in the same turn as its removal.
   */
  hasOverlayOn(imageId: string): boolean {
    for (const disk of this.#disks.values()) {
      if (disk.imageId === imageId && disk.backingFile !== null) return true
    }
    return false
  }

  /**
   * Claims a path for a disk being made. Returns false while another `disk create` has claimed
   * it, so that a second request fails without touching the first one's registry entry.
   */
  claim(path: string): boolean {
    if (this.#claimed.has(path)) return false
    this.#claimed.add(path)
    return true
  }

  release(path: string): void {
    this.#claimed.delete(path)
  }

  /** Returns true while a `disk create` for the path runs. */
  isClaimed(path: string): boolean {
    return this.#claimed.has(path)
  }

  /** Registers a disk that is about to be made; `created` or `remove` must follow. */
  async add(disk: VmDisk): Promise<void> {
    this.#disks.set(disk.path, disk)
    this.#creating.add(disk.path)
    await this.#save()
  }

  /**
   * Marks a disk's file as made, so that its absence now means the disk was deleted, and stores
   * the file's identity (see `VmDisk.fileId`).
   */
  async created(path: string, fileId?: string): Promise<void> {
    this.#creating.delete(path)
    const disk = this.#disks.get(path)
    if (disk === undefined) return
    delete disk.temporaryPath
    if (fileId !== undefined) disk.fileId = fileId
    await this.#save()
  }

  // A crash during `disk create` leaves the temporary file, which may be large (a raw copy), or
  // a second link to the finished disk that would keep its data after the disk is deleted.
  async #removeTemporaryFiles(log: Logger): Promise<void> {
    let changed = false
    for (const disk of this.#disks.values()) {
      if (disk.temporaryPath === undefined) continue
      if (await existsAsEntry(disk.temporaryPath)) {
        await rm(disk.temporaryPath, { force: true })
        log.warn(
          { op: 'load', path: disk.path, removed: disk.temporaryPath },
          'removed the temporary file of an interrupted disk create',
        )
      }
      delete disk.temporaryPath
      changed = true
    }
    if (changed) await this.#save()
  }

  async remove(path: string): Promise<void> {
    this.#creating.delete(path)
    if (this.#disks.delete(path)) await this.#save()
  }

  // Writes one at a time, in call order, so the file ends with the latest state.
  #save(): Promise<void> {
    const write = this.#writing.then(() =>
      writeDurable(this.#file, { disks: [...this.#disks.values()] }),
    )
    this.#writing = write.catch(() => {})
    return write
  }
}

/** Returns the disks of a registry file, or undefined when it is not valid JSON of that shape. */
function parseDisks(text: string): VmDisk[] | undefined {
  let stored: unknown
  try {
    stored = JSON.parse(text)
  } catch {
    return undefined
  }
  const disks = (stored as { disks?: unknown } | null)?.disks
  if (!Array.isArray(disks) || !disks.every(isVmDisk)) return undefined
  return disks
}

function isVmDisk(value: unknown): value is VmDisk {
  const disk = value as Partial<VmDisk> | null
  return (
    typeof disk?.path === 'string' &&
    typeof disk.imageId === 'string' &&
    vmDiskFormats.includes(disk.format as VmDiskFormat) &&
    (disk.backingFile === null || typeof disk.backingFile === 'string') &&
    typeof disk.createdAt === 'number' &&
    (disk.fileId === undefined || typeof disk.fileId === 'string') &&
    (disk.temporaryPath === undefined || typeof disk.temporaryPath === 'string')
  )
}

/** Returns true when `path` exists as a file, directory or link, without following a link. */
async function existsAsEntry(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  )
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}

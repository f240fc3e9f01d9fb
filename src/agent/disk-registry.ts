import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { writeDurable } from './cache-directory.js'

export const vmDiskFormats = ['qcow2', 'raw'] as const
export type VmDiskFormat = (typeof vmDiskFormats)[number]

/** A VM disk that `disk create` made from a cached image. */
export interface VmDisk {
  path: string
  imageId: string
  format: VmDiskFormat
  /** The cached copy the disk reads from; null for a raw copy, which needs no base. */
  backingFile: string | null
  createdAt: number
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

  private constructor(file: string) {
    this.#file = file
  }

  static async open(cacheDir: string): Promise<DiskRegistry> {
    const registry = new DiskRegistry(join(cacheDir, 'disks.json'))
    try {
      const stored = JSON.parse(await readFile(registry.#file, 'utf8')) as { disks: VmDisk[] }
      registry.#disks = new Map(stored.disks.map((disk) => [disk.path, disk]))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    }
    return registry
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

  /** Registers a disk that is about to be made; `created` or `remove` must follow. */
  async add(disk: VmDisk): Promise<void> {
    this.#disks.set(disk.path, disk)
    this.#creating.add(disk.path)
    await this.#save()
  }

  /** Marks a disk's file as made, so that its absence now means the disk was deleted. */
  created(path: string): void {
    this.#creating.delete(path)
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

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}

import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import { link, mkdir, open, readdir, rm, stat, statfs, unlink, access } from 'node:fs/promises'
import { constants } from 'node:fs'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type {
  BlobInfo,
  BlobStore,
  ByteRange,
  IncompleteFilter,
  StoreCapacity,
} from '../../domain/ports.js'
import { BlobExists, BlobNotFound, StoreFull, StoreUnavailable } from '../errors.js'

export interface FileStoreConfig {
  /** Directory that contains the blobs: a local disk or a shared mount. */
  directory: string
  /** The store id that errors and logs name; `file` by default. */
  name?: string
}

const incompleteDir = '.incomplete'
const writeBufferBytes = 4 * 1024 * 1024
const readChunkBytes = 256 * 1024

/**
 * Blobs as files in one directory. A write goes to `.incomplete/`, is fsynced, then hard-linked
 * to its final name (which fails if the name exists) and the directory is fsynced, so a blob is
 * either whole and durable or absent.
 */
export class FileStore implements BlobStore {
  readonly name: string
  readonly #directory: string
  readonly #incomplete: string

  constructor(config: FileStoreConfig) {
    this.name = config.name ?? 'file'
    this.#directory = config.directory
    this.#incomplete = join(config.directory, incompleteDir)
  }

  async init(): Promise<void> {
    await mkdir(this.#incomplete, { recursive: true, mode: 0o750 })
  }

  async write(key: string, source: Readable, signal?: AbortSignal): Promise<BlobInfo> {
    const final = join(this.#directory, key)
    const temp = join(this.#incomplete, `${key}.${randomBytes(6).toString('hex')}`)

    try {
      const size = await this.#writeDurably(temp, source, signal)
      await this.#publish(temp, final, key)
      return { size }
    } catch (error) {
      await rm(temp, { force: true })
      throw this.#translate(error)
    }
  }

  async #writeDurably(temp: string, source: Readable, signal?: AbortSignal): Promise<number> {
    // A large buffer lets chunks collect while a write is in flight; they then go out in one
    // writev. With the 16 KiB default, each TLS record waits for its own thread-pool round trip.
    const sink = createWriteStream(temp, {
      flags: 'wx',
      mode: 0o640,
      flush: true,
      highWaterMark: writeBufferBytes,
    })
    try {
      await pipeline(source, sink, signal === undefined ? {} : { signal })
    } catch (error) {
      // A source that fails at once can beat the asynchronous open of the file; removing the
      // file before the stream has closed would leave it behind when the open completes.
      if (!sink.closed) await once(sink, 'close')
      throw error
    }
    return sink.bytesWritten
  }

  async #publish(temp: string, final: string, key: string): Promise<void> {
    try {
      await link(temp, final)
    } catch (error) {
      if (isErrno(error, 'EEXIST')) throw new BlobExists(this.name, key)
      throw error
    }
    await unlink(temp)
    await syncDirectory(this.#directory)
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    try {
      const handle = await open(join(this.#directory, key), 'r')
      const options = range === undefined ? {} : { start: range.start, end: range.end }
      return handle.createReadStream({ ...options, highWaterMark: readChunkBytes })
    } catch (error) {
      if (isErrno(error, 'ENOENT')) throw new BlobNotFound(this.name, key)
      throw this.#translate(error)
    }
  }

  async stat(key: string): Promise<BlobInfo> {
    try {
      const info = await stat(join(this.#directory, key))
      return { size: info.size }
    } catch (error) {
      if (isErrno(error, 'ENOENT')) throw new BlobNotFound(this.name, key)
      throw this.#translate(error)
    }
  }

  async delete(key: string): Promise<boolean> {
    try {
      await unlink(join(this.#directory, key))
      await syncDirectory(this.#directory)
      return true
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return false
      throw this.#translate(error)
    }
  }

  async capacity(): Promise<StoreCapacity> {
    try {
      const info = await statfs(this.#directory)
      return { totalBytes: info.blocks * info.bsize, freeBytes: info.bavail * info.bsize }
    } catch (error) {
      throw this.#translate(error)
    }
  }

  async removeIncomplete(options: IncompleteFilter = {}): Promise<number> {
    const { key, olderThanMs } = options
    let names = await readdir(this.#incomplete)
    // Temporary names are `<key>.<random hex>`, so the prefix finds one key's writes.
    if (key !== undefined) names = names.filter((name) => name.startsWith(`${key}.`))
    if (olderThanMs !== undefined) {
      const cutoff = Date.now() - olderThanMs
      const stale = await Promise.all(
        names.map(async (name) => {
          const info = await stat(join(this.#incomplete, name)).catch(() => null)
          return info !== null && info.mtimeMs < cutoff
        }),
      )
      names = names.filter((_, index) => stale[index])
    }
    await Promise.all(names.map((name) => rm(join(this.#incomplete, name), { force: true })))
    return names.length
  }

  async ping(): Promise<void> {
    try {
      await access(this.#incomplete, constants.R_OK | constants.W_OK)
    } catch (error) {
      throw this.#translate(error)
    }
  }

  #translate(error: unknown): unknown {
    if (isErrno(error, 'ENOSPC') || isErrno(error, 'EDQUOT')) return new StoreFull(this.name, error)
    for (const code of ['EIO', 'EACCES', 'EROFS', 'ENOENT', 'ESTALE', 'EPERM']) {
      if (isErrno(error, code)) {
        // The path stays in the cause, for the log; clients see only the error code.
        return new StoreUnavailable(this.name, code, error)
      }
    }
    return error
  }
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

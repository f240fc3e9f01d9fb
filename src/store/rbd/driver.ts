import { randomBytes } from 'node:crypto'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Logger } from 'pino'
import type { BlobInfo, BlobStore, ByteRange, StoreCapacity } from '../../domain/ports.js'
import { BlobExists, BlobNotFound, StoreFull, StoreUnavailable } from '../errors.js'
import { CephCommandError, CephProcess, runCephCommand } from './ceph-command.js'

export interface RbdStoreConfig {
  /** The store id that errors and logs name; `rbd` by default. */
  name?: string
  pool: string
  /** The ceph.conf that names the monitors. */
  cephConf: string
  /** The cephx user without its `client.` prefix, such as `glance`. */
  client: string
  /** The keyring of that user; `null` leaves the choice to ceph.conf. */
  keyring: string | null
  /** How long a command waits for the monitors and for each OSD operation; 30 by default. */
  timeoutSeconds?: number
  log: Logger
}

/** Filters for `removeIncomplete`: one key, or only leftovers untouched for a while. */
export interface IncompleteFilter {
  key?: string
  olderThanMs?: number
}

/** Exit statuses of rbd, which exits with the errno of its failure. */
const errno = { ENOENT: 2, EBUSY: 16, EEXIST: 17, ENOSPC: 28, ETIMEDOUT: 110, EDQUOT: 122 }

/** Time that rbd gets to exit after SIGTERM or the end of its input, before SIGKILL. */
const stopGraceMs = 5000
const readChunkBytes = 256 * 1024

// `~` is not allowed in keys, so a temporary name never equals a key or another key's prefix.
const temporaryPrefix = 'incomplete~'
const temporaryPattern = /^incomplete~(.+)~[0-9a-f]{12}$/

/**
 * Blobs as RBD images in one pool, through the `rbd` command (no kernel mapping is needed).
 *
 * A write streams into `rbd import` under a temporary image name. Once the source ended
 * cleanly, the image is renamed to its key, and the rename fails when the key exists. A failed
 * or aborted write closes rbd's input rather than killing rbd, because a killed rbd leaves its
 * watch on the image for about 30 s and `rbd rm` of the temporary image fails until then.
 */
export class RbdStore implements BlobStore {
  readonly name: string
  readonly #pool: string
  readonly #args: readonly string[]
  readonly #cephArgs: readonly string[]
  readonly #log: Logger

  constructor(config: RbdStoreConfig) {
    this.name = config.name ?? 'rbd'
    this.#pool = config.pool
    this.#log = config.log.child({ store: this.name })
    const seconds = String(config.timeoutSeconds ?? 30)
    const identity = ['--conf', config.cephConf, '--id', config.client]
    if (config.keyring !== null) identity.push('--keyring', config.keyring)
    this.#args = Object.freeze([
      ...identity,
      `--client_mount_timeout=${seconds}`,
      `--rados_mon_op_timeout=${seconds}`,
      `--rados_osd_op_timeout=${seconds}`,
    ])
    this.#cephArgs = Object.freeze([...identity, '--connect-timeout', seconds])
  }

  /** Returns the URL that the locations API shows: the pool and the image name. */
  urlOf(key: string): string {
    return `rbd://${encodeURIComponent(this.#pool)}/${encodeURIComponent(key)}`
  }

  async write(key: string, source: Readable, signal?: AbortSignal): Promise<BlobInfo> {
    const temporary = `${temporaryPrefix}${key}~${randomBytes(6).toString('hex')}`
    let size: number
    try {
      size = await this.#import(temporary, source, signal)
    } catch (error) {
      await this.#removeTemporary(temporary)
      throw this.#translate(error)
    }

    try {
      await this.#rbd(['rename', this.#spec(temporary), this.#spec(key)], 'rbd rename')
    } catch (error) {
      await this.#removeTemporary(temporary)
      if (exitCodeOf(error) === errno.EEXIST) throw new BlobExists(this.name, key)
      throw this.#translate(error)
    }
    return { size }
  }

  /**
   * Streams `source` into `rbd import` and returns the byte count. On a source error or an
   * abort, pipeline() destroys rbd's stdin, so rbd reads the end of its input, closes the image
   * and exits. The caller then removes the partial image.
   */
  async #import(temporary: string, source: Readable, signal?: AbortSignal): Promise<number> {
    const args = ['import', '--image-format', '2', '--no-progress', '-', this.#spec(temporary)]
    const command = this.#spawn(args, ['pipe', 'ignore'], 'rbd import')
    let size = 0
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.length
        done(null, chunk)
      },
    })
    let sourceError: unknown = null
    source.once('error', (error) => (sourceError ??= error))

    try {
      await pipeline(source, counter, command.child.stdin!, signal === undefined ? {} : { signal })
    } catch (error) {
      const exitCode = await command.waitForExit(stopGraceMs)
      // A failing rbd breaks the pipe (EPIPE), so its exit status and stderr explain more.
      if (sourceError === null && signal?.aborted !== true && exitCode !== 0) {
        throw command.failure(exitCode)
      }
      throw error
    }
    await command.succeeded()
    return size
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    const { size } = await this.stat(key)
    if (range !== undefined && range.start >= size) return Readable.from([], { objectMode: false })

    // TODO: a range read exports and discards every byte before range.start; reading the
    // image's objects with librados (rbd_data.<id>.<index>) would start at the range instead.
    const args = ['export', '--no-progress', this.#spec(key), '-']
    const command = this.#spawn(args, ['ignore', 'pipe'], 'rbd export')
    const stream = Readable.from(exportedBytes(command, range), {
      objectMode: false,
      highWaterMark: readChunkBytes,
    })
    // A reader that stops early ends rbd here too; the generator's `finally` only runs once
    // the next chunk arrives.
    stream.once('close', () => void command.stop(stopGraceMs))
    return stream
  }

  async stat(key: string): Promise<BlobInfo> {
    const info = await this.#info(key)
    return { size: info.size }
  }

  async delete(key: string): Promise<boolean> {
    try {
      await this.#rbd(['rm', '--no-progress', this.#spec(key)], 'rbd rm')
      return true
    } catch (error) {
      if (isMissingImage(error)) return false
      throw this.#translate(error)
    }
  }

  /**
   * Reads the pool's share of the cluster from `ceph df`. Free is `max_avail` (what the pool
   * can still take after replication), and total is that plus what the pool stores. `ceph df`
   * needs a running ceph-mgr, because without one the pool is missing from its output.
   */
  async capacity(): Promise<StoreCapacity> {
    let output: string
    try {
      output = await runCephCommand(
        'ceph',
        [...this.#cephArgs, 'df', '--format', 'json'],
        'ceph df',
        60_000,
      )
    } catch (error) {
      throw this.#translate(error)
    }
    const pools = (JSON.parse(output) as CephDf).pools ?? []
    const stats = pools.find((pool) => pool.name === this.#pool)?.stats
    if (stats === undefined) {
      throw new StoreUnavailable(
        this.name,
        `ceph df does not list pool ${this.#pool}; the pool is missing or no ceph-mgr runs`,
      )
    }
    return { totalBytes: stats.stored + stats.max_avail, freeBytes: stats.max_avail }
  }

  /**
   * Removes temporary images of writes that never finished: all, those of `filter.key`, or
   * those not modified for `filter.olderThanMs`. An image that a running `rbd import` still
   * has open is skipped (rbd rm fails with EBUSY), so this is safe while other hosts write.
   */
  async removeIncomplete(filter: IncompleteFilter = {}): Promise<number> {
    let removed = 0
    for (const name of await this.#list()) {
      const key = temporaryPattern.exec(name)?.[1]
      if (key === undefined || (filter.key !== undefined && key !== filter.key)) continue
      if (filter.olderThanMs !== undefined && !(await this.#isIdle(name, filter.olderThanMs))) {
        continue
      }
      if (await this.#removeIdle(name)) removed += 1
    }
    return removed
  }

  async ping(): Promise<void> {
    await this.#list()
  }

  /** Every image in the pool, temporary ones included. */
  async #list(): Promise<string[]> {
    try {
      const output = await this.#rbd(['ls', '--format', 'json', this.#pool], 'rbd ls')
      return JSON.parse(output) as string[]
    } catch (error) {
      throw this.#translate(error)
    }
  }

  async #info(name: string): Promise<RbdInfo> {
    try {
      const output = await this.#rbd(['info', '--format', 'json', this.#spec(name)], 'rbd info')
      return JSON.parse(output) as RbdInfo
    } catch (error) {
      if (isMissingImage(error)) throw new BlobNotFound(this.name, name)
      throw this.#translate(error)
    }
  }

  /**
   * True when the image was neither created nor modified in the last `olderThanMs`. librbd
   * updates the modify time at most once per `rbd_mtime_update_interval` (60 s by default), so
   * a limit below that may also match a write in progress. rbd rm still skips an open image.
   */
  async #isIdle(name: string, olderThanMs: number): Promise<boolean> {
    let info: RbdInfo
    try {
      info = await this.#info(name)
    } catch (error) {
      if (error instanceof BlobNotFound) return false
      throw error
    }
    // rbd prints these in the local time zone without naming it, like ctime(3); Date.parse
    // reads them in the same zone.
    const touched = Math.max(Date.parse(info.create_timestamp), Date.parse(info.modify_timestamp))
    return Number.isNaN(touched) || Date.now() - touched >= olderThanMs
  }

  /** Removes one temporary image; false when it is gone or still open. */
  async #removeIdle(name: string): Promise<boolean> {
    try {
      await this.#rbd(['rm', '--no-progress', this.#spec(name)], 'rbd rm')
      return true
    } catch (error) {
      const code = exitCodeOf(error)
      if (isMissingImage(error) || code === errno.EBUSY) return false
      throw this.#translate(error)
    }
  }

  /** Removes a temporary image after a failed write; logs a failure instead of throwing it. */
  async #removeTemporary(name: string): Promise<void> {
    try {
      await this.#rbd(['rm', '--no-progress', this.#spec(name)], 'rbd rm')
    } catch (error) {
      if (isMissingImage(error)) return
      this.#log.error(
        { op: 'write', err: error, image: name },
        'temporary rbd image not removed; removeIncomplete removes it later',
      )
    }
  }

  #spec(name: string): string {
    return `${this.#pool}/${name}`
  }

  #spawn(args: string[], stdio: ['pipe' | 'ignore', 'pipe' | 'ignore'], label: string) {
    return new CephProcess('rbd', [...this.#args, ...args], stdio, label)
  }

  #rbd(args: string[], label: string): Promise<string> {
    return runCephCommand('rbd', [...this.#args, ...args], label)
  }

  #translate(error: unknown): unknown {
    if (!(error instanceof CephCommandError)) return error
    switch (error.exitCode) {
      case errno.ENOSPC:
      case errno.EDQUOT:
        return new StoreFull(this.name, error)
      case errno.ETIMEDOUT:
        return new StoreUnavailable(this.name, 'the Ceph cluster did not respond in time', error)
      case null:
        return new StoreUnavailable(this.name, `${error.label} could not run`, error)
      default:
        return new StoreUnavailable(this.name, `${error.label} failed`, error)
    }
  }
}

/** The part of `ceph df --format json` that capacity() reads. */
interface CephDf {
  pools?: { name: string; stats: { stored: number; max_avail: number } }[]
}

/** The part of `rbd info --format json` that this driver reads. */
interface RbdInfo {
  size: number
  create_timestamp: string
  modify_timestamp: string
}

function exitCodeOf(error: unknown): number | null {
  return error instanceof CephCommandError ? error.exitCode : null
}

/** True for ENOENT about the image; a missing pool is also ENOENT but means a broken store. */
function isMissingImage(error: unknown): boolean {
  return (
    exitCodeOf(error) === errno.ENOENT &&
    !(error as CephCommandError).stderr.includes('error opening pool')
  )
}

/**
 * Yields the bytes of `rbd export`, or only `range` of them. Ends rbd once the range is
 * complete, and throws when rbd exits with an error before that.
 */
async function* exportedBytes(command: CephProcess, range: ByteRange | undefined) {
  let offset = 0
  try {
    for await (const chunk of command.child.stdout! as AsyncIterable<Buffer>) {
      const chunkEnd = offset + chunk.length
      if (range === undefined) {
        yield chunk
      } else {
        const from = Math.max(range.start - offset, 0)
        const to = Math.min(range.end + 1 - offset, chunk.length)
        if (from < to) yield chunk.subarray(from, to)
        if (chunkEnd > range.end) return
      }
      offset = chunkEnd
    }
    await command.succeeded()
  } finally {
    await command.stop(stopGraceMs)
  }
}

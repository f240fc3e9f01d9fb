import type { Readable } from 'node:stream'
import type { Logger } from 'pino'
import type {
  BlobInfo,
  BlobStore,
  ByteRange,
  IncompleteFilter,
  StoreCapacity,
} from '../domain/ports.js'
import { InvalidKey } from './errors.js'

const keyPattern = /^[A-Za-z0-9._-]{1,200}$/

/**
 * Wraps every driver: rejects bad keys before a driver gets them, and logs each call with its
 * duration, so drivers stay small.
 */
export class CheckedStore implements BlobStore {
  readonly #driver: BlobStore
  readonly #log: Logger

  constructor(driver: BlobStore, log: Logger) {
    this.#driver = driver
    this.#log = log.child({ store: driver.name })
  }

  get name(): string {
    return this.#driver.name
  }

  async write(key: string, source: Readable, signal?: AbortSignal): Promise<BlobInfo> {
    this.#checkKey(key)
    return this.#timed('write', key, () => this.#driver.write(key, source, signal))
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    this.#checkKey(key)
    return this.#timed('read', key, () => this.#driver.read(key, range))
  }

  async stat(key: string): Promise<BlobInfo> {
    this.#checkKey(key)
    return this.#timed('stat', key, () => this.#driver.stat(key))
  }

  async delete(key: string): Promise<boolean> {
    this.#checkKey(key)
    return this.#timed('delete', key, () => this.#driver.delete(key))
  }

  capacity(): Promise<StoreCapacity> {
    return this.#driver.capacity()
  }

  removeIncomplete(options?: IncompleteFilter): Promise<number> {
    if (options?.key !== undefined) this.#checkKey(options.key)
    return this.#timed('remove-incomplete', options?.key ?? null, () =>
      this.#driver.removeIncomplete(options),
    )
  }

  ping(): Promise<void> {
    return this.#driver.ping()
  }

  #checkKey(key: string): void {
    if (!keyPattern.test(key) || key === '.' || key === '..') {
      throw new InvalidKey(this.#driver.name, key)
    }
  }

  async #timed<T>(op: string, key: string | null, call: () => Promise<T>): Promise<T> {
    const started = performance.now()
    try {
      const result = await call()
      if (this.#log.isLevelEnabled('debug')) {
        const durationMs = Math.round(performance.now() - started)
        this.#log.debug({ op, key, durationMs }, 'store call')
      }
      return result
    } catch (error) {
      const durationMs = Math.round(performance.now() - started)
      this.#log.debug({ op, key, durationMs, err: error }, 'store call failed')
      throw error
    }
  }
}

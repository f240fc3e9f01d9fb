import type { Readable } from 'node:stream'
import type { Logger } from 'pino'
import { InvalidInputError, ServiceError } from '../domain/errors.js'
import type { ImageLocation } from '../domain/image.js'
import type { BlobStore, ByteRange, ImageStores, StoreInfo } from '../domain/ports.js'

/** The image's data lives only on other hosts' own disks; a peer must send a copy. */
export class NoCopyHere extends ServiceError {
  constructor(hostName: string) {
    super(
      'STORE_UNAVAILABLE',
      `No copy of the image data is on host ${hostName} or in a shared store; its copies are on other hosts.`,
    )
    this.name = 'NoCopyHere'
  }
}

/** One configured store and how to name its data in a URL. */
export interface StoreEntry {
  info: StoreInfo
  store: BlobStore
  /** The URL of a blob, as the locations API shows it (`file:///…` for the file store). */
  urlOf(key: string): string
}

/** Reads data that lives at an external URL; only used when external locations are allowed. */
export interface UrlReader {
  readonly storeId: string
  read(url: string, range: ByteRange): Promise<Readable>
}

/**
 * The stores of this service, by id. Writes go to one named store. Reads try the locations in
 * order of store weight, and fall back to the next copy when one is missing or its store fails.
 */
export class StoreSet implements ImageStores {
  readonly defaultId: string
  readonly hostName: string
  readonly #entries: Map<string, StoreEntry>
  readonly #urls: UrlReader | null
  readonly #log: Logger

  constructor(entries: StoreEntry[], urls: UrlReader | null, hostName: string, log: Logger) {
    this.hostName = hostName
    const defaults = entries.filter((entry) => entry.info.isDefault)
    if (defaults.length !== 1) {
      throw new TypeError(`exactly one store must be the default, got ${defaults.length}`)
    }
    this.defaultId = defaults[0]!.info.id
    this.#entries = new Map(entries.map((entry) => [entry.info.id, entry]))
    this.#urls = urls
    this.#log = log
  }

  list(): StoreInfo[] {
    return [...this.#entries.values()].map((entry) => entry.info)
  }

  writable(id: string): BlobStore {
    const entry = this.#entries.get(id)
    if (entry === undefined || entry.info.readOnly) {
      const ids = this.list()
        .filter((info) => !info.readOnly)
        .map((info) => info.id)
      throw new InvalidInputError(
        `Store ${id} is not a writable store of this service; choose one of ${ids.join(', ')}.`,
      )
    }
    return entry.store
  }

  /** Returns every writable store, the default first. */
  all(): BlobStore[] {
    return [...this.#entries.values()]
      .filter((entry) => !entry.info.readOnly)
      .sort((a, b) => Number(b.info.isDefault) - Number(a.info.isDefault))
      .map((entry) => entry.store)
  }

  locationFor(storeId: string, key: string): ImageLocation {
    const local = this.#entries.get(storeId)?.info.local === true
    return {
      store: storeId,
      key,
      url: null,
      metadata: { store: storeId },
      ...(local ? { host: this.hostName } : {}),
    }
  }

  isReadableHere(location: ImageLocation): boolean {
    return location.host === undefined || location.host === this.hostName
  }

  async read(locations: readonly ImageLocation[], range: ByteRange): Promise<Readable> {
    const readable = locations.filter((location) => this.isReadableHere(location))
    if (readable.length === 0) throw new NoCopyHere(this.hostName)
    let lastError: unknown = new ServiceError('STORE_UNAVAILABLE', 'The image has no data.')
    for (const location of this.#byWeight(readable)) {
      try {
        return await this.#open(location, range)
      } catch (error) {
        lastError = error
        this.#log.warn(
          { store: location.store, err: error },
          'image data unreadable in this store; trying the next copy',
        )
      }
    }
    throw lastError
  }

  urlOf(location: ImageLocation): string {
    if (location.url !== null) return location.url
    const entry = this.#entries.get(location.store)
    return entry === undefined || location.key === null ? '' : entry.urlOf(location.key)
  }

  #open(location: ImageLocation, range: ByteRange): Promise<Readable> {
    if (location.url !== null) {
      if (this.#urls === null) {
        throw new ServiceError(
          'STORE_UNAVAILABLE',
          'Reading image data from external locations is disabled.',
        )
      }
      return this.#urls.read(location.url, range)
    }
    const entry = this.#entries.get(location.store)
    if (entry === undefined || location.key === null) {
      throw new ServiceError(
        'STORE_UNAVAILABLE',
        `Store ${location.store} is not configured on this host.`,
      )
    }
    return entry.store.read(location.key, range)
  }

  #byWeight(locations: readonly ImageLocation[]): ImageLocation[] {
    const weight = (location: ImageLocation) =>
      this.#entries.get(location.store)?.info.weight ?? Number.NEGATIVE_INFINITY
    // A stable sort keeps the image's own order among stores of equal weight.
    return [...locations].sort((a, b) => weight(b) - weight(a))
  }
}

import { Transform, type Readable, type TransformCallback } from 'node:stream'
import type { UrlSource } from '../domain/location-editor.js'
import type { ByteRange } from '../domain/ports.js'
import type { UrlReader } from '../store/store-set.js'
import { InvalidInputError, ServiceError } from '../domain/errors.js'
import { redactUrl, type WebFetcher } from './web-fetch.js'

/** The store id that locations at external http and https URLs carry. */
export const httpStoreId = 'http'

/**
 * Reads and sizes image data at external URLs for the locations API, through the same fetcher
 * and URL policy as web-download.
 */
export class HttpLocations implements UrlReader, UrlSource {
  readonly storeId = httpStoreId
  readonly #fetcher: WebFetcher

  constructor(fetcher: WebFetcher) {
    this.#fetcher = fetcher
  }

  check(url: string): void {
    this.#fetcher.check(url)
  }

  async size(url: string): Promise<number | null> {
    try {
      return await this.#fetcher.size(url)
    } catch (error) {
      if (error instanceof ServiceError) throw error
      throw new InvalidInputError(
        `Cannot read the size of ${redactUrl(url)}: ${(error as Error).message}`,
      )
    }
  }

  /**
   * Opens a range. From the first byte it requests the whole file and stops after the range,
   * because many plain web servers ignore ranges; a later start needs a server that supports them.
   */
  async read(url: string, range: ByteRange): Promise<Readable> {
    if (range.start > 0) return (await this.#fetcher.open(url, { range })).stream
    const { stream } = await this.#fetcher.open(url)
    const head = new FirstBytes(range.end + 1)
    stream.on('error', (error) => head.destroy(error))
    head.on('close', () => stream.destroy())
    return stream.pipe(head)
  }
}

/** Passes the first `count` bytes and ends; the source is dropped after that. */
class FirstBytes extends Transform {
  #left: number

  constructor(count: number) {
    super()
    this.#left = count
  }

  override _transform(chunk: Buffer, _encoding: string, callback: TransformCallback): void {
    if (this.#left <= 0) return callback()
    const part = chunk.length > this.#left ? chunk.subarray(0, this.#left) : chunk
    this.#left -= part.length
    this.push(part)
    if (this.#left === 0) this.push(null)
    callback()
  }
}

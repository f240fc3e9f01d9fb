import { Transform, type TransformCallback } from 'node:stream'
import { ImageHasher } from '../hashing/image-hasher.js'
import { InvalidInputError, ServiceError } from './errors.js'
import type { ContentInspection, InspectionSession } from './ports.js'
import { quotaError } from './quotas.js'

export interface UploadMeterOptions {
  inspection: InspectionSession | null
  maxSizeBytes: number
  /** The size the client announced, checked when the data ends. */
  expectedSize: number | null
  /** Bytes the project's quota still allows, and the quota's name for the error. */
  quota?: { bytes: number; name: string }
}

export interface UploadResult {
  size: number
  checksum: string
  osHashValue: string
  inspection: ContentInspection | null
}

/**
 * Passes upload data through unchanged while it counts it, hashes it (md5 and sha512 in the
 * same pass) and feeds the format inspector. Any rejection errors the stream, so the store
 * discards the partial data.
 */
export class UploadMeter extends Transform {
  readonly #options: UploadMeterOptions
  readonly #hasher: ImageHasher
  #size = 0
  #result: UploadResult | null = null

  constructor(options: UploadMeterOptions) {
    super({ readableHighWaterMark: 1024 * 1024, writableHighWaterMark: 1024 * 1024 })
    this.#options = options
    this.#hasher = new ImageHasher(options.expectedSize)
  }

  get bytesSeen(): number {
    return this.#size
  }

  /** The totals; only available once the stream has ended without error. */
  get result(): UploadResult {
    if (this.#result === null) throw new Error('UploadMeter.result read before the stream ended')
    return this.#result
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.#size += chunk.length
      if (this.#size > this.#options.maxSizeBytes) {
        throw new ServiceError(
          'PAYLOAD_TOO_LARGE',
          `Image data exceeds the maximum image size of ${this.#options.maxSizeBytes} bytes.`,
        )
      }
      const quota = this.#options.quota
      if (quota !== undefined && this.#size > quota.bytes) {
        throw quotaError(
          quota.name,
          `the data goes past the ${quota.bytes} bytes the project has left; delete images first`,
        )
      }
      this.#options.inspection?.push(chunk)
      const pending = this.#hasher.update(chunk)
      if (pending === undefined) callback(null, chunk)
      else pending.then(() => callback(null, chunk), callback)
    } catch (error) {
      callback(error as Error)
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#result === null) this.#hasher.dispose()
    callback(error)
  }

  override _flush(callback: TransformCallback): void {
    this.#finish().then((result) => {
      this.#result = result
      callback()
    }, callback)
  }

  async #finish(): Promise<UploadResult> {
    if (this.#size === 0) {
      throw new InvalidInputError('The upload is empty: send the image data in the request body.')
    }
    const expected = this.#options.expectedSize
    if (expected !== null && expected !== this.#size) {
      throw new InvalidInputError(
        `Received ${this.#size} bytes but the request announced ${expected}; upload the whole file again.`,
      )
    }
    const inspection = this.#options.inspection?.finish() ?? null
    const digests = await this.#hasher.digest()
    return { size: this.#size, checksum: digests.md5, osHashValue: digests.sha512, inspection }
  }
}

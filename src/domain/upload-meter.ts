import { createHash, type Hash } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'
import { InvalidInputError, ServiceError } from './errors.js'
import type { ContentInspection, InspectionSession } from './ports.js'

export interface UploadMeterOptions {
  inspection: InspectionSession | null
  maxSizeBytes: number
  /** The size the client announced, checked when the data ends. */
  expectedSize: number | null
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
  readonly #md5: Hash = createHash('md5')
  readonly #sha512: Hash = createHash('sha512')
  #size = 0
  #result: UploadResult | null = null

  constructor(options: UploadMeterOptions) {
    super({ readableHighWaterMark: 1024 * 1024, writableHighWaterMark: 1024 * 1024 })
    this.#options = options
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
      this.#options.inspection?.push(chunk)
      this.#md5.update(chunk)
      this.#sha512.update(chunk)
      callback(null, chunk)
    } catch (error) {
      callback(error as Error)
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.#result = this.#finish()
      callback()
    } catch (error) {
      callback(error as Error)
    }
  }

  #finish(): UploadResult {
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
    return {
      size: this.#size,
      checksum: this.#md5.digest('hex'),
      osHashValue: this.#sha512.digest('hex'),
      inspection,
    }
  }
}

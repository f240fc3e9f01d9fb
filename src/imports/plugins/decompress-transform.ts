import { Transform } from 'node:stream'
import type { TransformCallback } from 'node:stream'
import type { Gunzip, InflateRaw } from 'node:zlib'

import { InvalidInputError, ServiceError } from '../../domain/errors.js'

/** Limits on decompressed output that stop a decompression bomb early. */
export interface DecompressorOptions {
  /**
   * Maximum ratio of output bytes to compressed bytes received so far. Another 1 MiB of output
   * is allowed on top, so that small, highly compressible files pass.
   */
  maxRatio: number
  /** Maximum number of output bytes in total. */
  maxOutputBytes: number
}

/** Output allowed beyond `maxRatio` times the input, in bytes. */
const ratioAllowanceBytes = 1024 * 1024

/**
 * The base of the decompressing transforms: counts input and output, rejects output beyond the
 * limits with InvalidInputError, and relays the output of a zlib stream with backpressure.
 *
 * A subclass implements `consume` for each input chunk and `complete` for the end of input.
 * Both may return a promise, and the next chunk is not passed in until it settles.
 */
export abstract class DecompressTransform extends Transform {
  readonly #label: string
  readonly #maxRatio: number
  readonly #maxOutputBytes: number
  #inputBytes = 0
  #outputBytes = 0
  #inflater: InflaterRelay | undefined

  constructor(label: string, options: DecompressorOptions) {
    super()
    validateOptions(options)
    this.#label = label
    this.#maxRatio = options.maxRatio
    this.#maxOutputBytes = options.maxOutputBytes
  }

  /** Processes one chunk of compressed input. */
  protected abstract consume(chunk: Buffer): Promise<void>

  /** Checks that the input ended where the format allows it and flushes the last output. */
  protected abstract complete(): Promise<void>

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#inputBytes += chunk.length
    this.consume(chunk).then(
      () => callback(),
      (error: Error) => callback(error),
    )
  }

  override _flush(callback: TransformCallback): void {
    this.complete().then(
      () => callback(),
      (error: Error) => callback(error),
    )
  }

  // A zlib stream paused by a full reader resumes here. Transform's own _read still runs, because
  // it releases the callback of a chunk that was held back for the same reason.
  override _read(size: number): void {
    this.#inflater?.resume()
    super._read(size)
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#inflater?.destroy()
    callback(error)
  }

  /**
   * Pushes decompressed bytes to the reader, or throws InvalidInputError when they would exceed
   * a limit. Returns false while the reader's buffer is full.
   */
  protected deliver(data: Buffer): boolean {
    this.#checkLimits(this.#outputBytes + data.length)
    this.#outputBytes += data.length
    return this.push(data)
  }

  /**
   * Starts relaying the output of a zlib decompression stream through `deliver`. Errors of the
   * zlib stream destroy this transform with InvalidInputError.
   */
  protected attachInflater(
    stream: Gunzip | InflateRaw,
    deliver: (data: Buffer) => boolean = (data) => this.deliver(data),
  ): InflaterRelay {
    this.#inflater?.destroy()
    this.#inflater = new InflaterRelay(stream, this.#label, deliver, (error) => this.destroy(error))
    return this.#inflater
  }

  #checkLimits(outputBytes: number): void {
    if (outputBytes > this.#maxOutputBytes) {
      throw new InvalidInputError(
        `Decompressed ${this.#label} data exceeds the limit of ${this.#maxOutputBytes} bytes; ` +
          'upload a smaller image.',
        { details: { limit: 'maxOutputBytes', inputBytes: this.#inputBytes } },
      )
    }

    const allowedBytes = this.#maxRatio * this.#inputBytes + ratioAllowanceBytes
    if (outputBytes > allowedBytes) {
      throw new InvalidInputError(
        `Decompressed ${this.#label} data grows beyond ${this.#maxRatio} times its compressed ` +
          'size, which marks a decompression bomb; upload the image uncompressed.',
        { details: { limit: 'maxRatio', inputBytes: this.#inputBytes } },
      )
    }
  }
}

/**
 * Feeds compressed bytes to a zlib decompression stream and passes its output on, pausing the
 * zlib stream while the receiver is full. Node's zlib streams stop decompressing while their
 * own readable buffer is full, so memory stays bounded by the two buffers.
 */
export class InflaterRelay {
  readonly #stream: Gunzip | InflateRaw
  /** Resolves on the zlib stream's `end` and rejects on its `error`. */
  readonly #settled: Promise<void>
  #writtenBytes = 0

  constructor(
    stream: Gunzip | InflateRaw,
    label: string,
    deliver: (data: Buffer) => boolean,
    fail: (error: Error) => void,
  ) {
    this.#stream = stream
    this.#settled = new Promise<void>((resolve, reject) => {
      stream.once('end', resolve)
      stream.once('error', (error: Error) => {
        const mapped = toInvalidInput(error, label)
        reject(mapped)
        fail(mapped)
      })
    })
    // The owner learns of a failure through `fail` even when no caller awaits this promise.
    this.#settled.catch(() => undefined)
    stream.on('data', (data: Buffer) => this.#relay(data, deliver))
  }

  /** Compressed bytes the zlib stream has decompressed so far. */
  get consumedBytes(): number {
    return this.#stream.bytesWritten
  }

  /**
   * Bytes written but not consumed. zlib consumes all input until the compressed data ends, so
   * a positive count means that it ended inside the last chunk written.
   */
  get unconsumedBytes(): number {
    return this.#writtenBytes - this.#stream.bytesWritten
  }

  /** Writes compressed bytes; resolves once zlib has processed them or the data has ended. */
  write(chunk: Buffer): Promise<void> {
    this.#writtenBytes += chunk.length
    // A zlib stream that fails drops the callback of the write in progress, or calls it with a
    // generic "stream destroyed" error, so the outcome comes from the error event instead.
    const written = new Promise<void>((resolve) => {
      this.#stream.write(chunk, (error) => resolve(error ? this.#settled : undefined))
    })
    return Promise.race([this.#settled, written])
  }

  /** Ends the input; resolves once all output has been passed on. */
  end(): Promise<void> {
    this.#stream.end()
    return this.#settled
  }

  resume(): void {
    this.#stream.resume()
  }

  destroy(): void {
    this.#stream.destroy()
  }

  #relay(data: Buffer, deliver: (data: Buffer) => boolean): void {
    try {
      if (!deliver(data)) this.#stream.pause()
    } catch (error) {
      this.#stream.destroy(error as Error)
    }
  }
}

function toInvalidInput(error: Error, label: string): ServiceError {
  if (error instanceof ServiceError) return error

  return new InvalidInputError(
    `The ${label} data is truncated or corrupt (zlib: ${error.message}); ` +
      'upload the complete, intact file.',
    { cause: error },
  )
}

function validateOptions(options: DecompressorOptions): void {
  const { maxRatio, maxOutputBytes } = options
  if (typeof maxRatio !== 'number' || !Number.isFinite(maxRatio) || maxRatio <= 0) {
    throw new TypeError(`maxRatio must be a positive finite number, got ${String(maxRatio)}`)
  }
  if (!Number.isSafeInteger(maxOutputBytes) || maxOutputBytes < 0) {
    throw new TypeError(
      `maxOutputBytes must be a non-negative integer, got ${String(maxOutputBytes)}`,
    )
  }
}

import { createHash, getHashes, type Hash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open, stat, type FileHandle } from 'node:fs/promises'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { HttpError } from '../cli/errors.js'
import { ImageFormatError, StreamInspector } from '../formats/inspector.js'
import { AgentError } from './agent-error.js'
import type { CacheDirectory } from './cache-directory.js'
import type { ImageFacts, LibraryClient } from './library-client.js'
import { Throttle, type TokenBucket } from './throttle.js'

/** A download that cannot succeed by trying again: the data is wrong or the image is gone. */
export class DownloadRejected extends Error {
  readonly code: 'CHECKSUM_MISMATCH' | 'IMAGE_FORMAT_INVALID' | 'IMAGE_NOT_FOUND'

  constructor(code: DownloadRejected['code'], message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'DownloadRejected'
    this.code = code
  }
}

export interface DownloadOptions {
  library: LibraryClient
  directory: CacheDirectory
  image: ImageFacts
  /** Bytes per second, read before each chunk; Infinity for no limit. */
  rate: () => number
  /** Attempts per download, across hosts, before a network failure is final. */
  maxAttempts: number
  /** First pause before retrying on the same host; doubles each time. */
  retryDelayMs: number
  log: Logger
  signal?: AbortSignal
  /** The tokens the rate limit takes from, shared by downloads that share the limit. */
  bucket?: TokenBucket
  /** Called with the length of each chunk received, including chunks the download then rejects. */
  onReceived?: (bytes: number) => void
}

export interface DownloadResult {
  /** Bytes received from the library in this download; less than the size after a resume. */
  bytesFetched: number
  /** The offset the download started at: a resumed partial file's length, or 0. */
  resumedFrom: number
  /** The image endpoints that sent data, in order. */
  sources: string[]
}

/**
 * Downloads an image into its partial file and verifies it: the size, `os_hash_value`, the md5
 * `checksum`, and the format inspection (the declared disk_format, no backing file, no unsafe
 * layout). A partial file left by an earlier run for the same data is resumed after its bytes
 * are hashed again. A connection failure or a 5xx resumes with a Range request, on the next
 * image endpoint of the catalog when there is one.
 *
 * On success the partial file is complete and fsynced, ready to publish. On a rejection the
 * partial file is removed. It is kept, so the next fetch resumes it, on a network failure that
 * outlasts the attempts, and on a full file system, which throws AgentError CACHE_FULL at once.
 */
export async function downloadImage(options: DownloadOptions): Promise<DownloadResult> {
  const { directory, image } = options
  const verifier = new DataVerifier(image)
  const resumedFrom = await preparePartial(directory, image, verifier)
  const file = await open(directory.partialPath(image.id), resumedFrom === 0 ? 'w' : 'r+')
  const sources: string[] = []
  try {
    await receive(options, file, verifier, resumedFrom, sources)
    verifier.finish()
    await file.sync()
  } catch (error) {
    if (error instanceof DownloadRejected) await directory.discardPartial(image.id)
    throw error
  } finally {
    await file.close()
  }
  return { bytesFetched: verifier.bytes - resumedFrom, resumedFrom, sources }
}

/** Checks the partial file's record and feeds its bytes to the verifier; returns its length. */
async function preparePartial(
  directory: CacheDirectory,
  image: ImageFacts,
  verifier: DataVerifier,
): Promise<number> {
  const meta = await directory.readPartial(image.id)
  const matches =
    meta !== undefined && meta.size === image.size && meta.osHashValue === image.osHashValue
  const length = matches ? await fileLength(directory.partialPath(image.id)) : 0
  if (!matches || length > image.size) {
    await directory.discardPartial(image.id)
    await directory.startPartial({
      imageId: image.id,
      size: image.size,
      osHashAlgo: image.osHashAlgo,
      osHashValue: image.osHashValue,
    })
    return 0
  }
  if (length > 0) {
    await pipeline(
      createReadStream(directory.partialPath(image.id), { end: length - 1 }),
      verifier.sink(),
    )
  }
  return length
}

async function receive(
  options: DownloadOptions,
  file: FileHandle,
  verifier: DataVerifier,
  start: number,
  sources: string[],
): Promise<void> {
  const { image, library, log } = options
  let delayMs = options.retryDelayMs
  for (let attempt = 1; verifier.bytes < image.size; attempt++) {
    const offset = verifier.bytes
    let source: string | undefined
    try {
      const { response, host } = await library.download(image.id, offset)
      source = host
      if (sources.at(-1) !== host) sources.push(host)
      const appender = new FileAppender(file, verifier, options.onReceived)
      await pipeline(
        response.body,
        new Throttle(options.rate, options.signal, options.bucket),
        appender,
        {
          signal: options.signal,
        },
      ).finally(() => appender.settled())
      if (verifier.bytes < image.size) throw new Error('the connection closed before the end')
    } catch (error) {
      const failure = classify(error, image)
      if (failure !== null) throw failure
      if (isOutOfSpace(error)) throw outOfSpace(image, error)
      if (attempt >= options.maxAttempts || options.signal?.aborted) throw error

      const reason = (error as Error).message
      log.warn(
        { imageId: image.id, op: 'fetch', bytesIn: verifier.bytes - start, err: reason },
        'download interrupted; resuming',
      )
      if (!(await library.failOver(source, reason))) {
        await sleep(delayMs, undefined, { signal: options.signal })
        delayMs *= 2
      }
    }
  }
}

/** Returns the error to throw at once, or null when the failure is worth another attempt. */
function classify(error: unknown, image: ImageFacts): DownloadRejected | null {
  if (error instanceof DownloadRejected) return error
  if (error instanceof ImageFormatError) {
    return new DownloadRejected(
      'IMAGE_FORMAT_INVALID',
      `The data of image ${image.id} fails the format inspection: ${error.message}`,
      { cause: error },
    )
  }
  if (error instanceof HttpError && error.status === 404) {
    return new DownloadRejected(
      'IMAGE_NOT_FOUND',
      `Image ${image.id} was deleted or hidden during the download.`,
      { cause: error },
    )
  }
  if (error instanceof HttpError && error.status < 500)
    return new DownloadRejected(
      'IMAGE_NOT_FOUND',
      `The library refused the download of image ${image.id}: ${error.message}`,
      { cause: error },
    )
  return null
}

/** Returns true for a failed write to a full file system, which no other library host can fix. */
function isOutOfSpace(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code
  return code === 'ENOSPC' || code === 'EDQUOT'
}

function outOfSpace(image: ImageFacts, error: unknown): AgentError {
  return new AgentError(
    'CACHE_FULL',
    `The cache's file system ran out of space while image ${image.id} was written to it ` +
      `(${(error as Error).message}). Free disk space and fetch again; ` +
      'the download resumes from the bytes already written.',
    { cause: error },
  )
}

/**
 * Writes chunks at the end of the partial file and only then hashes them, so the bytes hashed
 * are always the bytes on disk, whenever the source fails.
 */
class FileAppender extends Writable {
  readonly #file: FileHandle
  readonly #verifier: DataVerifier
  readonly #onReceived: ((bytes: number) => void) | undefined
  #writing: Promise<unknown> = Promise.resolve()

  constructor(file: FileHandle, verifier: DataVerifier, onReceived?: (bytes: number) => void) {
    super({ highWaterMark: 1024 * 1024 })
    this.#file = file
    this.#verifier = verifier
    this.#onReceived = onReceived
  }

  /**
   * Resolves when no write is in flight. A failed pipeline destroys the appender at once, but
   * a write it started still lands; the next attempt must start after it.
   */
  settled(): Promise<unknown> {
    return this.#writing
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error) => void): void {
    this.#onReceived?.(chunk.length)
    try {
      this.#verifier.checkRoom(chunk.length)
    } catch (error) {
      done(error as Error)
      return
    }
    const write = writeFully(this.#file, chunk, this.#verifier.bytes)
    this.#writing = write.then(
      () => {
        // After a destroy the bytes stay unhashed: the next attempt writes them again.
        if (this.destroyed) return
        try {
          this.#verifier.update(chunk)
          done()
        } catch (error) {
          done(error as Error)
        }
      },
      (error: unknown) => {
        if (!this.destroyed) done(error as Error)
      },
    )
  }
}

/**
 * Writes all of `chunk` at `position`. A single write(2) may write less without an error, for
 * example when the file system fills up, and the next call then reports the error.
 */
async function writeFully(file: FileHandle, chunk: Buffer, position: number): Promise<void> {
  let written = 0
  while (written < chunk.length) {
    const { bytesWritten } = await file.write(
      chunk,
      written,
      chunk.length - written,
      position + written,
    )
    written += bytesWritten
  }
}

/**
 * Hashes and inspects image data in order and compares the result with the image record.
 */
export class DataVerifier {
  readonly #image: ImageFacts
  readonly #hash: Hash
  readonly #md5: Hash | null
  readonly #inspector: StreamInspector
  bytes = 0

  constructor(image: ImageFacts) {
    if (!getHashes().includes(image.osHashAlgo)) {
      throw new DownloadRejected(
        'CHECKSUM_MISMATCH',
        `Image ${image.id} has os_hash_algo '${image.osHashAlgo}', which this agent cannot compute.`,
      )
    }
    this.#image = image
    this.#hash = createHash(image.osHashAlgo)
    this.#md5 = image.checksum === null ? null : createHash('md5')
    this.#inspector = new StreamInspector({ declaredFormat: image.diskFormat })
  }

  checkRoom(length: number): void {
    if (this.bytes + length > this.#image.size) {
      throw new DownloadRejected(
        'CHECKSUM_MISMATCH',
        `The library sent more than the ${this.#image.size} bytes of image ${this.#image.id}.`,
      )
    }
  }

  update(chunk: Buffer): void {
    this.#inspector.push(chunk)
    this.#hash.update(chunk)
    this.#md5?.update(chunk)
    this.bytes += chunk.length
  }

  /** Returns a writable that feeds the verifier, for data already on disk. */
  sink(): Writable {
    return new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        try {
          this.update(chunk)
          done()
        } catch (error) {
          done(error as Error)
        }
      },
    })
  }

  /** Throws DownloadRejected unless the data matches the record and passes inspection. */
  finish(): void {
    const image = this.#image
    try {
      this.#inspector.finish()
    } catch (error) {
      throw classify(error, image) ?? error
    }
    const digest = this.#hash.digest('hex')
    if (digest !== image.osHashValue.toLowerCase()) {
      throw new DownloadRejected(
        'CHECKSUM_MISMATCH',
        `The data of image ${image.id} has ${image.osHashAlgo} ${digest}, but os_hash_value is ${image.osHashValue}.`,
      )
    }
    const md5 = this.#md5?.digest('hex')
    if (md5 !== undefined && md5 !== image.checksum?.toLowerCase()) {
      throw new DownloadRejected(
        'CHECKSUM_MISMATCH',
        `The data of image ${image.id} has md5 ${md5}, but its checksum is ${image.checksum}.`,
      )
    }
  }
}

/** Hashes a cached copy in full; true when it still matches the image's `os_hash_value`. */
export async function verifyFile(path: string, image: ImageFacts): Promise<boolean> {
  const verifier = new DataVerifier(image)
  try {
    await pipeline(createReadStream(path), verifier.sink())
    if (verifier.bytes !== image.size) return false
    verifier.finish()
    return true
  } catch (error) {
    if (error instanceof DownloadRejected) return false
    throw error
  }
}

async function fileLength(path: string): Promise<number> {
  try {
    return (await stat(path)).size
  } catch {
    return 0
  }
}

import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  S3Client,
  S3ServiceException,
  type MultipartUpload,
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Logger } from 'pino'
import type { BlobInfo, BlobStore, ByteRange, StoreCapacity } from '../../domain/ports.js'
import { BlobExists, BlobNotFound, StoreFull, StoreUnavailable } from '../errors.js'

export interface S3StoreConfig {
  /** The store id that errors and logs name; `s3` by default. */
  name?: string
  /** The S3 endpoint URL, such as `http://127.0.0.1:7480` for radosgw. */
  endpoint: string
  region: string
  /** An existing bucket that only this store writes to. */
  bucket: string
  accessKey: string
  secretKey: string
  /** Bytes per multipart part; 32 MiB by default, at least 5 MiB. */
  partSizeBytes?: number
  log: Logger
}

/** Filters for `removeIncomplete`: one key, or only uploads untouched for a while. */
export interface IncompleteFilter {
  key?: string
  olderThanMs?: number
}

// NOTE: S3 allows 10,000 parts, so an object can be at most 10,000 times the part size
// (312.5 GiB with 32 MiB parts). Each write buffers about `queueSize + 1` parts in memory.
const defaultPartSizeBytes = 32 * 1024 * 1024
const queueSize = 4
const connectionTimeoutMs = 5000

/**
 * Blobs as objects in one S3 bucket, written with multipart uploads (lib-storage `Upload`).
 *
 * Until CompleteMultipartUpload, an upload's parts are invisible under its key, so a failed or
 * aborted write leaves nothing to read, and the driver aborts the upload to free its parts.
 * Data smaller than one part goes in one PutObject instead.
 */
export class S3Store implements BlobStore {
  readonly name: string
  readonly #bucket: string
  readonly #client: S3Client
  readonly #partSizeBytes: number
  readonly #urlBase: string
  readonly #log: Logger

  constructor(config: S3StoreConfig) {
    this.name = config.name ?? 's3'
    this.#bucket = config.bucket
    this.#partSizeBytes = config.partSizeBytes ?? defaultPartSizeBytes
    this.#log = config.log.child({ store: this.name })
    const endpoint = new URL(config.endpoint)
    const scheme = endpoint.protocol === 'https:' ? 's3+https' : 's3'
    this.#urlBase = `${scheme}://${endpoint.host}/${encodeURIComponent(config.bucket)}/`
    // With static credentials and an explicit endpoint and region, the SDK queries no instance
    // metadata service and reads no credential files. radosgw needs path-style URLs unless
    // bucket DNS names are set up. Checksums are sent only where S3 requires them, because not
    // every S3-compatible store accepts the SDK's default CRC32 trailers, and the image service
    // hashes the data itself.
    this.#client = new S3Client({
      endpoint: config.endpoint,
      region: config.region,
      credentials: { accessKeyId: config.accessKey, secretAccessKey: config.secretKey },
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
      requestHandler: { connectionTimeout: connectionTimeoutMs },
    })
  }

  /** Returns the URL that the locations API shows, without credentials. */
  urlOf(key: string): string {
    return this.#urlBase + encodeURIComponent(key)
  }

  async write(key: string, source: Readable, signal?: AbortSignal): Promise<BlobInfo> {
    // NOTE: radosgw (checked on Ceph 16.2.15) honours If-None-Match only on PutObject and ignores
    // it on CompleteMultipartUpload. So this check and the completion of a multipart upload
    // race: two writers of one key can both succeed, and the last one wins.
    if (await this.#exists(key)) throw new BlobExists(this.name, key)

    let size = 0
    const body = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.length
        done(null, chunk)
      },
    })
    let sourceError: unknown = null
    source.once('error', (error) => (sourceError ??= error))
    const piping = pipeline(source, body, signal === undefined ? {} : { signal }).then(
      () => null,
      (error: unknown) => error,
    )
    const upload = new Upload({
      client: this.#client,
      params: { Bucket: this.#bucket, Key: key, Body: body, IfNoneMatch: '*' },
      partSize: this.#partSizeBytes,
      queueSize,
      // This driver aborts the upload itself, after every part request has ended.
      leavePartsOnError: true,
    })

    try {
      await upload.done()
    } catch (error) {
      // Ends the source too when the upload failed first.
      body.destroy()
      const pipingError = await piping
      await this.#abortUpload(key, upload.uploadId)
      if (sourceError !== null) throw sourceError
      if (signal?.aborted === true) throw pipingError ?? signal.reason
      if (statusOf(error) === 412) throw new BlobExists(this.name, key)
      throw this.#translate(error, 'write')
    }
    const pipingError = await piping
    if (pipingError !== null) throw pipingError
    return { size }
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    const rangeHeader = range === undefined ? {} : { Range: `bytes=${range.start}-${range.end}` }
    try {
      const output = await this.#client.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key: key, ...rangeHeader }),
      )
      return output.Body as Readable
    } catch (error) {
      if (isMissingKey(error)) throw new BlobNotFound(this.name, key)
      // A range that starts at or after the end, which includes any range of an empty object.
      if (range !== undefined && statusOf(error) === 416) {
        return Readable.from([], { objectMode: false })
      }
      throw this.#translate(error, 'read')
    }
  }

  async stat(key: string): Promise<BlobInfo> {
    try {
      const output = await this.#client.send(
        new HeadObjectCommand({ Bucket: this.#bucket, Key: key }),
      )
      return { size: output.ContentLength ?? 0 }
    } catch (error) {
      if (isMissingKey(error)) throw new BlobNotFound(this.name, key)
      throw this.#translate(error, 'stat')
    }
  }

  async delete(key: string): Promise<boolean> {
    // DeleteObject succeeds whether or not the key exists, so only a HEAD can tell.
    if (!(await this.#exists(key))) return false
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key }))
      return true
    } catch (error) {
      throw this.#translate(error, 'delete')
    }
  }

  /**
   * Reports no limit (`Number.MAX_SAFE_INTEGER` for both numbers): S3 has no call for free
   * space, so a full backend or a quota shows up as a failed write instead.
   */
  async capacity(): Promise<StoreCapacity> {
    return { totalBytes: Number.MAX_SAFE_INTEGER, freeBytes: Number.MAX_SAFE_INTEGER }
  }

  /**
   * Aborts multipart uploads that never completed: all in the bucket, those of `filter.key`, or
   * those whose last part (or start) is older than `filter.olderThanMs`. Without a filter this
   * also aborts uploads in progress, on this host or another.
   */
  async removeIncomplete(filter: IncompleteFilter = {}): Promise<number> {
    let removed = 0
    for (const upload of await this.#listUploads(filter.key)) {
      if (upload.Key === undefined || upload.UploadId === undefined) continue
      if (filter.key !== undefined && upload.Key !== filter.key) continue
      if (filter.olderThanMs !== undefined) {
        const touched = await this.#lastTouched(upload)
        if (Date.now() - touched < filter.olderThanMs) continue
      }
      await this.#abortUpload(upload.Key, upload.UploadId)
      removed += 1
    }
    return removed
  }

  async ping(): Promise<void> {
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.#bucket }))
    } catch (error) {
      if (statusOf(error) === 404) {
        throw new StoreUnavailable(this.name, `bucket ${this.#bucket} does not exist`, error)
      }
      throw this.#translate(error, 'ping')
    }
  }

  /** Closes the SDK's connections. */
  close(): void {
    this.#client.destroy()
  }

  async #exists(key: string): Promise<boolean> {
    try {
      await this.stat(key)
      return true
    } catch (error) {
      if (error instanceof BlobNotFound) return false
      throw error
    }
  }

  async #listUploads(prefix: string | undefined): Promise<MultipartUpload[]> {
    const uploads: MultipartUpload[] = []
    let markers: { KeyMarker?: string; UploadIdMarker?: string } = {}
    try {
      for (;;) {
        const page = await this.#client.send(
          new ListMultipartUploadsCommand({ Bucket: this.#bucket, Prefix: prefix, ...markers }),
        )
        uploads.push(...(page.Uploads ?? []))
        if (page.IsTruncated !== true) return uploads
        markers = { KeyMarker: page.NextKeyMarker, UploadIdMarker: page.NextUploadIdMarker }
      }
    } catch (error) {
      throw this.#translate(error, 'remove-incomplete')
    }
  }

  /** Returns the time of the upload's latest part, or of its start when it has none. */
  async #lastTouched(upload: MultipartUpload): Promise<number> {
    let latest = upload.Initiated?.getTime() ?? 0
    let marker: string | undefined
    try {
      for (;;) {
        const page = await this.#client.send(
          new ListPartsCommand({
            Bucket: this.#bucket,
            Key: upload.Key,
            UploadId: upload.UploadId,
            PartNumberMarker: marker,
          }),
        )
        for (const part of page.Parts ?? []) {
          latest = Math.max(latest, part.LastModified?.getTime() ?? 0)
        }
        if (page.IsTruncated !== true) return latest
        marker = page.NextPartNumberMarker
      }
    } catch (error) {
      // An upload that completed or was aborted meanwhile.
      if (errorName(error) === 'NoSuchUpload') return Date.now()
      throw this.#translate(error, 'remove-incomplete')
    }
  }

  /** Aborts a multipart upload; logs a failure instead of throwing it. */
  async #abortUpload(key: string, uploadId: string | undefined): Promise<void> {
    if (uploadId === undefined) return
    try {
      await this.#client.send(
        new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: key, UploadId: uploadId }),
      )
    } catch (error) {
      if (errorName(error) === 'NoSuchUpload') return
      this.#log.error(
        { op: 'write', key, err: error },
        'multipart upload not aborted; removeIncomplete aborts it later',
      )
    }
  }

  #translate(error: unknown, op: string): unknown {
    if (error instanceof S3ServiceException) {
      if (error.name === 'QuotaExceeded') return new StoreFull(this.name, error)
      if (error.name === 'NoSuchBucket') {
        return new StoreUnavailable(this.name, `bucket ${this.#bucket} does not exist`, error)
      }
      return new StoreUnavailable(this.name, `S3 ${op} failed with ${error.name}`, error)
    }
    if (error instanceof Error && isNetworkError(error)) {
      return new StoreUnavailable(this.name, 'the S3 endpoint is unreachable', error)
    }
    return error
  }
}

function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined
}

function statusOf(error: unknown): number | undefined {
  return error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined
}

/**
 * True for a missing object. HEAD responses carry no error code, so there a missing bucket
 * also counts as a missing object; ping() tells the two apart.
 */
function isMissingKey(error: unknown): boolean {
  const name = errorName(error)
  return name === 'NoSuchKey' || (name === 'NotFound' && statusOf(error) === 404)
}

const networkErrorCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EPIPE',
  'ETIMEDOUT',
])

function isNetworkError(error: Error): boolean {
  const code = (error as NodeJS.ErrnoException).code
  return (
    (code !== undefined && networkErrorCodes.has(code)) ||
    error.name === 'TimeoutError' ||
    error.name === 'AggregateError'
  )
}

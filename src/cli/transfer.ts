import { createHash, getHashes, type Hash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { lstat, open, unlink } from 'node:fs/promises'
import { Readable, Transform, type Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import cliProgress from 'cli-progress'
import { CliError } from './errors.js'
import { describeError } from './http-client.js'
import type { ImageRecord } from './image-client.js'

/** Image data to upload: a stream and, for a regular file, its size in bytes. */
export interface UploadSource {
  stream: Readable
  size: number | undefined
  /** Opens the file again from the start, for a retry on another host; not for stdin. */
  reopen?: () => Readable
}

/**
 * Opens the image file to upload, or standard input for `-`. Opening first lets pcdctl fail
 * before it creates an image record for a file it cannot read.
 */
export async function openUploadSource(path: string, stdin: Readable): Promise<UploadSource> {
  if (path === '-') return { stream: stdin, size: undefined }

  try {
    const handle = await open(path, 'r')
    const stats = await handle.stat()
    if (stats.isDirectory()) {
      await handle.close()
      throw new CliError(`Cannot read the image file '${path}': it is a directory.`)
    }
    const size = stats.isFile() ? stats.size : undefined
    return { stream: handle.createReadStream(), size, reopen: () => createReadStream(path) }
  } catch (error) {
    if (error instanceof CliError) throw error
    throw new CliError(`Cannot read the image file '${path}': ${describeError(error)}.`, {
      cause: error,
    })
  }
}

/** A progress display for one transfer; a no-op when stderr is not a terminal. */
export interface Progress {
  update(bytes: number): void
  stop(): void
}

/** Creates a progress bar on `stderr` when it is a terminal, sized in bytes. */
export function createProgress(
  stderr: Writable,
  label: string,
  totalBytes: number | undefined,
): Progress {
  if ((stderr as Writable & { isTTY?: boolean }).isTTY !== true || totalBytes === undefined) {
    return { update: () => undefined, stop: () => undefined }
  }

  const bar = new cliProgress.SingleBar({
    stream: stderr,
    format: `${label} [{bar}] {percentage}% | {transferred} of {size} | ETA {eta_formatted}`,
    hideCursor: true,
    clearOnComplete: false,
  })
  bar.start(totalBytes, 0, { transferred: formatBytes(0), size: formatBytes(totalBytes) })
  return {
    update: (bytes) => bar.update(bytes, { transferred: formatBytes(bytes) }),
    stop: () => bar.stop(),
  }
}

/** Formats a byte count with binary units, for example `1.5 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`
}

/** Attempts to continue one download on other hosts before it fails. */
const maxResumes = 3

/**
 * Returns the download as one stream. When its source fails before `size` bytes, the stream
 * gets the rest from `reopen` (on another host), starting at the byte reached. `reopen` returns
 * `null` when there is nowhere else to go, and then the failure stands.
 */
export function resumableDownload(
  first: Readable,
  size: number | undefined,
  reopen: (offset: number, cause: unknown) => Promise<Readable | null>,
): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    let source = first
    let offset = 0
    for (let resumes = 0; ; resumes++) {
      try {
        for await (const chunk of source as AsyncIterable<Buffer>) {
          offset += chunk.length
          yield chunk
        }
        return
      } catch (error) {
        if (size === undefined || offset >= size || resumes >= maxResumes) throw error
        const next = await reopen(offset, error)
        if (next === null) throw error
        source = next
      }
    }
  }
  return Readable.from(chunks(), { objectMode: false })
}

/** The destination of `image save`: a file that is deleted on failure, or a stream left open. */
export type SaveTarget = { kind: 'file'; path: string } | { kind: 'stream'; stream: Writable }

interface ExpectedDigest {
  algorithm: string
  field: string
  expected: string
  hash: Hash
}

/**
 * Streams downloaded image data to `target` while computing the digests that the image record
 * lists: the md5 `checksum` and, when present, `os_hash_value` with `os_hash_algo`. Throws a
 * CliError on a mismatch or a failed transfer, after deleting a target file. `warn` receives a
 * digest that cannot be checked.
 */
export async function saveVerified(
  data: Readable,
  image: ImageRecord,
  target: SaveTarget,
  options: { warn: (message: string) => void; onProgress: (bytes: number) => void },
): Promise<void> {
  const digests = expectedDigests(image, options.warn)
  let bytes = 0
  const tap = createTap((chunk) => {
    bytes += chunk.length
    for (const digest of digests) digest.hash.update(chunk)
    options.onProgress(bytes)
  })

  // Only a file that this download opened (and so truncated) may be deleted on failure.
  let opened = false
  try {
    if (target.kind === 'file') {
      const file = createWriteStream(target.path).once('open', () => (opened = true))
      await pipeline(data, tap, file)
    } else {
      await pipeline(data, tap, target.stream, { end: false })
    }
  } catch (error) {
    const removed = opened ? await removeTargetFile(target) : ''
    throw new CliError(`Downloading image ${image.id} failed: ${describeError(error)}.${removed}`, {
      cause: error,
    })
  }

  const mismatch = findMismatch(digests, image, bytes)
  if (mismatch !== undefined) {
    const removed = await removeTargetFile(target)
    throw new CliError(
      `The downloaded data of image ${image.id} is corrupt: ${mismatch}.${removed}`,
    )
  }
}

function createTap(onChunk: (chunk: Buffer) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      onChunk(chunk)
      callback(null, chunk)
    },
  })
}

function expectedDigests(image: ImageRecord, warn: (message: string) => void): ExpectedDigest[] {
  const digests: ExpectedDigest[] = []
  const checksum = image['checksum']
  if (typeof checksum === 'string' && checksum !== '') {
    digests.push({
      algorithm: 'md5',
      field: 'checksum',
      expected: checksum,
      hash: createHash('md5'),
    })
  }

  const algorithm = image['os_hash_algo']
  const value = image['os_hash_value']
  if (typeof algorithm !== 'string' || typeof value !== 'string' || value === '') return digests

  if (!getHashes().includes(algorithm)) {
    warn(`Cannot verify os_hash_value: this Node.js has no '${algorithm}' hash.`)
    return digests
  }
  digests.push({ algorithm, field: 'os_hash_value', expected: value, hash: createHash(algorithm) })
  return digests
}

function findMismatch(
  digests: readonly ExpectedDigest[],
  image: ImageRecord,
  bytes: number,
): string | undefined {
  const size = image['size']
  if (typeof size === 'number' && size !== bytes) {
    return `received ${bytes} bytes, but the image size is ${size} bytes`
  }
  for (const digest of digests) {
    const actual = digest.hash.digest('hex')
    if (actual !== digest.expected.toLowerCase()) {
      return `its ${digest.algorithm} is ${actual}, but the image's ${digest.field} is ${digest.expected}`
    }
  }
  return undefined
}

// Deletes only a regular file: a target such as /dev/null must survive a failed download.
async function removeTargetFile(target: SaveTarget): Promise<string> {
  if (target.kind !== 'file') return ''
  try {
    const stats = await lstat(target.path)
    if (!stats.isFile()) return ''

    await unlink(target.path)
    return ` Deleted '${target.path}'.`
  } catch (error) {
    return ` Deleting '${target.path}' failed too: ${describeError(error)}.`
  }
}

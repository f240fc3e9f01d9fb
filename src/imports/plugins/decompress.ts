import type { Transform } from 'node:stream'
import { createGunzip } from 'node:zlib'

import { DecompressTransform } from './decompress-transform.js'
import type { DecompressorOptions, InflaterRelay } from './decompress-transform.js'
import { ZipEntryReader } from './zip-entry-reader.js'

export type { DecompressorOptions } from './decompress-transform.js'

export const compressionKinds = ['gzip', 'zip'] as const

export type CompressionKind = (typeof compressionKinds)[number]

/** gzip magic bytes followed by compression method 8 (deflate), the only one gzip defines. */
const gzipMagic = Buffer.from([0x1f, 0x8b, 0x08])
/** The signature of a zip local file header, "PK\3\4", which starts every non-empty archive. */
const zipMagic = Buffer.from([0x50, 0x4b, 0x03, 0x04])

/**
 * Detects gzip or zip data from its first bytes; returns null for anything else, including a
 * head too short to decide. Four bytes are enough.
 *
 * An empty zip archive (only an end-of-central-directory record) is not detected, because it
 * contains no image.
 */
export function detectCompression(head: Buffer): CompressionKind | null {
  if (startsWith(head, gzipMagic)) return 'gzip'
  if (startsWith(head, zipMagic)) return 'zip'
  return null
}

/**
 * Creates a transform that decompresses gzip data, or the one file of a zip archive, as it
 * streams through. Memory use does not grow with the data: the zip reader keeps at most one
 * local file header (up to 128 KiB), and zlib output is relayed with backpressure.
 *
 * The transform is destroyed with InvalidInputError (HTTP 400) when:
 * - the output would exceed `maxOutputBytes`, or `maxRatio` times the compressed bytes
 *   received so far plus 1 MiB. Output already passed on stays within both limits.
 * - the data is corrupt or truncated, or fails its CRC-32 check.
 * - a zip archive has a second entry, an encrypted entry, a directory entry, a method other
 *   than stored (0) or deflate (8), or a stored entry with a data descriptor.
 *
 * gzip data may contain several members, which are decompressed one after the other, as gzip
 * does. The zip central directory is not read, so an archive is accepted once its single entry
 * has been read and the next signature starts the central directory.
 *
 * @example
 * const head = await readHead(path)
 * const kind = detectCompression(head)
 * if (kind !== null) {
 *   const decompressor = createDecompressor(kind, { maxRatio: 100, maxOutputBytes: 64 * GiB })
 *   await pipeline(createReadStream(path), decompressor, createWriteStream(target))
 * }
 */
export function createDecompressor(kind: CompressionKind, options: DecompressorOptions): Transform {
  switch (kind) {
    case 'gzip':
      return new GunzipTransform(options)
    case 'zip':
      return new ZipEntryReader(options)
    default:
      throw new TypeError(`Compression kind must be gzip or zip, got ${String(kind)}`)
  }
}

class GunzipTransform extends DecompressTransform {
  readonly #inflater: InflaterRelay

  constructor(options: DecompressorOptions) {
    super('gzip', options)
    this.#inflater = this.attachInflater(createGunzip())
  }

  protected consume(chunk: Buffer): Promise<void> {
    return this.#inflater.write(chunk)
  }

  protected complete(): Promise<void> {
    return this.#inflater.end()
  }
}

function startsWith(data: Buffer, prefix: Buffer): boolean {
  return data.length >= prefix.length && data.subarray(0, prefix.length).equals(prefix)
}

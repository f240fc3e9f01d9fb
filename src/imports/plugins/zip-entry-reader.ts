import { createInflateRaw, crc32 } from 'node:zlib'

import { InvalidInputError } from '../../domain/errors.js'
import { quoteForMessage } from '../../formats/image-format-error.js'
import { DecompressTransform } from './decompress-transform.js'
import type { DecompressorOptions, InflaterRelay } from './decompress-transform.js'

// Record layouts follow PKWARE's zip specification, APPNOTE.TXT section 4.3.
const localFileHeaderSignature = 0x04034b50
const dataDescriptorSignature = 0x08074b50
/** Records that may follow the last entry: the central directory and what can precede it. */
const trailerSignatures: ReadonlySet<number> = new Set([
  0x02014b50, // central directory file header
  0x05054b50, // digital signature
  0x06054b50, // end of central directory
  0x06064b50, // zip64 end of central directory
  0x07064b50, // zip64 end of central directory locator
  0x08064b50, // archive extra data
])

const localFileHeaderSize = 30
const flagEncrypted = 1 << 0
const flagDataDescriptor = 1 << 3
const flagStrongEncryption = 1 << 6
const flagUtf8Name = 1 << 11
const flagMaskedHeader = 1 << 13
const methodStored = 0
const methodDeflate = 8
const methodAesEncrypted = 99
const zip64ExtraFieldId = 0x0001
/** A 32-bit size of all ones means that the real size is in the zip64 extra field. */
const zip64Marker = 0xffffffff

/** The values that the CRC-32 and byte counts of the entry data must match. */
interface EntryChecks {
  crc32: number
  compressedSize: number
  uncompressedSize: number
}

interface LocalFileEntry extends EntryChecks {
  name: string
  method: typeof methodStored | typeof methodDeflate
  /** The CRC-32 and sizes follow the data in a data descriptor (flag bit 3). */
  hasDataDescriptor: boolean
  /** The header has a zip64 extra field, so the data descriptor contains 8-byte sizes. */
  isZip64: boolean
}

type ZipPhase = 'local-header' | 'entry-data' | 'data-descriptor' | 'next-signature' | 'end'

const phaseLabels: Readonly<Record<ZipPhase, string>> = {
  'local-header': 'local file header',
  'entry-data': 'entry data',
  'data-descriptor': 'data descriptor',
  'next-signature': 'record after the entry',
  end: 'central directory',
}

const emptyBuffer = Buffer.alloc(0)

/**
 * Decompresses the single file entry of a zip archive as it streams through, reading local
 * headers only. See `createDecompressor` for what it rejects.
 */
export class ZipEntryReader extends DecompressTransform {
  readonly #collector = new ByteCollector()
  #phase: ZipPhase = 'local-header'
  #entry: LocalFileEntry | undefined
  #inflater: InflaterRelay | undefined
  #compressedBytes = 0
  #uncompressedBytes = 0
  #crc = 0

  constructor(options: DecompressorOptions) {
    super('zip', options)
  }

  protected async consume(chunk: Buffer): Promise<void> {
    let rest = chunk
    while (rest.length > 0) rest = await this.#step(rest)
  }

  protected async complete(): Promise<void> {
    if (this.#phase === 'end') return

    throw new InvalidInputError(
      `The zip archive is truncated: it ends inside the ${phaseLabels[this.#phase]}; ` +
        'upload the complete file.',
    )
  }

  /** Processes bytes in the current phase; returns the bytes that belong to later phases. */
  async #step(data: Buffer): Promise<Buffer> {
    switch (this.#phase) {
      case 'local-header':
        return this.#readLocalHeader(data)
      case 'entry-data':
        return this.#readEntryData(data)
      case 'data-descriptor':
        return this.#readDataDescriptor(data)
      case 'next-signature':
        return this.#readNextSignature(data)
      case 'end':
        return emptyBuffer
    }
  }

  async #readLocalHeader(data: Buffer): Promise<Buffer> {
    let rest = this.#collector.fill(data, localFileHeaderSize)
    if (this.#collector.length < localFileHeaderSize) return rest

    const headerSize = readLocalHeaderSize(this.#collector.peek())
    rest = this.#collector.fill(rest, headerSize)
    if (this.#collector.length < headerSize) return rest

    const entry = parseLocalFileHeader(this.#collector.take())
    this.#entry = entry
    this.#phase = 'entry-data'
    if (entry.method === methodDeflate) {
      this.#inflater = this.attachInflater(createInflateRaw(), (output) => this.#emit(output))
    }

    if (!entry.hasDataDescriptor && entry.compressedSize === 0) await this.#endEntryData()
    return rest
  }

  async #readEntryData(data: Buffer): Promise<Buffer> {
    const entry = this.#requireEntry()
    if (entry.method === methodStored) return this.#readStored(data, entry)
    if (entry.hasDataDescriptor) return this.#inflateToEnd(data)
    return this.#inflateKnownSize(data, entry)
  }

  async #readStored(data: Buffer, entry: LocalFileEntry): Promise<Buffer> {
    const count = Math.min(entry.compressedSize - this.#compressedBytes, data.length)
    this.#compressedBytes += count
    this.#emit(data.subarray(0, count))

    if (this.#compressedBytes === entry.compressedSize) await this.#endEntryData()
    return data.subarray(count)
  }

  async #inflateKnownSize(data: Buffer, entry: LocalFileEntry): Promise<Buffer> {
    const inflater = this.#requireInflater()
    const count = Math.min(entry.compressedSize - this.#compressedBytes, data.length)
    await inflater.write(data.subarray(0, count))
    this.#compressedBytes += count

    if (inflater.unconsumedBytes > 0) {
      throw new InvalidInputError(
        `The deflate data of zip entry ${quoteForMessage(entry.name)} ends before its ` +
          `compressed size of ${entry.compressedSize} bytes; the archive is corrupt.`,
      )
    }
    if (this.#compressedBytes === entry.compressedSize) await this.#endEntryData()
    return data.subarray(count)
  }

  /**
   * Feeds deflate data whose size only the data descriptor states. The deflate stream marks its
   * own end, and zlib leaves the bytes after it unconsumed.
   */
  async #inflateToEnd(data: Buffer): Promise<Buffer> {
    const inflater = this.#requireInflater()
    await inflater.write(data)
    const unconsumed = inflater.unconsumedBytes
    if (unconsumed === 0) return emptyBuffer

    this.#compressedBytes = inflater.consumedBytes
    await this.#endEntryData()
    return data.subarray(data.length - unconsumed)
  }

  async #endEntryData(): Promise<void> {
    const entry = this.#requireEntry()
    if (this.#inflater !== undefined) {
      await this.#inflater.end()
      this.#inflater = undefined
    }

    if (entry.hasDataDescriptor) {
      this.#phase = 'data-descriptor'
      return
    }
    this.#verifyEntry(entry)
    this.#phase = 'next-signature'
  }

  #readDataDescriptor(data: Buffer): Buffer {
    const entry = this.#requireEntry()
    // A descriptor has at least 12 bytes; 8 decide whether it starts with its optional signature.
    let rest = this.#collector.fill(data, 8)
    if (this.#collector.length < 8) return rest

    const hasSignature = startsWithDescriptorSignature(this.#collector.peek(), this.#crc)
    const sizeBytes = entry.isZip64 ? 8 : 4
    const descriptorSize = (hasSignature ? 8 : 4) + 2 * sizeBytes
    rest = this.#collector.fill(rest, descriptorSize)
    if (this.#collector.length < descriptorSize) return rest

    const descriptor = this.#collector.take().subarray(hasSignature ? 4 : 0)
    this.#verifyEntry({
      crc32: descriptor.readUInt32LE(0),
      compressedSize: readSize(descriptor, 4, sizeBytes),
      uncompressedSize: readSize(descriptor, 4 + sizeBytes, sizeBytes),
    })
    this.#phase = 'next-signature'
    return rest
  }

  #readNextSignature(data: Buffer): Buffer {
    const rest = this.#collector.fill(data, 4)
    if (this.#collector.length < 4) return rest

    const signature = this.#collector.take().readUInt32LE(0)
    if (signature === localFileHeaderSignature) {
      throw new InvalidInputError(
        'The zip archive contains more than one entry; upload a single-file zip only.',
      )
    }
    if (!trailerSignatures.has(signature)) {
      throw new InvalidInputError(
        `The zip archive has an unknown record (signature 0x${signature.toString(16)}) after ` +
          'its entry; the archive is corrupt.',
      )
    }

    this.#phase = 'end'
    return emptyBuffer
  }

  #emit(output: Buffer): boolean {
    this.#uncompressedBytes += output.length
    this.#crc = crc32(output, this.#crc)
    return this.deliver(output)
  }

  #verifyEntry(expected: EntryChecks): void {
    const name = quoteForMessage(this.#requireEntry().name)
    if (this.#compressedBytes !== expected.compressedSize) {
      throw new InvalidInputError(
        `Zip entry ${name} has ${this.#compressedBytes} bytes of compressed data, but its ` +
          `header declares ${expected.compressedSize}; the archive is corrupt.`,
      )
    }
    if (this.#uncompressedBytes !== expected.uncompressedSize) {
      throw new InvalidInputError(
        `Zip entry ${name} decompresses to ${this.#uncompressedBytes} bytes, but its header ` +
          `declares ${expected.uncompressedSize}; the archive is corrupt.`,
      )
    }
    if (this.#crc !== expected.crc32) {
      throw new InvalidInputError(
        `Zip entry ${name} fails its CRC-32 check; the archive is corrupt.`,
      )
    }
  }

  #requireEntry(): LocalFileEntry {
    if (this.#entry === undefined) throw new Error('ZipEntryReader has no current entry')
    return this.#entry
  }

  #requireInflater(): InflaterRelay {
    if (this.#inflater === undefined) throw new Error('ZipEntryReader has no deflate stream')
    return this.#inflater
  }
}

/** Checks the signature of a local file header; returns the size with name and extra field. */
function readLocalHeaderSize(fixed: Buffer): number {
  if (fixed.readUInt32LE(0) !== localFileHeaderSignature) {
    throw new InvalidInputError(
      'The zip data does not start with a local file header; upload a valid zip archive.',
    )
  }
  return localFileHeaderSize + fixed.readUInt16LE(26) + fixed.readUInt16LE(28)
}

/** Parses a complete local file header and rejects entries this reader cannot stream. */
function parseLocalFileHeader(header: Buffer): LocalFileEntry {
  const flags = header.readUInt16LE(6)
  const method = header.readUInt16LE(8)
  const nameLength = header.readUInt16LE(26)
  const nameBytes = header.subarray(localFileHeaderSize, localFileHeaderSize + nameLength)
  const name = nameBytes.toString((flags & flagUtf8Name) !== 0 ? 'utf8' : 'latin1')
  const extra = header.subarray(localFileHeaderSize + nameLength)
  const quotedName = quoteForMessage(name)

  const encryptionFlags = flagEncrypted | flagStrongEncryption | flagMaskedHeader
  if ((flags & encryptionFlags) !== 0 || method === methodAesEncrypted) {
    throw new InvalidInputError(
      `Zip entry ${quotedName} is encrypted; upload an unencrypted archive.`,
    )
  }
  if (method !== methodStored && method !== methodDeflate) {
    throw new InvalidInputError(
      `Zip entry ${quotedName} uses compression method ${method}; ` +
        'only stored (0) and deflate (8) are supported.',
    )
  }
  if (name.endsWith('/')) {
    throw new InvalidInputError(
      `Zip entry ${quotedName} is a directory; upload a zip archive whose only entry is the image.`,
    )
  }

  const hasDataDescriptor = (flags & flagDataDescriptor) !== 0
  // A stored entry has no end marker of its own, so without its size up front the reader cannot
  // tell where the data stops.
  if (hasDataDescriptor && method === methodStored) {
    throw new InvalidInputError(
      `Zip entry ${quotedName} is stored with its size after the data, which cannot be read ` +
        'as a stream; upload the archive with deflate compression or with sizes in the header.',
    )
  }

  const zip64 = findExtraField(extra, zip64ExtraFieldId)
  const sizes = hasDataDescriptor
    ? { compressedSize: 0, uncompressedSize: 0 }
    : readHeaderSizes(header, zip64, quotedName)
  return {
    name,
    method,
    hasDataDescriptor,
    isZip64: zip64 !== undefined,
    crc32: header.readUInt32LE(14),
    ...sizes,
  }
}

/**
 * Reads the sizes of a local file header. A size of 0xffffffff is taken from the zip64 extra
 * field, which contains the uncompressed size first and then the compressed size, each only if
 * the header marks it.
 */
function readHeaderSizes(
  header: Buffer,
  zip64: Buffer | undefined,
  quotedName: string,
): { compressedSize: number; uncompressedSize: number } {
  let compressedSize = header.readUInt32LE(18)
  let uncompressedSize = header.readUInt32LE(22)
  if (compressedSize !== zip64Marker && uncompressedSize !== zip64Marker) {
    return { compressedSize, uncompressedSize }
  }

  const needed =
    (uncompressedSize === zip64Marker ? 8 : 0) + (compressedSize === zip64Marker ? 8 : 0)
  if (zip64 === undefined || zip64.length < needed) {
    throw new InvalidInputError(
      `Zip entry ${quotedName} marks its size as zip64 but has no complete zip64 extra field; ` +
        'the archive is corrupt.',
    )
  }

  let offset = 0
  if (uncompressedSize === zip64Marker) {
    uncompressedSize = readSize(zip64, offset, 8)
    offset += 8
  }
  if (compressedSize === zip64Marker) compressedSize = readSize(zip64, offset, 8)
  return { compressedSize, uncompressedSize }
}

/** Returns the data of the first extra field with `id`, or undefined when there is none. */
function findExtraField(extra: Buffer, id: number): Buffer | undefined {
  let offset = 0
  while (offset + 4 <= extra.length) {
    const fieldId = extra.readUInt16LE(offset)
    const size = extra.readUInt16LE(offset + 2)
    const end = offset + 4 + size
    if (fieldId === id) return extra.subarray(offset + 4, Math.min(end, extra.length))
    offset = end
  }
  return undefined
}

/** Reads a little-endian size of 4 or 8 bytes; rejects sizes above 2^53 - 1. */
function readSize(data: Buffer, offset: number, sizeBytes: 4 | 8): number {
  if (sizeBytes === 4) return data.readUInt32LE(offset)

  const size = data.readBigUInt64LE(offset)
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new InvalidInputError(
      `The zip archive declares a size of ${size} bytes, which is not supported; ` +
        `the limit is ${Number.MAX_SAFE_INTEGER} bytes.`,
    )
  }
  return Number(size)
}

/**
 * Tells whether a data descriptor starts with its optional signature. When the entry's CRC-32
 * equals the signature value, the next word decides, because it repeats that value only when
 * the signature is present.
 */
function startsWithDescriptorSignature(head: Buffer, crc: number): boolean {
  if (head.readUInt32LE(0) !== dataDescriptorSignature) return false
  if (crc !== dataDescriptorSignature) return true
  return head.readUInt32LE(4) === dataDescriptorSignature
}

/**
 * Gathers a record that may arrive split across chunks. Copying into one buffer keeps the cost
 * linear even when the data arrives a few bytes at a time.
 */
class ByteCollector {
  #buffer = Buffer.alloc(0)
  #length = 0

  get length(): number {
    return this.#length
  }

  /** Copies bytes from `data` until `size` bytes are collected; returns the bytes not taken. */
  fill(data: Buffer, size: number): Buffer {
    if (this.#buffer.length < size) {
      const grown = Buffer.alloc(size)
      this.#buffer.copy(grown, 0, 0, this.#length)
      this.#buffer = grown
    }

    const count = Math.max(0, Math.min(size - this.#length, data.length))
    data.copy(this.#buffer, this.#length, 0, count)
    this.#length += count
    return data.subarray(count)
  }

  /** Returns the collected bytes, which stay collected. */
  peek(): Buffer {
    return this.#buffer.subarray(0, this.#length)
  }

  /** Returns the collected bytes and starts a new record. */
  take(): Buffer {
    const bytes = this.#buffer.subarray(0, this.#length)
    this.#buffer = Buffer.alloc(0)
    this.#length = 0
    return bytes
  }
}

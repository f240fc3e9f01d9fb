import { NeedBytes, readSafeUInt64BE, settled } from './head-view.js'
import type { HeadResult, HeadView } from './head-view.js'
import { createVirtualSizeError, ImageFormatError } from './image-format-error.js'

// Layout from the qcow2 specification (docs/interop/qcow2.txt in the QEMU sources). All fields
// are big-endian.
const version2HeaderLength = 72
const version3MinHeaderLength = 104
const minClusterBits = 9
const maxClusterBits = 21
/** qemu 7.2 refuses L1 tables above 32 MiB (QCOW_MAX_L1_SIZE), which is 4 Mi 8-byte entries. */
const maxL1Entries = (32 * 1024 * 1024) / 8
/** Encryption methods: 0 none, 1 AES, 2 LUKS. */
const maxCryptMethod = 2
const maxRefcountOrder = 6

/** Bits 0 to 4: dirty, corrupt, external data file, compression type, extended L2 entries. */
const knownIncompatibleFeatures = 0x1fn
const externalDataFileFeature = 1n << 2n

const extensionEnd = 0
const extensionExternalDataFile = 0x44415441

interface Qcow2Header {
  version: number
  backingFileOffset: bigint
  backingFileSize: number
  clusterBits: number
  virtualSize: number | undefined
  cryptMethod: number
  l1Size: number
  incompatibleFeatures: bigint
  refcountOrder: number
  headerLength: number
}

/**
 * Parses and checks a qcow2 header and its extensions, which must fit in the first cluster.
 * Rejects backing files, external data files, unknown incompatible features and header values
 * outside what qemu accepts.
 */
export function inspectQcow2Head(view: HeadView): NeedBytes | HeadResult {
  const bytes = view.bytes
  if (bytes.length < 8) return new NeedBytes(8)

  const version = bytes.readUInt32BE(4)
  if (version !== 2 && version !== 3) {
    throw new ImageFormatError(
      'qcow2-version',
      `qcow2 image has version ${version}, but only versions 2 and 3 are supported; ` +
        'convert it with qemu-img convert -O qcow2 and upload the result.',
    )
  }

  const fixedLength = version === 2 ? version2HeaderLength : version3MinHeaderLength
  if (bytes.length < fixedLength) return new NeedBytes(fixedLength)

  const header = readQcow2Header(bytes, version)
  validateQcow2Header(header)
  const virtualSize = header.virtualSize
  if (virtualSize === undefined) throw createVirtualSizeError('qcow2')

  const clusterSize = 2 ** header.clusterBits
  if (bytes.length < clusterSize && !view.ended) return new NeedBytes(clusterSize)

  const missing = scanQcow2Extensions(bytes, header.headerLength, clusterSize)
  if (missing !== undefined) return missing

  return settled({ format: 'qcow2', virtualSize, partitionTable: null })
}

function readQcow2Header(bytes: Buffer, version: number): Qcow2Header {
  const isVersion3 = version === 3

  return {
    version,
    backingFileOffset: bytes.readBigUInt64BE(8),
    backingFileSize: bytes.readUInt32BE(16),
    clusterBits: bytes.readUInt32BE(20),
    virtualSize: readSafeUInt64BE(bytes, 24),
    cryptMethod: bytes.readUInt32BE(32),
    l1Size: bytes.readUInt32BE(36),
    incompatibleFeatures: isVersion3 ? bytes.readBigUInt64BE(72) : 0n,
    refcountOrder: isVersion3 ? bytes.readUInt32BE(96) : 4,
    headerLength: isVersion3 ? bytes.readUInt32BE(100) : version2HeaderLength,
  }
}

function validateQcow2Header(header: Qcow2Header): void {
  if (header.backingFileOffset !== 0n || header.backingFileSize !== 0) {
    throw new ImageFormatError(
      'qcow2-backing-file',
      'qcow2 image refers to a backing file, which is not allowed; merge it into a ' +
        'standalone image with qemu-img convert -O qcow2 and upload the result.',
    )
  }

  validateIncompatibleFeatures(header.incompatibleFeatures)

  if (header.clusterBits < minClusterBits || header.clusterBits > maxClusterBits) {
    throw new ImageFormatError(
      'qcow2-cluster-bits',
      `qcow2 image has cluster_bits ${header.clusterBits}, outside the valid range ` +
        `${minClusterBits} to ${maxClusterBits}; the header is corrupt.`,
    )
  }

  validateHeaderFields(header)

  if (header.l1Size > maxL1Entries) {
    throw new ImageFormatError(
      'qcow2-l1-size',
      `qcow2 image has an L1 table of ${header.l1Size} entries, more than the maximum of ` +
        `${maxL1Entries}; the header is corrupt.`,
    )
  }
}

function validateIncompatibleFeatures(features: bigint): void {
  if ((features & externalDataFileFeature) !== 0n) throw createExternalDataFileError()

  const unknown = features & ~knownIncompatibleFeatures
  if (unknown !== 0n) {
    throw new ImageFormatError(
      'qcow2-incompatible-features',
      `qcow2 image sets unknown incompatible feature bits 0x${unknown.toString(16)}; ` +
        'convert it with qemu-img convert -O qcow2 and upload the result.',
    )
  }
}

function validateHeaderFields(header: Qcow2Header): void {
  const clusterSize = 2 ** header.clusterBits
  if (
    header.version === 3 &&
    (header.headerLength < version3MinHeaderLength || header.headerLength > clusterSize)
  ) {
    throw createInvalidHeaderError(`header length ${header.headerLength} is invalid`)
  }

  if (header.refcountOrder > maxRefcountOrder) {
    throw createInvalidHeaderError(`refcount_order ${header.refcountOrder} is above 6`)
  }

  if (header.cryptMethod > maxCryptMethod) {
    throw createInvalidHeaderError(`encryption method ${header.cryptMethod} is unknown`)
  }
}

/**
 * Walks the header extensions from `start` to the end of the first cluster, as qemu does, and
 * rejects an external data file name. Returns the bytes still missing, if any.
 */
function scanQcow2Extensions(
  bytes: Buffer,
  start: number,
  clusterSize: number,
): NeedBytes | undefined {
  let offset = start

  // Every pass moves on by at least 8 bytes, so there are at most clusterSize / 8 passes.
  while (offset < clusterSize) {
    if (offset + 8 > clusterSize) throw createExtensionOverflowError(offset)
    if (bytes.length < offset + 8) return new NeedBytes(offset + 8)

    const type = bytes.readUInt32BE(offset)
    const length = bytes.readUInt32BE(offset + 4)
    if (length > clusterSize - offset - 8) throw createExtensionOverflowError(offset)
    if (type === extensionEnd) return undefined
    if (type === extensionExternalDataFile) throw createExternalDataFileError()

    offset += 8 + Math.ceil(length / 8) * 8
  }

  return undefined
}

function createExternalDataFileError(): ImageFormatError {
  return new ImageFormatError(
    'qcow2-data-file',
    'qcow2 image keeps its data in an external data file, which is not allowed; convert it ' +
      'to a standalone image with qemu-img convert -O qcow2 and upload the result.',
  )
}

function createExtensionOverflowError(offset: number): ImageFormatError {
  return createInvalidHeaderError(`header extension at byte ${offset} runs past the first cluster`)
}

function createInvalidHeaderError(problem: string): ImageFormatError {
  return new ImageFormatError('qcow2-header', `qcow2 ${problem}; the image is corrupt.`)
}

import { hasSignatureAt, NeedBytes, readCString, readSafeUInt64LE } from './head-view.js'
import type { HeadResult, HeadView, StreamEnd } from './head-view.js'
import { createVirtualSizeError, ImageFormatError, quoteForMessage } from './image-format-error.js'

// Layout as read by block/vmdk.c in qemu 7.2. Header fields are little-endian, and offsets and
// sizes in the header count 512-byte sectors.
const sectorSize = 512
const sparseMagic = Buffer.from('KDMV', 'latin1')
const maxVersion = 3
const grainDirectoryAtEnd = 0xffff_ffff_ffff_ffffn
const maxDescriptorBytes = 1024 * 1024
const maxCapacitySectors = Math.floor(Number.MAX_SAFE_INTEGER / sectorSize)

/**
 * qemu looks for parentFileNameHint in the 20 sectors at byte 512 of every sparse VMDK,
 * regardless of descriptorOffset (vmdk_parent_open in block/vmdk.c), so that window is checked too.
 */
const qemuDescriptorStart = 512
const qemuDescriptorEnd = qemuDescriptorStart + 20 * sectorSize

/** A streamOptimized footer: a footer marker, a copy of the header, an end-of-stream marker. */
const streamFooterSize = 3 * sectorSize
const footerMarkerType = 3

const acceptedCreateTypes: readonly string[] = ['monolithicSparse', 'streamOptimized']
const extentLine = /^(RW|RDONLY|NOACCESS)\s+(\d+)\s+(\S+)(?:\s+"([^"]*)"(?:\s+(\d+))?)?$/
const createTypeLine = /^createType\s*=\s*"?([^"]*?)"?$/

interface VmdkExtent {
  type: string
  fileName: string | undefined
}

interface VmdkDescriptor {
  createType: string | undefined
  extents: VmdkExtent[]
}

/**
 * Parses a sparse VMDK (monolithicSparse or streamOptimized) and its embedded descriptor. Rejects
 * descriptors that name other files, a parent disk or another createType.
 */
export function inspectVmdkHead(view: HeadView): NeedBytes | HeadResult {
  const bytes = view.bytes
  if (bytes.length < sectorSize) return new NeedBytes(sectorSize)

  const capacitySectors = readSparseHeader(bytes, 0)
  const descriptorRange = readDescriptorRange(bytes)
  const descriptorEnd = descriptorRange.start + descriptorRange.length
  if (bytes.length < descriptorEnd) return new NeedBytes(descriptorEnd)
  if (bytes.length < qemuDescriptorEnd && !view.ended) return new NeedBytes(qemuDescriptorEnd)

  const descriptorText = readCString(bytes.subarray(descriptorRange.start, descriptorEnd))
  const qemuWindowText = readCString(bytes.subarray(qemuDescriptorStart, qemuDescriptorEnd))
  if (
    descriptorText.includes('parentFileNameHint') ||
    qemuWindowText.includes('parentFileNameHint')
  ) {
    throw new ImageFormatError(
      'vmdk-parent',
      'VMDK descriptor names a parent disk (parentFileNameHint), which is not allowed; merge ' +
        'it into a standalone image with qemu-img convert -O vmdk and upload the result.',
    )
  }

  validateDescriptor(parseDescriptor(descriptorText))

  if (bytes.readBigUInt64LE(56) !== grainDirectoryAtEnd) {
    const virtualSize = capacitySectors * sectorSize
    return { settle: () => ({ format: 'vmdk', virtualSize, partitionTable: null }) }
  }

  return {
    settle: (end) => ({
      format: 'vmdk',
      virtualSize: readStreamFooterCapacity(end) * sectorSize,
      partitionTable: null,
    }),
  }
}

/** Checks the sparse header at `offset` and returns its capacity in sectors. */
function readSparseHeader(bytes: Buffer, offset: number): number {
  const version = bytes.readUInt32LE(offset + 4)
  if (version < 1 || version > maxVersion) {
    throw new ImageFormatError(
      'vmdk-header',
      `VMDK header has version ${version}, but only versions 1 to ${maxVersion} are supported; ` +
        'convert it with qemu-img convert -O vmdk and upload the result.',
    )
  }

  const capacitySectors = readSafeUInt64LE(bytes, offset + 12)
  if (capacitySectors === undefined || capacitySectors > maxCapacitySectors) {
    throw createVirtualSizeError('vmdk')
  }
  // qemu opens the extents listed in the embedded descriptor, which may be any file on the host,
  // when the capacity is 0 (vmdk_open_vmdk4 in block/vmdk.c).
  if (capacitySectors === 0) {
    throw new ImageFormatError(
      'vmdk-header',
      'VMDK header declares a capacity of 0 sectors; upload a monolithicSparse or ' +
        'streamOptimized VMDK that holds its own data.',
    )
  }

  return capacitySectors
}

function readDescriptorRange(bytes: Buffer): { start: number; length: number } {
  const offsetSectors = readSafeUInt64LE(bytes, 28) ?? Number.MAX_SAFE_INTEGER
  const sizeSectors = readSafeUInt64LE(bytes, 36) ?? Number.MAX_SAFE_INTEGER
  if (offsetSectors === 0 || sizeSectors === 0) {
    throw new ImageFormatError(
      'vmdk-descriptor',
      'VMDK image has no embedded descriptor; upload a monolithicSparse or streamOptimized ' +
        'VMDK made by qemu-img convert -O vmdk.',
    )
  }
  if (sizeSectors > maxDescriptorBytes / sectorSize) {
    throw new ImageFormatError(
      'vmdk-descriptor',
      `VMDK embedded descriptor is ${sizeSectors} sectors long, more than the maximum of ` +
        `${maxDescriptorBytes / sectorSize}; the image is corrupt.`,
    )
  }

  // Offsets above 2^53 / 512 lose precision here, but any offset that large is rejected later
  // as lying beyond the inspected window.
  return { start: offsetSectors * sectorSize, length: sizeSectors * sectorSize }
}

/** Parses the descriptor lines that matter here; every line that starts like an extent counts. */
function parseDescriptor(text: string): VmdkDescriptor {
  const descriptor: VmdkDescriptor = { createType: undefined, extents: [] }

  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim()
    if (line === '' || line.startsWith('#')) continue

    const createType = createTypeLine.exec(line)
    if (createType !== null && descriptor.createType === undefined) {
      descriptor.createType = createType[1]
    }

    if (/^(RW|RDONLY|NOACCESS)\b/.test(line)) descriptor.extents.push(parseExtentLine(line))
  }

  return descriptor
}

function parseExtentLine(line: string): VmdkExtent {
  const match = extentLine.exec(line)
  if (match === null) {
    throw new ImageFormatError(
      'vmdk-extents',
      `VMDK descriptor has an invalid extent line ${quoteForMessage(line)}; the image is corrupt.`,
    )
  }

  return { type: match[3] ?? '', fileName: match[4] }
}

function validateDescriptor(descriptor: VmdkDescriptor): void {
  const createType = descriptor.createType
  if (createType === undefined || !acceptedCreateTypes.includes(createType)) {
    const createTypeText = createType === undefined ? 'missing' : quoteForMessage(createType)
    throw new ImageFormatError(
      'vmdk-create-type',
      `VMDK createType is ${createTypeText}, but only monolithicSparse and streamOptimized are ` +
        'accepted; convert it with qemu-img convert -O vmdk and upload the result.',
    )
  }

  const extents = descriptor.extents
  const extent = extents[0]
  if (extents.length !== 1 || extent === undefined || extent.type !== 'SPARSE') {
    throw new ImageFormatError(
      'vmdk-extents',
      `VMDK descriptor lists ${extents.length} extents, but a single-file VMDK has exactly ` +
        'one SPARSE extent in the same file; convert it with qemu-img convert -O vmdk.',
    )
  }

  if (!isPlainFileName(extent.fileName)) {
    throw new ImageFormatError(
      'vmdk-extents',
      `VMDK extent names the file ${quoteForMessage(extent.fileName ?? '')}, but a ` +
        'single-file VMDK names only itself; convert it with qemu-img convert -O vmdk.',
    )
  }
}

function isPlainFileName(fileName: string | undefined): boolean {
  if (fileName === undefined || fileName === '' || fileName === '.' || fileName === '..') {
    return false
  }

  return !/[/\\:]/.test(fileName)
}

/**
 * Reads the capacity from the footer of a streamOptimized VMDK whose header places the grain
 * directory at the end. qemu reads the footer from the 1536 bytes before the last full sector.
 */
function readStreamFooterCapacity(end: StreamEnd): number {
  const footerStart = Math.floor(end.totalBytes / sectorSize) * sectorSize - streamFooterSize
  const tailStart = end.totalBytes - end.tail.length
  if (footerStart < sectorSize || footerStart < tailStart) throw createMissingFooterError()

  const footer = end.tail.subarray(
    footerStart - tailStart,
    footerStart - tailStart + streamFooterSize,
  )
  const hasMarkers =
    footer.readUInt32LE(8) === 0 &&
    footer.readUInt32LE(12) === footerMarkerType &&
    footer.readBigUInt64LE(2 * sectorSize) === 0n &&
    footer.readUInt32LE(2 * sectorSize + 8) === 0 &&
    footer.readUInt32LE(2 * sectorSize + 12) === 0
  if (!hasMarkers || !hasSignatureAt(footer, sectorSize, sparseMagic)) {
    throw createMissingFooterError()
  }

  return readSparseHeader(footer, sectorSize)
}

function createMissingFooterError(): ImageFormatError {
  return new ImageFormatError(
    'vmdk-footer',
    'streamOptimized VMDK has no valid footer before its last sector; upload the complete file.',
  )
}

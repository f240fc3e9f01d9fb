import { hasSignatureAt, NeedBytes, readSafeUInt64LE, settled } from './head-view.js'
import type { HeadResult, HeadView } from './head-view.js'
import { createVirtualSizeError, ImageFormatError } from './image-format-error.js'

// Layout as declared in block/vhdx.h in qemu, which follows Microsoft's VHDX Format Specification
// 1.00. Fields are little-endian.
const regionTableOffset = 192 * 1024
const regionTableSignature = Buffer.from('regi', 'latin1')
const metadataTableSignature = Buffer.from('metadata', 'latin1')
const tableHeaderSize = { region: 16, metadata: 32 }
const tableEntrySize = 32
const maxTableEntries = 2047
const virtualDiskSizeLength = 8

/** Encodes a GUID in the mixed-endian layout that VHDX stores on disk. */
function encodeGuid(text: string): Buffer {
  const bytes = Buffer.from(text.replaceAll('-', ''), 'hex')
  bytes.subarray(0, 4).reverse()
  bytes.subarray(4, 6).reverse()
  bytes.subarray(6, 8).reverse()
  return bytes
}

const metadataRegionGuid = encodeGuid('8B7CA206-4790-4B9A-B8FE-575F050F886E')
const virtualDiskSizeGuid = encodeGuid('2FA54224-CD1B-4876-B211-5DBED83BF4B8')
const parentLocatorGuid = encodeGuid('A8D35F2D-B30B-454D-ABF7-D3D84834AB0C')

interface MetadataRegion {
  offset: number
  length: number
}

/**
 * Reads the virtual size from the metadata region that the region table at 192 KiB points to.
 * Rejects differencing disks, which carry a parent locator.
 */
export function inspectVhdxHead(view: HeadView): NeedBytes | HeadResult {
  const region = findMetadataRegion(view.bytes)
  if (region instanceof NeedBytes) return region

  const item = findVirtualDiskSizeItem(view.bytes, region)
  if (item instanceof NeedBytes) return item

  const itemEnd = item + virtualDiskSizeLength
  if (view.bytes.length < itemEnd) return new NeedBytes(itemEnd)

  const virtualSize = readSafeUInt64LE(view.bytes, item)
  if (virtualSize === undefined) throw createVirtualSizeError('vhdx')
  return settled({ format: 'vhdx', virtualSize, partitionTable: null })
}

function findMetadataRegion(bytes: Buffer): NeedBytes | MetadataRegion {
  const entriesStart = regionTableOffset + tableHeaderSize.region
  if (bytes.length < entriesStart) return new NeedBytes(entriesStart)

  if (!hasSignatureAt(bytes, regionTableOffset, regionTableSignature)) {
    throw createRegionTableError('has no "regi" signature')
  }
  const count = bytes.readUInt32LE(regionTableOffset + 8)
  if (count > maxTableEntries) throw createRegionTableError(`lists ${count} entries`)

  const entriesEnd = entriesStart + count * tableEntrySize
  if (bytes.length < entriesEnd) return new NeedBytes(entriesEnd)

  for (let entry = entriesStart; entry < entriesEnd; entry += tableEntrySize) {
    if (!hasSignatureAt(bytes, entry, metadataRegionGuid)) continue

    const offset = readSafeUInt64LE(bytes, entry + 16)
    if (offset === undefined) throw createRegionTableError('places the metadata region too far')
    return { offset, length: bytes.readUInt32LE(entry + 24) }
  }

  throw createRegionTableError('has no metadata region')
}

/** Returns the stream offset of the 8-byte virtual disk size item. */
function findVirtualDiskSizeItem(bytes: Buffer, region: MetadataRegion): NeedBytes | number {
  const entriesStart = region.offset + tableHeaderSize.metadata
  if (bytes.length < entriesStart) return new NeedBytes(entriesStart)

  if (!hasSignatureAt(bytes, region.offset, metadataTableSignature)) {
    throw createMetadataError('table has no "metadata" signature')
  }
  const count = bytes.readUInt16LE(region.offset + 10)
  const entriesEnd = entriesStart + count * tableEntrySize
  if (count > maxTableEntries || entriesEnd - region.offset > region.length) {
    throw createMetadataError(`table lists ${count} entries, more than fit in its region`)
  }
  if (bytes.length < entriesEnd) return new NeedBytes(entriesEnd)

  let item: number | undefined
  for (let entry = entriesStart; entry < entriesEnd; entry += tableEntrySize) {
    if (hasSignatureAt(bytes, entry, parentLocatorGuid)) throw createParentError()
    if (!hasSignatureAt(bytes, entry, virtualDiskSizeGuid)) continue

    const itemOffset = bytes.readUInt32LE(entry + 16)
    const itemLength = bytes.readUInt32LE(entry + 20)
    if (itemLength !== virtualDiskSizeLength || itemOffset + itemLength > region.length) {
      throw createMetadataError('virtual disk size item lies outside its region')
    }
    item = region.offset + itemOffset
  }

  if (item === undefined) throw createMetadataError('table has no virtual disk size item')
  return item
}

function createRegionTableError(problem: string): ImageFormatError {
  return new ImageFormatError(
    'vhdx-region-table',
    `VHDX region table at byte ${regionTableOffset} ${problem}; the image is corrupt.`,
  )
}

function createMetadataError(problem: string): ImageFormatError {
  return new ImageFormatError('vhdx-metadata', `VHDX metadata ${problem}; the image is corrupt.`)
}

function createParentError(): ImageFormatError {
  return new ImageFormatError(
    'vhdx-parent',
    'VHDX image is a differencing disk that depends on a parent image, which is not allowed; ' +
      'merge it into a standalone image and upload the result.',
  )
}

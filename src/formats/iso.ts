import { NeedBytes } from './head-view.js'
import type { HeadResult, HeadView } from './head-view.js'
import { ImageFormatError } from './image-format-error.js'
import { settleUnsignedContent } from './raw.js'

// ISO 9660 and UDF both start their volume descriptors at byte 32768, one every 2048 bytes.
// Each descriptor starts with a type byte and a 5-byte identifier such as CD001 or BEA01.
const descriptorsStart = 32768
const descriptorSize = 2048
const identifierEnd = 6
/** Bound on the descriptors scanned. Real discs have a handful, so only hostile data reaches it. */
const maxDescriptors = 32

const primaryVolumeType = 1
const terminatorType = 255
const udfNsrIdentifiers = ['NSR02', 'NSR03']
/** Identifiers of the extended area that may come between BEA01 and an NSR descriptor. */
const udfAreaIdentifiers = ['BEA01', 'NSR02', 'NSR03', 'TEA01', 'BOOT2', 'CDW02', 'CD001']

/** Byte offsets in the primary volume descriptor, both little-endian. */
const volumeSpaceSizeOffset = 80
const logicalBlockSizeOffset = 128

/** Returns whether the content is an ISO 9660 or UDF file system, reading past 32 KiB. */
export function detectIso(view: HeadView): NeedBytes | boolean {
  const first = readIdentifier(view, 0)
  if (first instanceof NeedBytes) return view.ended ? false : first

  if (first === 'CD001') return true
  if (first !== 'BEA01') return false

  for (let index = 1; index < maxDescriptors; index++) {
    const identifier = readIdentifier(view, index)
    if (identifier instanceof NeedBytes) return view.ended ? false : identifier
    if (udfNsrIdentifiers.includes(identifier)) return true
    if (!udfAreaIdentifiers.includes(identifier)) return false
  }

  return false
}

/**
 * Reads the virtual size from the primary volume descriptor: volume space size times logical
 * block size. A UDF image without one counts its bytes instead.
 */
export function inspectIsoHead(view: HeadView): NeedBytes | HeadResult {
  let virtualSize: number | undefined

  for (let index = 0; index < maxDescriptors; index++) {
    const start = descriptorsStart + index * descriptorSize
    const end = start + descriptorSize
    if (view.bytes.length < end) return new NeedBytes(end)

    const type = view.bytes[start]
    if (view.bytes.toString('latin1', start + 1, start + identifierEnd) !== 'CD001') break
    if (type === terminatorType) break
    if (type === primaryVolumeType) {
      virtualSize = readPrimaryVolumeSize(view.bytes.subarray(start, end))
      break
    }
  }

  return {
    settle: (streamEnd) =>
      settleUnsignedContent(streamEnd, {
        format: 'iso',
        virtualSize: virtualSize ?? streamEnd.totalBytes,
        partitionTable: null,
      }),
  }
}

function readIdentifier(view: HeadView, index: number): NeedBytes | string {
  const start = descriptorsStart + index * descriptorSize
  if (view.bytes.length < start + identifierEnd) return new NeedBytes(start + identifierEnd)

  return view.bytes.toString('latin1', start + 1, start + identifierEnd)
}

function readPrimaryVolumeSize(descriptor: Buffer): number {
  const blocks = descriptor.readUInt32LE(volumeSpaceSizeOffset)
  const blockSize = descriptor.readUInt16LE(logicalBlockSizeOffset)
  if (blockSize < 512 || (blockSize & (blockSize - 1)) !== 0) {
    throw new ImageFormatError(
      'iso-header',
      `ISO 9660 primary volume descriptor has logical block size ${blockSize}, which is not a ` +
        'power of two from 512 to 32768; the image is corrupt.',
    )
  }

  return blocks * blockSize
}

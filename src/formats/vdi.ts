import { NeedBytes, readSafeUInt64LE, settled } from './head-view.js'
import type { HeadResult, HeadView } from './head-view.js'
import { createVirtualSizeError, ImageFormatError } from './image-format-error.js'

// Layout of the VirtualBox VDI header version 1.1, as read by block/vdi.c in qemu 7.2. Fields
// are little-endian; the signature 0xBEDA107F sits at byte 0x40 after a text banner.
export const vdiSignatureOffset = 0x40
export const vdiSignature = 0xbeda107f
const version1Point1 = 0x00010001
const headerEnd = 0x1c8
const imageTypeDynamic = 1
const imageTypeFixed = 2
const imageTypeDifferencing = 4
const parentUuidOffset = 0x1b8

/** Parses a VDI 1.1 header and rejects images that depend on a parent. */
export function inspectVdiHead(view: HeadView): NeedBytes | HeadResult {
  const bytes = view.bytes
  if (bytes.length < headerEnd) return new NeedBytes(headerEnd)

  const version = bytes.readUInt32LE(0x44)
  if (version !== version1Point1) {
    const versionText = `${version >>> 16}.${version & 0xffff}`
    throw createHeaderError(`has version ${versionText}, but only version 1.1 is supported`)
  }

  const imageType = bytes.readUInt32LE(0x4c)
  const parentUuid = bytes.subarray(parentUuidOffset, parentUuidOffset + 16)
  if (imageType === imageTypeDifferencing || parentUuid.some((byte) => byte !== 0)) {
    throw new ImageFormatError(
      'vdi-parent',
      'VDI image is a differencing image that depends on a parent image, which is not ' +
        'allowed; merge it into a standalone image and upload the result.',
    )
  }
  if (imageType !== imageTypeDynamic && imageType !== imageTypeFixed) {
    throw createHeaderError(`has image type ${imageType}, but only dynamic and fixed are supported`)
  }

  const virtualSize = readSafeUInt64LE(bytes, 0x170)
  if (virtualSize === undefined) throw createVirtualSizeError('vdi')
  return settled({ format: 'vdi', virtualSize, partitionTable: null })
}

function createHeaderError(problem: string): ImageFormatError {
  return new ImageFormatError(
    'vdi-header',
    `VDI header ${problem}; convert it with qemu-img convert -O vdi and upload the result.`,
  )
}

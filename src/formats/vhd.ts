import { hasSignatureAt, NeedBytes, readSafeUInt64BE, settled } from './head-view.js'
import type { HeadResult, HeadView, StreamEnd } from './head-view.js'
import type { Inspection } from './inspector.js'
import { createVirtualSizeError, ImageFormatError } from './image-format-error.js'

// Layout as read by block/vpc.c in qemu 7.2. Fields are big-endian. A dynamic or differencing VHD
// starts with a copy of its 512-byte footer. A fixed VHD is raw data with the footer at the end.
const footerSize = 512
export const vhdCookie = Buffer.from('conectix', 'latin1')

const diskTypeFixed = 2
const diskTypeDynamic = 3
const diskTypeDifferencing = 4

/** Parses the footer copy at the start of a dynamic VHD. */
export function inspectVhdHead(view: HeadView): NeedBytes | HeadResult {
  if (view.bytes.length < footerSize) return new NeedBytes(footerSize)

  return settled(inspectVhdFooter(view.bytes.subarray(0, footerSize)))
}

/** Returns the VHD footer in the last 512 bytes of the stream, if there is one. */
export function findVhdFooter(end: StreamEnd): Buffer | undefined {
  if (end.tail.length < footerSize) return undefined

  const footer = end.tail.subarray(end.tail.length - footerSize)
  return hasSignatureAt(footer, 0, vhdCookie) ? footer : undefined
}

/** Checks a 512-byte VHD footer and returns the inspection it describes. */
export function inspectVhdFooter(footer: Buffer): Inspection {
  const diskType = footer.readUInt32BE(60)
  if (diskType === diskTypeDifferencing) {
    throw new ImageFormatError(
      'vhd-differencing',
      'VHD image is a differencing disk that depends on a parent image, which is not allowed; ' +
        'merge it into a standalone image and upload the result.',
    )
  }
  if (diskType !== diskTypeFixed && diskType !== diskTypeDynamic) {
    throw new ImageFormatError(
      'vhd-header',
      `VHD footer has disk type ${diskType}, but only fixed (2) and dynamic (3) disks are ` +
        'supported; the image is corrupt.',
    )
  }

  // NOTE: qemu 7.2 takes the size from the CHS geometry unless the creator is Hyper-V, qem2,
  // Disk2vhd, XenServer or XenConverter, so for Virtual PC images it can be smaller than this.
  const virtualSize = readSafeUInt64BE(footer, 48)
  if (virtualSize === undefined) throw createVirtualSizeError('vhd')

  return { format: 'vhd', virtualSize, partitionTable: null }
}

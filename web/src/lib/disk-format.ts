/**
 * Guesses an image file's disk format from its first and last bytes, so the upload form can
 * suggest one. The server inspects the data again while it streams in and rejects a mismatch,
 * so a wrong guess costs a rejected upload, not a bad image.
 */

/** Bytes to read from the start of the file: enough to reach the ISO 9660 volume descriptor. */
export const headBytesNeeded = 64 * 1024

/** Bytes to read from the end of the file: a fixed VHD keeps its 512-byte footer there. */
export const tailBytesNeeded = 512

export type SuggestedDiskFormat = 'qcow2' | 'iso' | 'vmdk' | 'vhdx' | 'vhd' | 'vdi' | 'raw'

export interface DiskFormatGuess {
  format: SuggestedDiskFormat
  /** The signature that decided the format, for the form to show. */
  reason: string
}

interface Signature {
  format: SuggestedDiskFormat
  offset: number
  bytes: number[]
  reason: string
}

const ascii = (text: string): number[] => [...text].map((char) => char.charCodeAt(0))

/** Signatures at fixed offsets from the start of the file, checked in this order. */
const headSignatures: Signature[] = [
  { format: 'qcow2', offset: 0, bytes: [0x51, 0x46, 0x49, 0xfb], reason: 'qcow2 magic QFI\\xfb' },
  { format: 'vhdx', offset: 0, bytes: ascii('vhdxfile'), reason: 'VHDX signature vhdxfile' },
  { format: 'vmdk', offset: 0, bytes: ascii('KDMV'), reason: 'VMDK sparse extent magic KDMV' },
  { format: 'vmdk', offset: 0, bytes: ascii('COWD'), reason: 'VMDK COWD extent magic' },
  {
    format: 'vmdk',
    offset: 0,
    bytes: ascii('# Disk DescriptorFile'),
    reason: 'VMDK descriptor file',
  },
  // VirtualBox writes 0xbeda107f, little-endian, after its 64-byte text banner.
  { format: 'vdi', offset: 0x40, bytes: [0x7f, 0x10, 0xda, 0xbe], reason: 'VDI signature' },
  // A dynamic VHD starts with a copy of its footer.
  { format: 'vhd', offset: 0, bytes: ascii('conectix'), reason: 'VHD cookie conectix' },
  // Sector 16 of 2048 bytes contains the primary volume descriptor: a type byte, then CD001.
  { format: 'iso', offset: 0x8001, bytes: ascii('CD001'), reason: 'ISO 9660 identifier CD001' },
]

function matchesAt(data: Uint8Array, offset: number, bytes: number[]): boolean {
  if (offset < 0 || offset + bytes.length > data.length) return false
  return bytes.every((byte, index) => data[offset + index] === byte)
}

/**
 * Guesses the disk format from `head`, the first {@link headBytesNeeded} bytes (or the whole
 * file when shorter), and `tail`, the last {@link tailBytesNeeded} bytes. Returns raw when no
 * signature matches.
 */
export function guessDiskFormat(head: Uint8Array, tail: Uint8Array): DiskFormatGuess {
  for (const signature of headSignatures) {
    if (matchesAt(head, signature.offset, signature.bytes)) {
      return { format: signature.format, reason: signature.reason }
    }
  }
  // A fixed VHD has only the footer, in the last 512 bytes (511 in some old images).
  const cookie = ascii('conectix')
  if (matchesAt(tail, tail.length - 512, cookie) || matchesAt(tail, tail.length - 511, cookie)) {
    return { format: 'vhd', reason: 'VHD footer cookie conectix' }
  }
  return { format: 'raw', reason: 'no known signature' }
}

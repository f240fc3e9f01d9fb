import { hasSignatureAt, NeedBytes } from './head-view.js'
import type { HeadResult, HeadView, StreamEnd } from './head-view.js'
import type { Inspection } from './inspector.js'
import { findVhdFooter, inspectVhdFooter } from './vhd.js'

const mbrBootSignatureOffset = 510
const mbrPartitionEntriesOffset = 446
const mbrPartitionEntrySize = 16
const gptSignature = Buffer.from('EFI PART', 'latin1')
/** The GPT header sits in the second logical block: byte 512, or byte 4096 on 4Kn disks. */
const gptHeaderOffsets = [512, 4096]
const partitionProbeEnd = 4096 + gptSignature.length

/** Flags a GPT or MBR partition table at the start of raw content. */
export function inspectRawHead(view: HeadView): NeedBytes | HeadResult {
  if (view.bytes.length < partitionProbeEnd && !view.ended) {
    return new NeedBytes(partitionProbeEnd)
  }

  const partitionTable = findPartitionTable(view.bytes)
  return {
    settle: (end) =>
      settleUnsignedContent(end, { format: 'raw', virtualSize: end.totalBytes, partitionTable }),
  }
}

/**
 * Completes the inspection of content without a header signature. A VHD footer in the last 512
 * bytes makes it a fixed VHD, whatever the content looked like at the start.
 */
export function settleUnsignedContent(end: StreamEnd, content: Inspection): Inspection {
  const footer = findVhdFooter(end)
  return footer === undefined ? content : inspectVhdFooter(footer)
}

function findPartitionTable(bytes: Buffer): 'gpt' | 'mbr' | null {
  if (gptHeaderOffsets.some((offset) => hasSignatureAt(bytes, offset, gptSignature))) return 'gpt'

  return hasMbr(bytes) ? 'mbr' : null
}

/**
 * Checks for the 0x55AA boot signature and four partition entries whose boot flags are 0x00 or
 * 0x80. The flag check rules out most FAT and NTFS boot sectors, which carry the same signature
 * but have boot code where the entries would be.
 */
function hasMbr(bytes: Buffer): boolean {
  if (bytes.length < mbrBootSignatureOffset + 2) return false
  if (bytes[mbrBootSignatureOffset] !== 0x55 || bytes[mbrBootSignatureOffset + 1] !== 0xaa) {
    return false
  }

  for (let index = 0; index < 4; index++) {
    const bootFlag = bytes[mbrPartitionEntriesOffset + index * mbrPartitionEntrySize]
    if (bootFlag !== 0x00 && bootFlag !== 0x80) return false
  }
  return true
}

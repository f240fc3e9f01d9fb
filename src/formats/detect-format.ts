import { NeedBytes } from './head-view.js'
import type { HeadView } from './head-view.js'
import { ImageFormatError } from './image-format-error.js'
import type { DetectedFormat } from './inspector.js'
import { detectIso } from './iso.js'
import { vdiSignature, vdiSignatureOffset } from './vdi.js'
import { vhdCookie } from './vhd.js'

/**
 * The kind of evidence behind a detection. `content` means that no signature was found at the
 * start, so a VHD footer at the end of the stream can still turn the content into a fixed VHD.
 */
export type DetectionEvidence = 'signature' | 'vmdk-descriptor-file' | 'content'

export interface Detection {
  format: DetectedFormat
  evidence: DetectionEvidence
}

interface LeadingSignature extends Detection {
  bytes: Buffer
}

/** Signatures at byte 0. None is a prefix of another, so the first full match decides. */
const leadingSignatures: readonly LeadingSignature[] = [
  { format: 'qcow2', evidence: 'signature', bytes: Buffer.from('QFI\xfb', 'latin1') },
  { format: 'qed', evidence: 'signature', bytes: Buffer.from('QED\0', 'latin1') },
  { format: 'luks', evidence: 'signature', bytes: Buffer.from('LUKS\xba\xbe', 'latin1') },
  { format: 'vmdk', evidence: 'signature', bytes: Buffer.from('KDMV', 'latin1') },
  {
    format: 'vmdk',
    evidence: 'vmdk-descriptor-file',
    bytes: Buffer.from('# Disk DescriptorFile', 'latin1'),
  },
  { format: 'vhdx', evidence: 'signature', bytes: Buffer.from('vhdxfile', 'latin1') },
  { format: 'vhd', evidence: 'signature', bytes: vhdCookie },
]

/** Detects the format from the head: signatures at byte 0, then VDI, then ISO 9660 or UDF. */
export function detectFormat(view: HeadView): NeedBytes | Detection {
  const leading = matchLeadingSignature(view)
  if (leading !== undefined) return leading

  const bytes = view.bytes
  const vdiEnd = vdiSignatureOffset + 4
  if (bytes.length < vdiEnd && !view.ended) return new NeedBytes(vdiEnd)
  if (bytes.length >= vdiEnd && bytes.readUInt32LE(vdiSignatureOffset) === vdiSignature) {
    return { format: 'vdi', evidence: 'signature' }
  }

  const isIso = detectIso(view)
  if (isIso instanceof NeedBytes) return isIso
  return { format: isIso ? 'iso' : 'raw', evidence: 'content' }
}

/** Rejects content that is never accepted, whatever the declared disk_format. */
export function rejectUnsupportedContent(detection: Detection): void {
  if (detection.format === 'qed') {
    throw new ImageFormatError(
      'qed-unsupported',
      'Image content is in QED format, which is not accepted; convert it to qcow2 or raw ' +
        'with qemu-img convert and upload the result.',
    )
  }

  if (detection.format === 'luks') {
    throw new ImageFormatError(
      'luks-unsupported',
      'Image content is a LUKS-encrypted volume, which is not accepted; upload the ' +
        'decrypted disk image instead.',
    )
  }

  if (detection.evidence === 'vmdk-descriptor-file') {
    throw new ImageFormatError(
      'vmdk-descriptor-file',
      'Image content is a VMDK descriptor file, which refers to separate extent files; upload ' +
        'a single-file VMDK (monolithicSparse or streamOptimized) instead.',
    )
  }
}

/** Returns the matching signature, a request for more bytes while a prefix matches, or nothing. */
function matchLeadingSignature(view: HeadView): NeedBytes | Detection | undefined {
  const bytes = view.bytes
  let shortestPending: number | undefined

  for (const signature of leadingSignatures) {
    const compared = Math.min(bytes.length, signature.bytes.length)
    if (bytes.compare(signature.bytes, 0, compared, 0, compared) !== 0) continue
    if (compared === signature.bytes.length) {
      return { format: signature.format, evidence: signature.evidence }
    }

    shortestPending = Math.min(shortestPending ?? Infinity, signature.bytes.length)
  }

  if (shortestPending === undefined || view.ended) return undefined
  return new NeedBytes(shortestPending)
}

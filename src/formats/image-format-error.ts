import { InvalidInputError } from '../domain/errors.js'
import type { DetectedFormat } from './inspector.js'

/** Names of the rules that can reject image data, as carried by `ImageFormatError.check`. */
export const imageFormatChecks = [
  'empty',
  'truncated-header',
  'unsupported-layout',
  'format-mismatch',
  'virtual-size',
  'qed-unsupported',
  'luks-unsupported',
  'qcow2-version',
  'qcow2-header',
  'qcow2-backing-file',
  'qcow2-data-file',
  'qcow2-incompatible-features',
  'qcow2-cluster-bits',
  'qcow2-l1-size',
  'vmdk-descriptor-file',
  'vmdk-header',
  'vmdk-descriptor',
  'vmdk-create-type',
  'vmdk-extents',
  'vmdk-parent',
  'vmdk-footer',
  'vhd-header',
  'vhd-differencing',
  'vhdx-region-table',
  'vhdx-metadata',
  'vhdx-parent',
  'vdi-header',
  'vdi-parent',
  'iso-header',
] as const

export type ImageFormatCheck = (typeof imageFormatChecks)[number]

/**
 * Image data that is unsafe, malformed or not in the declared disk_format. The message is safe
 * to show the client and tells it what to do next. `check` names the rule that rejected the data.
 */
export class ImageFormatError extends InvalidInputError {
  readonly check: ImageFormatCheck

  constructor(check: ImageFormatCheck, message: string) {
    super(message, { details: { check } })
    this.name = 'ImageFormatError'
    this.check = check
  }
}

/** Format names as messages print them outside disk_format values. */
export const formatLabels: Readonly<Record<DetectedFormat, string>> = {
  raw: 'raw',
  qcow2: 'qcow2',
  iso: 'ISO 9660',
  vmdk: 'VMDK',
  vhd: 'VHD',
  vhdx: 'VHDX',
  vdi: 'VDI',
  qed: 'QED',
  luks: 'LUKS',
}

/** Quotes text taken from the image for a message, escaping control characters. */
export function quoteForMessage(text: string, maxLength = 64): string {
  const truncated = text.length > maxLength ? `${text.slice(0, maxLength)}...` : text
  return JSON.stringify(truncated)
}

export function createFormatMismatchError(
  detected: DetectedFormat,
  declared: string,
): ImageFormatError {
  return new ImageFormatError(
    'format-mismatch',
    `Image content is ${detected} but disk_format is ${declared}; ` +
      `set disk_format to ${detected} or upload ${declared} data.`,
  )
}

export function createTruncatedHeaderError(
  format: DetectedFormat,
  totalBytes: number,
): ImageFormatError {
  return new ImageFormatError(
    'truncated-header',
    `Image data ends at byte ${totalBytes}, inside the ${formatLabels[format]} header; ` +
      'upload the complete image file.',
  )
}

export function createUnsupportedLayoutError(
  format: DetectedFormat,
  offset: number,
  inspectedBytes: number,
): ImageFormatError {
  return new ImageFormatError(
    'unsupported-layout',
    `${formatLabels[format]} image keeps header data up to byte ${offset}, beyond the first ` +
      `${inspectedBytes} bytes that are inspected; ` +
      'convert it with qemu-img convert and upload the result.',
  )
}

export function createVirtualSizeError(format: DetectedFormat): ImageFormatError {
  return new ImageFormatError(
    'virtual-size',
    `${formatLabels[format]} header declares a virtual size above ` +
      `${Number.MAX_SAFE_INTEGER} bytes; the image is corrupt.`,
  )
}

import { detectFormat, rejectUnsupportedContent } from './detect-format.js'
import type { Detection } from './detect-format.js'
import { HeadBuffer } from './head-buffer.js'
import { NeedBytes } from './head-view.js'
import type { HeadResult, HeadView } from './head-view.js'
import {
  createFormatMismatchError,
  createTruncatedHeaderError,
  createUnsupportedLayoutError,
  ImageFormatError,
} from './image-format-error.js'
import { inspectIsoHead } from './iso.js'
import { inspectQcow2Head } from './qcow2.js'
import { inspectRawHead } from './raw.js'
import { TailWindow } from './tail-window.js'
import { inspectVdiHead } from './vdi.js'
import { inspectVhdHead } from './vhd.js'
import { inspectVhdxHead } from './vhdx.js'
import { inspectVmdkHead } from './vmdk.js'

export { ImageFormatError, imageFormatChecks } from './image-format-error.js'
export type { ImageFormatCheck } from './image-format-error.js'

export const detectedFormats = [
  'raw',
  'qcow2',
  'iso',
  'vmdk',
  'vhd',
  'vhdx',
  'vdi',
  'qed',
  'luks',
] as const

export type DetectedFormat = (typeof detectedFormats)[number]

/** The verdict on accepted image data. */
export interface Inspection {
  format: DetectedFormat
  /** Size of the disk that the image describes, in bytes. */
  virtualSize: number
  /** Partition table found at the start of raw content; null for every other format. */
  partitionTable: 'gpt' | 'mbr' | null
}

export interface InspectorOptions {
  /** The image's disk_format: raw, qcow2, iso, vmdk, vhd, vhdx, vdi, ploop, aki, ari or ami. */
  declaredFormat: string
  /** Accept qcow2 content for disk_format raw; an operator switch, false by default. */
  allowQcow2AsRaw?: boolean
  /**
   * Reject content whose format differs from disk_format; true by default. When false, only
   * unsafe content is rejected, like Glance with `require_image_format_match = false`.
   */
  requireFormatMatch?: boolean
}

/**
 * Bytes kept from the start of the stream for header parsing. Header structures that lie
 * beyond it are rejected as unsupported-layout.
 */
const headLimit = 4 * 1024 * 1024
/**
 * Bytes kept from the end of the stream: a VHD footer takes the last 512, and a streamOptimized
 * VMDK footer takes 1536 bytes that end at the last sector boundary.
 */
const tailSize = 2048

/**
 * Inspects image data chunk by chunk as it streams in: detects the format from the bytes,
 * computes the virtual size, and rejects unsafe content or content that does not match the
 * declared disk_format.
 *
 * Memory stays bounded at 4 MiB of head plus a 2 KiB tail, whatever sizes the headers declare.
 * Once the head is decided, `push` only counts bytes and updates the tail.
 *
 * A rejection is thrown as ImageFormatError from the `push` whose bytes make it certain. A
 * signature at byte 0 is recognised from its own bytes, content without one after 32 KiB (where
 * ISO 9660 and UDF descriptors start), and header checks run once their header has arrived.
 * `finish` throws for checks that need the end of the stream: a fixed VHD footer, a
 * streamOptimized VMDK footer and truncation. After a rejection, every call throws it again.
 *
 * @example
 * const inspector = new StreamInspector({ declaredFormat: 'qcow2' })
 * for await (const chunk of request) inspector.push(chunk)
 * const { format, virtualSize } = inspector.finish()
 */
export class StreamInspector {
  readonly #declaredFormat: string
  readonly #acceptedFormats: readonly DetectedFormat[] | undefined
  readonly #head = new HeadBuffer(headLimit)
  readonly #tail = new TailWindow(tailSize)
  #totalBytes = 0
  /** Head length at which the parsers run again. */
  #needEnd = 1
  #detection: Detection | undefined
  #headResult: HeadResult | undefined
  #inspection: Inspection | undefined
  #error: ImageFormatError | undefined

  constructor(options: InspectorOptions) {
    this.#declaredFormat = options.declaredFormat
    this.#acceptedFormats = findAcceptedFormats(options)
  }

  /**
   * Feeds the next chunk. Throws ImageFormatError as soon as the verdict is known to be a
   * rejection.
   */
  push(chunk: Buffer): void {
    this.#throwIfClosed('push')
    if (chunk.length === 0) return

    this.#totalBytes += chunk.length
    this.#tail.append(chunk)
    if (this.#headResult !== undefined) return

    this.#head.append(chunk)
    if (this.#head.length >= this.#needEnd) this.#recordRejection(() => this.#inspectHead(false))
  }

  /**
   * Ends the stream (totalBytes = all bytes pushed). Returns the inspection or throws
   * ImageFormatError. A second call returns the same inspection.
   */
  finish(): Inspection {
    if (this.#inspection !== undefined) return this.#inspection
    this.#throwIfClosed('finish')

    const inspection = this.#recordRejection(() => this.#settle())
    this.#inspection = Object.freeze(inspection)
    return this.#inspection
  }

  #throwIfClosed(method: string): void {
    if (this.#error !== undefined) throw this.#error
    if (this.#inspection !== undefined) {
      throw new Error(`StreamInspector.${method}() called after finish() returned`)
    }
  }

  /** Runs `step` and keeps any rejection, so that later calls throw it again. */
  #recordRejection<T>(step: () => T): T {
    try {
      return step()
    } catch (error) {
      if (error instanceof ImageFormatError) this.#error = error
      throw error
    }
  }

  /**
   * Runs the parsers over the whole head again. They run only when the head reaches the length
   * they requested, a few times per stream, so starting over costs little.
   */
  #inspectHead(ended: boolean): void {
    const view: HeadView = { bytes: this.#head.bytes, ended }
    const detection = this.#detection ?? this.#detect(view)
    if (detection === undefined) return

    const result = inspectFormatHead(detection, view)
    if (result instanceof NeedBytes) {
      this.#waitFor(result, detection.format, ended)
      return
    }

    this.#headResult = result
    this.#head.release()
  }

  #detect(view: HeadView): Detection | undefined {
    const detection = detectFormat(view)
    if (detection instanceof NeedBytes) {
      this.#waitFor(detection, 'raw', view.ended)
      return undefined
    }

    rejectUnsupportedContent(detection)
    // Content without a signature may still end with a fixed VHD footer, so only reject it
    // early when neither reading can match the declared format.
    const possible: DetectedFormat[] =
      detection.evidence === 'content' ? [detection.format, 'vhd'] : [detection.format]
    if (!possible.some((format) => this.#isAccepted(format))) {
      throw createFormatMismatchError(detection.format, this.#declaredFormat)
    }

    this.#detection = detection
    return detection
  }

  #waitFor(need: NeedBytes, format: DetectedFormat, ended: boolean): void {
    if (need.end > headLimit) throw createUnsupportedLayoutError(format, need.end, headLimit)
    if (ended) throw createTruncatedHeaderError(format, this.#totalBytes)

    this.#needEnd = need.end
  }

  #settle(): Inspection {
    if (this.#totalBytes === 0) {
      throw new ImageFormatError('empty', 'Image data is empty; upload the image file itself.')
    }

    if (this.#headResult === undefined) this.#inspectHead(true)
    const headResult = this.#headResult
    if (headResult === undefined) throw new Error('head parsers left no verdict at end of stream')

    const inspection = headResult.settle({ totalBytes: this.#totalBytes, tail: this.#tail.bytes() })
    if (!this.#isAccepted(inspection.format)) {
      throw createFormatMismatchError(inspection.format, this.#declaredFormat)
    }
    return inspection
  }

  #isAccepted(format: DetectedFormat): boolean {
    return this.#acceptedFormats === undefined || this.#acceptedFormats.includes(format)
  }
}

/**
 * Returns the detected formats that satisfy the declared disk_format, or undefined when the
 * declared format is not compared with the content (ploop, aki, ari, ami and unknown values).
 */
function findAcceptedFormats(options: InspectorOptions): readonly DetectedFormat[] | undefined {
  if (options.requireFormatMatch === false) return undefined
  switch (options.declaredFormat) {
    case 'raw':
      return options.allowQcow2AsRaw === true ? ['raw', 'qcow2'] : ['raw']
    case 'iso':
    case 'qcow2':
    case 'vmdk':
    case 'vhd':
    case 'vhdx':
    case 'vdi':
      return [options.declaredFormat]
    default:
      return undefined
  }
}

function inspectFormatHead(detection: Detection, view: HeadView): NeedBytes | HeadResult {
  switch (detection.format) {
    case 'qcow2':
      return inspectQcow2Head(view)
    case 'vmdk':
      return inspectVmdkHead(view)
    case 'vhd':
      return inspectVhdHead(view)
    case 'vhdx':
      return inspectVhdxHead(view)
    case 'vdi':
      return inspectVdiHead(view)
    case 'iso':
      return inspectIsoHead(view)
    case 'raw':
      return inspectRawHead(view)
    case 'qed':
    case 'luks':
      // rejectUnsupportedContent has already thrown for these.
      throw new Error(`no head parser for ${detection.format}`)
  }
}

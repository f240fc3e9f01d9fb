import { randomUUID } from 'node:crypto'
import { open, rename, rm } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'

import { InvalidInputError } from '../../domain/errors.js'
import { convertAddressSpaceLimitBytes, runQemuImg } from './run-qemu-img.js'

export { QemuImgError } from './run-qemu-img.js'

/** Formats that `convertImage` writes, by qemu-img driver name; `vpc` is disk_format `vhd`. */
export const conversionFormats = ['raw', 'qcow2', 'vmdk', 'vhdx', 'vdi', 'vpc'] as const

export type ConversionFormat = (typeof conversionFormats)[number]

/** qemu-img drivers for the inspected formats that may be converted. */
const sourceDrivers: ReadonlyMap<string, ConversionFormat> = new Map([
  ['raw', 'raw'],
  ['qcow2', 'qcow2'],
  ['vmdk', 'vmdk'],
  ['vhd', 'vpc'],
  ['vpc', 'vpc'],
  ['vhdx', 'vhdx'],
  ['vdi', 'vdi'],
])

/** CPU-time limit for `qemu-img info`, in seconds, the value Glance uses. */
const infoCpuSeconds = 2
/** Maximum size of `qemu-img info --output=json` output; real output is a few KiB. */
const maxInfoBytes = 1024 * 1024
/** VMDK create types whose data lives in the file itself, the ones the inspector accepts. */
const selfContainedVmdkTypes: readonly string[] = ['monolithicSparse', 'streamOptimized']

export interface ConvertOptions {
  /** Path of the image to convert. */
  source: string
  /**
   * The format found by inspecting the data (raw, qcow2, vmdk, vhd, vhdx or vdi), passed to
   * qemu-img as `-f` so that it never probes the format itself.
   */
  sourceFormat: string
  /** Path to create; an existing file there is replaced only when the conversion succeeds. */
  target: string
  targetFormat: ConversionFormat
  /** Time limit for the whole call, both qemu-img runs included, in milliseconds. */
  timeoutMs: number
  signal?: AbortSignal
}

/** Sizes and format of an image as qemu-img reports them. */
export interface ImageInfo {
  /** Size of the disk the image describes, in bytes. */
  virtualSize: number
  /** qemu-img's driver name for the format: `vpc` for VHD. */
  format: string
  /** Bytes the file occupies on disk. */
  actualSize: number
}

/** The fields of `qemu-img info --output=json` that are read here. */
interface QemuInfoJson {
  'virtual-size'?: unknown
  'actual-size'?: unknown
  format?: unknown
  'backing-filename'?: unknown
  'full-backing-filename'?: unknown
  'format-specific'?: {
    data?: {
      'data-file'?: unknown
      'create-type'?: unknown
      extents?: { filename?: unknown }[]
    }
  }
}

/**
 * Tells whether an image should go through `convertImage`: false for ISO images, which are
 * kept as they are, and for images already in the target format. `diskFormat` is a disk_format
 * or an inspected format, so `vhd` matches the target `vpc`.
 */
export function shouldConvert(diskFormat: string, targetFormat: ConversionFormat): boolean {
  if (diskFormat === 'iso') return false
  return (sourceDrivers.get(diskFormat) ?? diskFormat) !== targetFormat
}

/**
 * Converts an image with `qemu-img convert`, after `qemu-img info` confirms the format and finds
 * no backing file, external data file or extent in another file. Both run under prlimit (an
 * address-space limit, 1 GiB for info and 4 GiB for convert, and a CPU-time limit) when prlimit
 * is installed, and the process group is killed when `timeoutMs` runs out or `signal` aborts.
 *
 * The output is written to a temporary file next to `target`, synced, and renamed to `target`
 * only on success. On any failure the temporary file is removed.
 *
 * Throws InvalidInputError when the image refers to other files, QemuImgError when qemu-img
 * fails or times out (its message contains qemu-img's stderr and is not meant for clients),
 * `signal.reason` on abort, and TypeError for an unsupported format.
 *
 * NOTE: without prlimit only the wall-clock timeout limits qemu-img.
 */
export async function convertImage(options: ConvertOptions): Promise<void> {
  const { timeoutMs, signal } = options
  const sourceDriver = validateConvertOptions(options)
  // Absolute paths, because qemu-img treats a name such as `nbd:host` or `json:{...}` as a
  // protocol instead of a file.
  const source = resolve(options.source)
  const target = resolve(options.target)
  const deadline = Date.now() + timeoutMs

  const info = await readQemuInfo(source, sourceDriver, { timeoutMs, signal })
  checkSelfContained(info, source, sourceDriver)

  const partial = join(dirname(target), `.${basename(target)}.${randomUUID()}.partial`)
  try {
    await runQemuImg(
      ['convert', '-q', '-f', sourceDriver, '-O', options.targetFormat, '--', source, partial],
      {
        timeoutMs: deadline - Date.now(),
        limitMs: timeoutMs,
        // The wall-clock timeout is the real limit. The CPU limit, set through prlimit, still
        // holds if this process dies before it can kill qemu-img.
        cpuSeconds: Math.max(1, Math.ceil(timeoutMs / 1000)),
        addressSpaceBytes: convertAddressSpaceLimitBytes,
        maxStdoutBytes: 0,
        signal,
      },
    )
    await commitFile(partial, target)
  } catch (error) {
    await removePartial(partial, error)
    throw error
  }
}

/**
 * Reads an image's virtual size, format and allocated size with
 * `qemu-img info -f FORMAT --output=json`, under the same limits as `convertImage` and 2 s of
 * CPU time. `format` is an inspected format or a qemu-img driver name.
 *
 * Throws QemuImgError when qemu-img fails, for example when the file is not in `format`.
 */
export async function imageInfo(
  path: string,
  format: string,
  timeoutMs: number,
): Promise<ImageInfo> {
  const driver = requireSourceDriver(format)
  validateTimeout(timeoutMs)

  const info = await readQemuInfo(resolve(path), driver, { timeoutMs })
  return {
    virtualSize: requireSize(info, 'virtual-size'),
    format: typeof info.format === 'string' ? info.format : driver,
    actualSize: requireSize(info, 'actual-size'),
  }
}

async function readQemuInfo(
  path: string,
  driver: ConversionFormat,
  options: { timeoutMs: number; signal?: AbortSignal | undefined },
): Promise<QemuInfoJson> {
  const stdout = await runQemuImg(['info', '-f', driver, '--output=json', '--', path], {
    timeoutMs: options.timeoutMs,
    cpuSeconds: infoCpuSeconds,
    maxStdoutBytes: maxInfoBytes,
    signal: options.signal,
  })
  return JSON.parse(stdout) as QemuInfoJson
}

/**
 * Rejects images that make qemu-img read other files: a backing file, a qcow2 external data
 * file, or VMDK extents outside the image. The inspector rejects these before conversion, so
 * this is a second line of defence.
 */
function checkSelfContained(info: QemuInfoJson, source: string, driver: ConversionFormat): void {
  if (info.format !== driver) {
    throw new InvalidInputError(
      `qemu-img reads the image as ${String(info.format)}, not ${driver}; the image is corrupt.`,
    )
  }
  if (info['backing-filename'] !== undefined || info['full-backing-filename'] !== undefined) {
    throw new InvalidInputError('The image refers to a backing file; upload a standalone image.')
  }

  const data = info['format-specific']?.data
  if (data?.['data-file'] !== undefined) {
    throw new InvalidInputError(
      'The qcow2 image refers to an external data file; upload a standalone image.',
    )
  }
  if (driver !== 'vmdk') return

  const createType = data?.['create-type']
  if (typeof createType !== 'string' || !selfContainedVmdkTypes.includes(createType)) {
    throw new InvalidInputError(
      `VMDK create type ${JSON.stringify(createType)} is not supported; ` +
        'upload a monolithicSparse or streamOptimized VMDK.',
    )
  }
  const extents = data?.extents ?? []
  if (extents.some((extent) => extent.filename !== source)) {
    throw new InvalidInputError(
      'The VMDK image refers to extents in other files; upload a monolithicSparse or ' +
        'streamOptimized VMDK.',
    )
  }
}

/** Syncs the file, renames it over `target` and syncs the directory, so the rename is durable. */
async function commitFile(partial: string, target: string): Promise<void> {
  const file = await open(partial, 'r+')
  try {
    await file.sync()
  } finally {
    await file.close()
  }

  await rename(partial, target)
  const directory = await open(dirname(target), 'r')
  try {
    await directory.sync()
  } finally {
    await directory.close()
  }
}

/** Removes the partial output; when that fails too, throws both errors. */
async function removePartial(partial: string, original: unknown): Promise<void> {
  try {
    await rm(partial, { force: true })
  } catch (cleanupError) {
    throw new AggregateError(
      [original, cleanupError],
      `Image conversion failed, and its partial output ${partial} could not be removed.`,
    )
  }
}

function validateConvertOptions(options: ConvertOptions): ConversionFormat {
  const sourceDriver = requireSourceDriver(options.sourceFormat)
  if (!(conversionFormats as readonly string[]).includes(options.targetFormat)) {
    throw new TypeError(
      `targetFormat must be one of ${conversionFormats.join(', ')}, ` +
        `got ${String(options.targetFormat)}`,
    )
  }
  if (typeof options.source !== 'string' || typeof options.target !== 'string') {
    throw new TypeError('source and target must be file paths')
  }
  validateTimeout(options.timeoutMs)
  return sourceDriver
}

function requireSourceDriver(format: string): ConversionFormat {
  const driver = sourceDrivers.get(format)
  if (driver === undefined) {
    const accepted = [...sourceDrivers.keys()].join(', ')
    throw new TypeError(`Source format must be one of ${accepted}, got ${String(format)}`)
  }
  return driver
}

function validateTimeout(timeoutMs: number): void {
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new TypeError(`timeoutMs must be a positive number, got ${String(timeoutMs)}`)
  }
}

function requireSize(info: QemuInfoJson, field: 'virtual-size' | 'actual-size'): number {
  const value = info[field]
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new Error(`qemu-img info returned no valid ${field}: ${JSON.stringify(value)}`)
  }
  return value
}

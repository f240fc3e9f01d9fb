import { createReadStream, createWriteStream, type WriteStream } from 'node:fs'
import { mkdir, readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Logger } from 'pino'
import { InvalidInputError } from '../domain/errors.js'
import type { DiskFormat, Image } from '../domain/image.js'
import type { ContentInspector, ImageRepository } from '../domain/ports.js'
import { UploadMeter } from '../domain/upload-meter.js'
import { convertImage, type ConversionFormat } from './plugins/convert.js'
import { createDecompressor, detectCompression } from './plugins/decompress.js'

export interface ImportPipelineConfig {
  /** Decompress gzip and single-file zip data; `null` leaves compressed data as it is. */
  decompress: { maxRatio: number } | null
  /** Convert bare disk images to this disk_format; `null` keeps the format. */
  convert: { format: DiskFormat; timeoutMs: number } | null
  maxSizeBytes: number
  /** A directory for the files that conversion reads and writes; emptied at start-up. */
  workDir: string
}

/** Image data on its way into a store, and the image as it will be stored. */
export interface PreparedData {
  image: Image
  stream: Readable
  size: number | null
  /** Removes the work files; call it once the data is stored or has failed. */
  cleanup(): Promise<void>
}

/** Bytes to read before deciding whether data is compressed. */
const compressionHeadBytes = 4

/**
 * The import plugins that change the data before it is stored: decompression, then conversion
 * with qemu-img. Conversion writes the data to a work file through the format inspector first,
 * so that qemu-img only opens data that passed inspection, and it gets the inspected format.
 */
export class ImportPipeline {
  readonly #config: ImportPipelineConfig
  readonly #inspector: ContentInspector
  readonly #repo: ImageRepository
  readonly #log: Logger

  constructor(
    config: ImportPipelineConfig,
    inspector: ContentInspector,
    repo: ImageRepository,
    log: Logger,
  ) {
    this.#config = Object.freeze({ ...config })
    this.#inspector = inspector
    this.#repo = repo
    this.#log = log
  }

  /** Creates the work directory and removes what an interrupted conversion left in it. */
  async start(): Promise<void> {
    await mkdir(this.#config.workDir, { recursive: true, mode: 0o700 })
    for (const name of await readdir(this.#config.workDir)) {
      await rm(join(this.#config.workDir, name), { force: true })
    }
  }

  async prepare(
    image: Image,
    source: { stream: Readable; size: number | null },
    signal: AbortSignal,
  ): Promise<PreparedData> {
    let { stream, size } = source
    if (this.#config.decompress !== null) {
      const decompressed = await this.#decompress(image, stream, this.#config.decompress.maxRatio)
      if (decompressed !== null) [stream, size] = [decompressed, null]
    }
    const convert = this.#config.convert
    if (convert === null || image.containerFormat !== 'bare' || image.diskFormat === null) {
      return { image, stream, size, cleanup: async () => {} }
    }
    return this.#convert(image, stream, convert, signal)
  }

  /** Returns a decompressing stream when the data starts like gzip or zip, otherwise `null`. */
  async #decompress(image: Image, stream: Readable, maxRatio: number): Promise<Readable | null> {
    const { head, rest } = await peek(stream, compressionHeadBytes)
    const kind = detectCompression(head)
    if (kind === null) {
      stream.unshift(head)
      return null
    }
    this.#log.info({ imageId: image.id, op: `decompress-${kind}` }, 'decompressing import')
    const decompressor = createDecompressor(kind, {
      maxRatio,
      maxOutputBytes: this.#config.maxSizeBytes,
    })
    rest.on('error', (error) => decompressor.destroy(error))
    decompressor.write(head)
    return rest.pipe(decompressor)
  }

  async #convert(
    image: Image,
    stream: Readable,
    convert: { format: DiskFormat; timeoutMs: number },
    signal: AbortSignal,
  ): Promise<PreparedData> {
    const base = join(this.#config.workDir, image.id)
    const [sourcePath, targetPath] = [`${base}.source`, `${base}.converted`]
    const cleanup = async () => {
      await rm(sourcePath, { force: true })
      await rm(targetPath, { force: true })
    }
    let sink: WriteStream | null = null
    try {
      const meter = new UploadMeter({
        inspection: this.#inspector.begin(image),
        maxSizeBytes: this.#config.maxSizeBytes,
        expectedSize: null,
      })
      sink = createWriteStream(sourcePath, { mode: 0o600 })
      await pipeline(stream, meter, sink, { signal })
      const inspected = meter.result.inspection?.format ?? image.diskFormat!
      if (inspected === 'iso' || inspected === convert.format) {
        return { image, stream: createReadStream(sourcePath), size: meter.result.size, cleanup }
      }

      const started = Date.now()
      await convertImage({
        source: sourcePath,
        sourceFormat: inspected,
        target: targetPath,
        targetFormat: qemuFormat(convert.format),
        timeoutMs: convert.timeoutMs,
        signal,
      }).catch((error: unknown) => {
        if (error instanceof InvalidInputError || signal.aborted) throw error
        this.#log.warn({ imageId: image.id, err: error }, 'image conversion failed')
        throw new InvalidInputError(
          `Converting the image from ${inspected} to ${convert.format} failed; check that the file is a valid ${inspected} image.`,
        )
      })
      await rm(sourcePath, { force: true })
      const converted = { ...image, diskFormat: convert.format }
      await this.#repo.update(converted)
      const { size } = await stat(targetPath)
      this.#log.info(
        { imageId: image.id, op: 'convert', durationMs: Date.now() - started, bytesOut: size },
        `image converted from ${inspected} to ${convert.format}`,
      )
      return { image: converted, stream: createReadStream(targetPath), size, cleanup }
    } catch (error) {
      // A rejection can come before the file has opened; removing it earlier would leave the
      // file behind once the open completes.
      const open = sink
      if (open !== null && !open.closed) {
        await new Promise<void>((resolve) => open.once('close', () => resolve()))
      }
      await cleanup()
      throw error
    }
  }
}

/** qemu-img's name for a disk_format that conversion writes. */
function qemuFormat(format: DiskFormat): ConversionFormat {
  return (format === 'vhd' ? 'vpc' : format) as ConversionFormat
}

/**
 * Reads the first `count` bytes (fewer if the stream ends sooner) and returns them with the
 * paused stream, which continues after them.
 */
async function peek(stream: Readable, count: number): Promise<{ head: Buffer; rest: Readable }> {
  const chunks: Buffer[] = []
  let length = 0
  for (;;) {
    const chunk = stream.read() as Buffer | null
    if (chunk !== null) {
      chunks.push(chunk)
      length += chunk.length
      if (length >= count) break
      continue
    }
    if (stream.readableEnded) break
    const ended = await new Promise<boolean>((resolve, reject) => {
      const onReadable = () => settle(false)
      const onEnd = () => settle(true)
      const onError = (error: Error) => {
        stream.off('readable', onReadable).off('end', onEnd)
        reject(error)
      }
      const settle = (value: boolean) => {
        stream.off('readable', onReadable).off('end', onEnd).off('error', onError)
        resolve(value)
      }
      stream.once('readable', onReadable).once('end', onEnd).once('error', onError)
    })
    if (ended) break
  }
  return { head: Buffer.concat(chunks), rest: stream }
}

import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { after, before, describe, it } from 'node:test'
import { createGzip, crc32, deflateRawSync, gzipSync } from 'node:zlib'

import { InvalidInputError } from '../../domain/errors.js'
import { createDecompressor, detectCompression } from './decompress.js'
import type { CompressionKind, DecompressorOptions } from './decompress.js'

const KiB = 1024
const MiB = 1024 * KiB

const generous: DecompressorOptions = { maxRatio: 10_000, maxOutputBytes: 1024 * MiB }

// --- helpers ------------------------------------------------------------------------------------

/** Splits data into chunks of `size` bytes, as a socket or file stream would deliver it. */
function split(data: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = []
  for (let offset = 0; offset < data.length; offset += size) {
    chunks.push(data.subarray(offset, offset + size))
  }
  return chunks
}

/** A writable sink that counts bytes and keeps them only when asked to. */
class Sink extends Writable {
  bytes = 0
  readonly #chunks: Buffer[] | undefined

  constructor(keep: boolean) {
    super()
    this.#chunks = keep ? [] : undefined
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.bytes += chunk.length
    this.#chunks?.push(chunk)
    callback()
  }

  get data(): Buffer {
    return Buffer.concat(this.#chunks ?? [])
  }
}

async function decompress(
  kind: CompressionKind,
  chunks: Iterable<Buffer> | AsyncIterable<Buffer>,
  options: DecompressorOptions = generous,
): Promise<Buffer> {
  const sink = new Sink(true)
  await pipeline(Readable.from(chunks), createDecompressor(kind, options), sink)
  return sink.data
}

/** Decompresses and returns the InvalidInputError, failing the test when none is thrown. */
async function rejection(
  kind: CompressionKind,
  chunks: Iterable<Buffer>,
  options: DecompressorOptions = generous,
): Promise<InvalidInputError> {
  try {
    await decompress(kind, chunks, options)
  } catch (error) {
    assert.ok(error instanceof InvalidInputError, `expected InvalidInputError, got ${error}`)
    assert.equal(error.status, 400)
    return error
  }
  assert.fail('decompression succeeded, but a rejection was expected')
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

/** Data that deflate shrinks a little but not entirely, like a disk image. */
function sampleImage(size: number): Buffer {
  const data = randomBytes(size)
  for (let offset = 0; offset < size; offset += 8 * KiB)
    data.fill(0, offset, Math.min(size, offset + 4 * KiB))
  return data
}

interface ZipEntrySpec {
  name: string
  data: Buffer
  method: 0 | 8
  /** Put the CRC-32 and sizes in a data descriptor after the data (flag bit 3). */
  dataDescriptor?: boolean
  /** Start the data descriptor with its optional signature; true by default. */
  descriptorSignature?: boolean
  /** Add a zip64 extra field and use 8-byte sizes. */
  zip64?: boolean
  flags?: number
  /** Overrides the method number written to the header. */
  methodField?: number
  /** Overrides the CRC-32 written to the header or data descriptor. */
  crc?: number
}

/** Builds a zip archive byte by byte, central directory included, following APPNOTE.TXT. */
function buildZip(entries: ZipEntrySpec[]): Buffer {
  const parts: Buffer[] = []
  const central: Buffer[] = []
  let offset = 0

  for (const entry of entries) {
    const compressed = entry.method === 8 ? deflateRawSync(entry.data) : entry.data
    const crc = entry.crc ?? crc32(entry.data)
    const descriptor = entry.dataDescriptor === true
    const zip64 = entry.zip64 === true
    const flags = (entry.flags ?? 0) | (descriptor ? 1 << 3 : 0)
    const name = Buffer.from(entry.name)

    const extra = Buffer.alloc(zip64 ? 20 : 0)
    if (zip64) {
      extra.writeUInt16LE(1, 0)
      extra.writeUInt16LE(16, 2)
      if (!descriptor) {
        extra.writeBigUInt64LE(BigInt(entry.data.length), 4)
        extra.writeBigUInt64LE(BigInt(compressed.length), 12)
      }
    }

    const header = Buffer.alloc(30)
    header.writeUInt32LE(0x04034b50, 0)
    header.writeUInt16LE(zip64 ? 45 : 20, 4)
    header.writeUInt16LE(flags, 6)
    header.writeUInt16LE(entry.methodField ?? entry.method, 8)
    header.writeUInt16LE(0, 10)
    header.writeUInt16LE(0x21, 12)
    header.writeUInt32LE(descriptor ? 0 : crc, 14)
    let compressedSizeField = compressed.length
    let uncompressedSizeField = entry.data.length
    if (descriptor) {
      compressedSizeField = 0
      uncompressedSizeField = 0
    }
    if (zip64) {
      compressedSizeField = 0xffffffff
      uncompressedSizeField = 0xffffffff
    }
    header.writeUInt32LE(compressedSizeField, 18)
    header.writeUInt32LE(uncompressedSizeField, 22)
    header.writeUInt16LE(name.length, 26)
    header.writeUInt16LE(extra.length, 28)
    parts.push(header, name, extra, compressed)

    if (descriptor) {
      const withSignature = entry.descriptorSignature ?? true
      const sizeBytes = zip64 ? 8 : 4
      const record = Buffer.alloc((withSignature ? 8 : 4) + 2 * sizeBytes)
      let at = 0
      if (withSignature) at = record.writeUInt32LE(0x08074b50, at)
      at = record.writeUInt32LE(crc, at)
      if (zip64) {
        at = record.writeBigUInt64LE(BigInt(compressed.length), at)
        record.writeBigUInt64LE(BigInt(entry.data.length), at)
      } else {
        at = record.writeUInt32LE(compressed.length, at)
        record.writeUInt32LE(entry.data.length, at)
      }
      parts.push(record)
    }

    const centralHeader = Buffer.alloc(46)
    centralHeader.writeUInt32LE(0x02014b50, 0)
    centralHeader.writeUInt16LE(20, 4)
    centralHeader.writeUInt16LE(zip64 ? 45 : 20, 6)
    centralHeader.writeUInt16LE(flags, 8)
    centralHeader.writeUInt16LE(entry.methodField ?? entry.method, 10)
    centralHeader.writeUInt16LE(0x21, 14)
    centralHeader.writeUInt32LE(crc, 16)
    centralHeader.writeUInt32LE(compressed.length, 20)
    centralHeader.writeUInt32LE(entry.data.length, 24)
    centralHeader.writeUInt16LE(name.length, 28)
    centralHeader.writeUInt32LE(offset, 42)
    central.push(centralHeader, name)

    offset = parts.reduce((total, part) => total + part.length, 0)
  }

  const centralDirectory = Buffer.concat(central)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(entries.length, 8)
  end.writeUInt16LE(entries.length, 10)
  end.writeUInt32LE(centralDirectory.length, 12)
  end.writeUInt32LE(offset, 16)
  return Buffer.concat([...parts, centralDirectory, end])
}

/** Yields `total` bytes of zeros in 1 MiB chunks without allocating them all. */
function* zeros(total: number): Generator<Buffer> {
  const chunk = Buffer.alloc(MiB)
  for (let sent = 0; sent < total; sent += chunk.length) {
    yield chunk.subarray(0, Math.min(chunk.length, total - sent))
  }
}

async function gzipStream(chunks: Iterable<Buffer>): Promise<Buffer> {
  const sink = new Sink(true)
  await pipeline(Readable.from(chunks), createGzip(), sink)
  return sink.data
}

// --- detection ----------------------------------------------------------------------------------

describe('detectCompression', () => {
  it('detects gzip from its magic bytes', () => {
    assert.equal(detectCompression(gzipSync(Buffer.from('image'))), 'gzip')
  })

  it('detects zip from a local file header', () => {
    const zip = buildZip([{ name: 'disk.img', data: Buffer.from('image'), method: 0 }])
    assert.equal(detectCompression(zip), 'zip')
  })

  it('returns null for disk images and short heads', () => {
    const qcow2 = Buffer.from([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3])
    assert.equal(detectCompression(qcow2), null)
    assert.equal(detectCompression(Buffer.alloc(512)), null)
    assert.equal(detectCompression(Buffer.from([0x1f, 0x8b])), null)
    assert.equal(detectCompression(Buffer.from([0x50, 0x4b, 0x03])), null)
    assert.equal(detectCompression(Buffer.alloc(0)), null)
  })

  it('returns null for an empty zip archive', () => {
    assert.equal(detectCompression(buildZip([])), null)
  })
})

describe('createDecompressor options', () => {
  it('rejects invalid limits', () => {
    assert.throws(() => createDecompressor('gzip', { maxRatio: 0, maxOutputBytes: 1 }), TypeError)
    assert.throws(() => createDecompressor('zip', { maxRatio: 10, maxOutputBytes: -1 }), TypeError)
    assert.throws(
      () => createDecompressor('lzma' as CompressionKind, generous),
      /must be gzip or zip/,
    )
  })
})

// --- gzip ---------------------------------------------------------------------------------------

describe('gzip decompression', () => {
  it('round-trips data in small and large chunks', async () => {
    const image = sampleImage(3 * MiB + 123)
    const compressed = gzipSync(image)

    for (const chunkSize of [1000, 64 * KiB, compressed.length]) {
      const output = await decompress('gzip', split(compressed, chunkSize))
      assert.equal(output.length, image.length, `chunk size ${chunkSize}`)
      assert.equal(sha256(output), sha256(image), `chunk size ${chunkSize}`)
    }
  })

  it('decompresses concatenated members', async () => {
    const first = Buffer.from('first member, ')
    const second = Buffer.from('second member')
    const compressed = Buffer.concat([gzipSync(first), gzipSync(second)])

    const output = await decompress('gzip', split(compressed, 7))
    assert.equal(output.toString(), 'first member, second member')
  })

  it('rejects truncated data', async () => {
    const compressed = gzipSync(sampleImage(256 * KiB))
    for (const length of [0, 2, 10, compressed.length - 4, compressed.length - 1]) {
      const error = await rejection('gzip', [compressed.subarray(0, length)])
      assert.match(error.message, /gzip data is truncated or corrupt/, `length ${length}`)
    }
  })

  it('rejects garbage', async () => {
    const error = await rejection('gzip', [Buffer.from('this is not gzip data at all')])
    assert.match(error.message, /gzip data is truncated or corrupt \(zlib: incorrect header/)
  })

  it('rejects a corrupt trailer checksum', async () => {
    const compressed = gzipSync(Buffer.from('checked data'))
    compressed.writeUInt32LE(
      (compressed.readUInt32LE(compressed.length - 8) ^ 1) >>> 0,
      compressed.length - 8,
    )

    const error = await rejection('gzip', [compressed])
    assert.match(error.message, /incorrect data check/)
  })

  it('rejects garbage after the last member', async () => {
    const compressed = Buffer.concat([gzipSync(Buffer.from('image')), Buffer.from('garbage')])
    const error = await rejection('gzip', split(compressed, 5))
    assert.match(error.message, /gzip data is truncated or corrupt/)
  })

  it('rejects output above maxOutputBytes', async () => {
    const image = sampleImage(2 * MiB)
    const options = { maxRatio: 10_000, maxOutputBytes: MiB }

    const error = await rejection('gzip', split(gzipSync(image), 16 * KiB), options)
    assert.match(error.message, /exceeds the limit of 1048576 bytes/)
    assert.equal(error.details?.limit, 'maxOutputBytes')
  })

  it('accepts output of exactly maxOutputBytes', async () => {
    const image = sampleImage(MiB)
    const options = { maxRatio: 10_000, maxOutputBytes: MiB }

    const output = await decompress('gzip', [gzipSync(image)], options)
    assert.equal(output.length, MiB)
  })
})

describe('gzip bomb', () => {
  const bombSize = 200 * MiB
  let bomb: Buffer

  before(async () => {
    bomb = await gzipStream(zeros(bombSize))
  })

  it('has the expected ratio', () => {
    assert.ok(bomb.length < 300 * KiB, `compressed size ${bomb.length}`)
  })

  it('is aborted by the ratio limit early', async () => {
    const options = { maxRatio: 100, maxOutputBytes: 1024 * MiB }
    const sink = new Sink(false)
    const rssBefore = process.memoryUsage().rss
    const chunks = split(bomb, 16 * KiB)

    await assert.rejects(
      pipeline(Readable.from(chunks), createDecompressor('gzip', options), sink),
      (error: unknown) => {
        assert.ok(error instanceof InvalidInputError)
        assert.match(error.message, /grows beyond 100 times its compressed size/)
        assert.equal(error.details?.limit, 'maxRatio')
        return true
      },
    )

    const rssGrowth = process.memoryUsage().rss - rssBefore
    assert.ok(sink.bytes <= 100 * bomb.length + MiB, `output before abort: ${sink.bytes}`)
    assert.ok(sink.bytes < 16 * MiB, `output before abort: ${sink.bytes}`)
    assert.ok(rssGrowth < 48 * MiB, `rss grew by ${rssGrowth} bytes`)
  })

  it('streams in flat memory when the limits allow it', async () => {
    const options = { maxRatio: 2000, maxOutputBytes: bombSize }
    const sink = new Sink(false)
    const rssBefore = process.memoryUsage().rss
    let rssPeak = rssBefore
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss)
    }, 5)

    try {
      await pipeline(
        Readable.from(split(bomb, 64 * KiB)),
        createDecompressor('gzip', options),
        sink,
      )
    } finally {
      clearInterval(sampler)
    }

    assert.equal(sink.bytes, bombSize)
    const rssGrowth = Math.max(rssPeak, process.memoryUsage().rss) - rssBefore
    assert.ok(rssGrowth < 64 * MiB, `rss grew by ${rssGrowth} bytes for ${bombSize} bytes out`)
  })

  it('applies backpressure to its input', async () => {
    let pulled = 0
    const source = Readable.from(
      (function* () {
        for (const chunk of split(bomb, 4 * KiB)) {
          pulled += chunk.length
          yield chunk
        }
      })(),
    )
    const decompressor = createDecompressor('gzip', { maxRatio: 2000, maxOutputBytes: bombSize })
    source.pipe(decompressor)

    await new Promise((resolve) => setTimeout(resolve, 200))
    const buffered = decompressor.readableLength
    decompressor.destroy()
    source.destroy()

    assert.ok(pulled < 256 * KiB, `pulled ${pulled} compressed bytes`)
    assert.ok(buffered < 4 * MiB, `buffered ${buffered} decompressed bytes`)
  })
})

// --- zip ----------------------------------------------------------------------------------------

describe('zip decompression', () => {
  const image = sampleImage(MiB + 4321)

  const variants: { label: string; spec: Omit<ZipEntrySpec, 'name' | 'data'> }[] = [
    { label: 'stored', spec: { method: 0 } },
    { label: 'deflate', spec: { method: 8 } },
    { label: 'deflate with data descriptor', spec: { method: 8, dataDescriptor: true } },
    {
      label: 'deflate with unsigned data descriptor',
      spec: { method: 8, dataDescriptor: true, descriptorSignature: false },
    },
    { label: 'stored zip64', spec: { method: 0, zip64: true } },
    { label: 'deflate zip64', spec: { method: 8, zip64: true } },
    {
      label: 'deflate zip64 with data descriptor',
      spec: { method: 8, zip64: true, dataDescriptor: true },
    },
  ]

  for (const { label, spec } of variants) {
    it(`round-trips ${label}`, async () => {
      const zip = buildZip([{ name: 'disk.img', data: image, ...spec }])

      for (const chunkSize of [1, 333, 64 * KiB, zip.length]) {
        const chunks = chunkSize === 1 ? byteByByteHeadThenRest(zip) : split(zip, chunkSize)
        const output = await decompress('zip', chunks)
        assert.equal(output.length, image.length, `chunk size ${chunkSize}`)
        assert.equal(sha256(output), sha256(image), `chunk size ${chunkSize}`)
      }
    })
  }

  it('round-trips an empty stored entry', async () => {
    const zip = buildZip([{ name: 'empty.img', data: Buffer.alloc(0), method: 0 }])
    const output = await decompress('zip', split(zip, 3))
    assert.equal(output.length, 0)
  })

  it('round-trips an empty deflate entry', async () => {
    const zip = buildZip([
      { name: 'empty.img', data: Buffer.alloc(0), method: 8, dataDescriptor: true },
    ])
    const output = await decompress('zip', [zip])
    assert.equal(output.length, 0)
  })

  it('rejects a second file entry', async () => {
    const zip = buildZip([
      { name: 'disk.img', data: Buffer.from('first'), method: 0 },
      { name: 'other.img', data: Buffer.from('second'), method: 8 },
    ])
    const error = await rejection('zip', split(zip, 10))
    assert.match(error.message, /single-file zip only/)
  })

  it('rejects a second entry after a data descriptor', async () => {
    const zip = buildZip([
      { name: 'disk.img', data: image, method: 8, dataDescriptor: true },
      { name: 'other.img', data: Buffer.from('second'), method: 0 },
    ])
    const error = await rejection('zip', split(zip, 64 * KiB))
    assert.match(error.message, /single-file zip only/)
  })

  it('rejects a directory entry', async () => {
    const zip = buildZip([{ name: 'images/', data: Buffer.alloc(0), method: 0 }])
    const error = await rejection('zip', [zip])
    assert.match(error.message, /is a directory/)
  })

  it('rejects encrypted entries', async () => {
    for (const spec of [{ flags: 1 }, { flags: 1 << 6 }, { flags: 1 << 13 }, { methodField: 99 }]) {
      const zip = buildZip([{ name: 'disk.img', data: Buffer.from('secret'), method: 0, ...spec }])
      const error = await rejection('zip', [zip])
      assert.match(error.message, /is encrypted/, JSON.stringify(spec))
    }
  })

  it('rejects unsupported compression methods', async () => {
    const zip = buildZip([{ name: 'disk.img', data: image, method: 8, methodField: 12 }])
    const error = await rejection('zip', [zip])
    assert.match(error.message, /compression method 12/)
  })

  it('rejects a stored entry with data descriptor', async () => {
    const zip = buildZip([{ name: 'disk.img', data: image, method: 0, dataDescriptor: true }])
    const error = await rejection('zip', [zip])
    assert.match(error.message, /cannot be read as a stream/)
  })

  it('rejects zip64 sizes without the extra field', async () => {
    const zip = buildZip([{ name: 'disk.img', data: image, method: 0 }])
    zip.writeUInt32LE(0xffffffff, 18)
    const error = await rejection('zip', [zip])
    assert.match(error.message, /no complete zip64 extra field/)
  })

  it('rejects a CRC-32 mismatch', async () => {
    for (const spec of [
      { method: 0 as const },
      { method: 8 as const },
      { method: 8 as const, dataDescriptor: true },
    ]) {
      const zip = buildZip([
        { name: 'disk.img', data: image, crc: (crc32(image) ^ 1) >>> 0, ...spec },
      ])
      const error = await rejection('zip', split(zip, 64 * KiB))
      assert.match(error.message, /fails its CRC-32 check/, JSON.stringify(spec))
    }
  })

  it('rejects a wrong uncompressed size', async () => {
    const zip = buildZip([{ name: 'disk.img', data: image, method: 8 }])
    zip.writeUInt32LE(image.length - 1, 22)
    const error = await rejection('zip', [zip])
    assert.match(error.message, /decompresses to \d+ bytes, but its header declares/)
  })

  it('rejects deflate data ending early', async () => {
    const compressed = deflateRawSync(image)
    const zip = buildZip([{ name: 'disk.img', data: image, method: 8 }])
    zip.writeUInt32LE(compressed.length + 10, 18)
    const error = await rejection('zip', [zip])
    assert.match(error.message, /ends before its compressed size/)
  })

  it('rejects truncated archives', async () => {
    const cases = [
      { label: 'plain', zip: buildZip([{ name: 'disk.img', data: image, method: 8 }]) },
      {
        label: 'data descriptor',
        zip: buildZip([{ name: 'disk.img', data: image, method: 8, dataDescriptor: true }]),
      },
      { label: 'stored', zip: buildZip([{ name: 'disk.img', data: image, method: 0 }]) },
    ]
    for (const { label, zip } of cases) {
      const centralStart = zip.length - 22 - 46 - 'disk.img'.length
      for (const length of [
        0,
        10,
        30,
        40,
        1000,
        centralStart - 20,
        centralStart - 1,
        centralStart + 3,
      ]) {
        const error = await rejection('zip', split(zip.subarray(0, length), 4096))
        assert.match(error.message, /truncated/, `${label}, length ${length}`)
      }
    }
  })

  it('ignores the central directory', async () => {
    const zip = buildZip([{ name: 'disk.img', data: image, method: 8 }])
    const centralStart = zip.length - 22 - 46 - 'disk.img'.length
    const output = await decompress('zip', [zip.subarray(0, centralStart + 4)])
    assert.equal(sha256(output), sha256(image))
  })

  it('rejects garbage', async () => {
    const error = await rejection('zip', [Buffer.from('this is not a zip archive, only text')])
    assert.match(error.message, /does not start with a local file header/)
  })

  it('rejects corrupt deflate data', async () => {
    const zip = buildZip([{ name: 'disk.img', data: image, method: 8 }])
    zip.fill(0xff, 60, 200)
    const error = await rejection('zip', [zip])
    assert.match(error.message, /corrupt/)
  })

  it('rejects an unknown record after the entry', async () => {
    const zip = buildZip([{ name: 'disk.img', data: Buffer.from('image'), method: 0 }])
    const centralStart = zip.length - 22 - 46 - 'disk.img'.length
    zip.writeUInt32LE(0x12345678, centralStart)
    const error = await rejection('zip', [zip])
    assert.match(error.message, /unknown record \(signature 0x12345678\)/)
  })

  it('aborts a deflate bomb by the ratio limit', async () => {
    const zip = buildZip([{ name: 'disk.img', data: Buffer.alloc(64 * MiB), method: 8 }])
    const options = { maxRatio: 50, maxOutputBytes: 1024 * MiB }
    const error = await rejection('zip', split(zip, 8 * KiB), options)
    assert.match(error.message, /grows beyond 50 times/)
  })

  it('rejects output above maxOutputBytes', async () => {
    for (const method of [0, 8] as const) {
      const zip = buildZip([{ name: 'disk.img', data: image, method }])
      const error = await rejection('zip', split(zip, 8 * KiB), {
        maxRatio: 10_000,
        maxOutputBytes: MiB,
      })
      assert.match(error.message, /exceeds the limit of 1048576 bytes/, `method ${method}`)
    }
  })
})

/** Sends the first 200 bytes one at a time and the rest in one chunk. */
function byteByByteHeadThenRest(data: Buffer): Buffer[] {
  return [...split(data.subarray(0, 200), 1), data.subarray(200)]
}

const zipTool = '/usr/bin/zip'

describe(
  'zip archives made by Info-ZIP',
  { skip: !existsSync(zipTool) && `${zipTool} not installed` },
  () => {
    let dir: string
    let image: Buffer

    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'decompress-test-'))
      image = sampleImage(2 * MiB)
      writeFileSync(join(dir, 'disk.img'), image)
    })

    after(() => {
      rmSync(dir, { recursive: true, force: true })
    })

    /** Runs zip in the test directory; stdout is a pipe, so `zip -` streams its output. */
    function zip(args: string[], input?: Buffer): Buffer {
      return execFileSync(
        'sh',
        ['-c', `cd "$1" && shift && ${zipTool} -q "$@" | cat`, 'sh', dir, ...args],
        {
          input,
          maxBuffer: 64 * MiB,
        },
      )
    }

    it('round-trips a deflate archive', async () => {
      zip(['archive.zip', 'disk.img'])
      const archive = readFileSync(join(dir, 'archive.zip'))
      const output = await decompress('zip', split(archive, 10_000))
      assert.equal(sha256(output), sha256(image))
    })

    it('round-trips a stored archive', async () => {
      zip(['-0', 'stored.zip', 'disk.img'])
      const archive = readFileSync(join(dir, 'stored.zip'))
      const output = await decompress('zip', split(archive, 10_000))
      assert.equal(sha256(output), sha256(image))
    })

    it('round-trips an archive streamed to a pipe', async () => {
      const archive = zip(['-', 'disk.img'])
      assert.notEqual(archive.readUInt16LE(6) & (1 << 3), 0, 'expected a data descriptor')

      const output = await decompress('zip', split(archive, 10_000))
      assert.equal(sha256(output), sha256(image))
    })

    it('round-trips a zip64 archive from stdin', async () => {
      const archive = zip(['-', '-'], image)
      assert.equal(archive.readUInt16LE(4), 45, 'expected version 4.5 (zip64) to extract')
      assert.notEqual(archive.readUInt16LE(6) & (1 << 3), 0, 'expected a data descriptor')

      const output = await decompress('zip', split(archive, 10_000))
      assert.equal(sha256(output), sha256(image))
    })

    it('rejects a two-file archive', async () => {
      writeFileSync(join(dir, 'second.img'), Buffer.from('second'))
      zip(['two.zip', 'disk.img', 'second.img'])
      const error = await rejection('zip', split(readFileSync(join(dir, 'two.zip')), 10_000))
      assert.match(error.message, /single-file zip only/)
    })
  },
)

import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'

import { InvalidInputError } from '../../domain/errors.js'
import {
  conversionFormats,
  convertImage,
  imageInfo,
  QemuImgError,
  shouldConvert,
} from './convert.js'
import type { ConversionFormat } from './convert.js'
import { findPrlimit } from './run-qemu-img.js'

const MiB = 1024 * 1024

function qemuImg(args: string[]): string {
  return execFileSync('qemu-img', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

/** Builds a raw disk with random, constant and empty regions, so every format has work to do. */
function knownRawImage(): Buffer {
  const image = Buffer.alloc(8 * MiB)
  randomBytes(MiB).copy(image, 0)
  image.fill(0x5a, 3 * MiB, 3 * MiB + 65536)
  randomBytes(4096).copy(image, 8 * MiB - 4096)
  return image
}

/** Writes `size` bytes of 0x5a in 1 MiB blocks; qemu-img cannot skip them as zeros. */
async function writeFilledFile(path: string, size: number): Promise<void> {
  const file = await open(path, 'w')
  const block = Buffer.alloc(MiB, 0x5a)
  try {
    for (let offset = 0; offset < size; offset += MiB) await file.write(block)
  } finally {
    await file.close()
  }
}

/** Makes the first L1 entry of a qcow2 image point at an unaligned L2 table. */
function corruptFirstL2Offset(path: string): void {
  const image = readFileSync(path)
  const l1TableOffset = Number(image.readBigUInt64BE(40))
  image.writeBigUInt64BE((1n << 63n) | 0x10200n, l1TableOffset)
  writeFileSync(path, image)
}

/** Processes whose command line mentions `text`, from /proc. */
function processesMentioning(text: string): string[] {
  const found: string[] = []
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')
      if (commandLine.includes(text)) found.push(`${pid}: ${commandLine}`)
    } catch {
      continue
    }
  }
  return found
}

/** Waits until a `qemu-img convert` on a file in `dir` runs; returns its /proc limits. */
async function waitForConvertLimits(dir: string): Promise<string> {
  for (let attempt = 0; attempt < 400; attempt++) {
    for (const entry of processesMentioning(dir)) {
      const [pid, commandLine] = entry.split(': ', 2)
      if (!commandLine?.startsWith('qemu-img convert')) continue
      try {
        return readFileSync(`/proc/${pid}/limits`, 'utf8')
      } catch {
        continue
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  assert.fail('qemu-img convert did not start within 2 s')
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  assert.fail('the call succeeded, but a rejection was expected')
}

describe('convertImage', () => {
  let dir: string
  let rawPath: string
  let rawImage: Buffer

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'convert-test-'))
    rawPath = join(dir, 'known.raw')
    rawImage = knownRawImage()
    writeFileSync(rawPath, rawImage)
  })

  after(() => {
    rmSync(dir, { recursive: true, force: true })
  })

  /** Files in the test directory other than those named, such as a leftover partial output. */
  function strayFiles(...expected: string[]): string[] {
    return readdirSync(dir).filter((name) => !expected.includes(name))
  }

  it('runs qemu-img under prlimit when installed', async () => {
    const prlimit = await findPrlimit()
    assert.equal(prlimit !== null, existsSync('/usr/bin/prlimit'), `found ${prlimit}`)
  })

  it('round-trips raw through qcow2', async () => {
    const qcow2 = join(dir, 'round.qcow2')
    const back = join(dir, 'round.raw')
    await convertImage({
      source: rawPath,
      sourceFormat: 'raw',
      target: qcow2,
      targetFormat: 'qcow2',
      timeoutMs: 30_000,
    })
    await convertImage({
      source: qcow2,
      sourceFormat: 'qcow2',
      target: back,
      targetFormat: 'raw',
      timeoutMs: 30_000,
    })

    assert.equal(qemuImg(['info', '--output=json', '-f', 'qcow2', qcow2]).includes('qcow2'), true)
    assert.ok(readFileSync(back).equals(rawImage), 'raw -> qcow2 -> raw changed the bytes')
    rmSync(qcow2)
    rmSync(back)
  })

  for (const format of conversionFormats.filter((name) => name !== 'raw')) {
    it(`round-trips raw through ${format}`, async () => {
      const converted = join(dir, `every.${format}`)
      const back = join(dir, `every-${format}.raw`)
      const sourceFormat = format === 'vpc' ? 'vhd' : format
      await convertImage({
        source: rawPath,
        sourceFormat: 'raw',
        target: converted,
        targetFormat: format,
        timeoutMs: 30_000,
      })
      await convertImage({
        source: converted,
        sourceFormat,
        target: back,
        targetFormat: 'raw',
        timeoutMs: 30_000,
      })

      const output = readFileSync(back)
      // qemu's vpc driver rounds the disk size up to a CHS geometry, adding sectors of zeros.
      assert.ok(output.subarray(0, rawImage.length).equals(rawImage), `${format} changed bytes`)
      assert.ok(output.subarray(rawImage.length).every((byte) => byte === 0))
      rmSync(converted)
      rmSync(back)
    })
  }

  it(
    'converts qcow2 written by qemu-io',
    { skip: !existsSync('/usr/bin/qemu-io') && 'qemu-io is not installed' },
    async () => {
      const qcow2 = join(dir, 'written.qcow2')
      const raw = join(dir, 'written.raw')
      qemuImg(['create', '-q', '-f', 'qcow2', qcow2, '4M'])
      execFileSync('qemu-io', [
        '-f',
        'qcow2',
        '-c',
        'write -P 0xab 0 64k',
        '-c',
        'write -P 0x11 2M 4k',
        qcow2,
      ])

      await convertImage({
        source: qcow2,
        sourceFormat: 'qcow2',
        target: raw,
        targetFormat: 'raw',
        timeoutMs: 30_000,
      })

      const expected = Buffer.alloc(4 * MiB)
      expected.fill(0xab, 0, 65536)
      expected.fill(0x11, 2 * MiB, 2 * MiB + 4096)
      assert.ok(readFileSync(raw).equals(expected), 'qcow2 -> raw changed the bytes')
      rmSync(qcow2)
      rmSync(raw)
    },
  )

  it('kills qemu-img on timeout', async () => {
    const big = join(dir, 'big.raw')
    const target = join(dir, 'big.vmdk')
    await writeFilledFile(big, 256 * MiB)

    const started = Date.now()
    const error = await rejectionOf(
      convertImage({
        source: big,
        sourceFormat: 'raw',
        target,
        targetFormat: 'vmdk',
        timeoutMs: 100,
      }),
    )
    const elapsedMs = Date.now() - started
    rmSync(big)

    assert.ok(error instanceof QemuImgError, `expected QemuImgError, got ${error}`)
    assert.equal(error.timedOut, true, `not a timeout: ${error.message}`)
    assert.match(error.message, /^qemu-img convert timed out after its limit of 100 ms/)
    assert.equal(error.signal, 'SIGKILL')
    assert.ok(elapsedMs < 5000, `took ${elapsedMs} ms`)
    assert.deepEqual(strayFiles('known.raw'), [])
    assert.deepEqual(processesMentioning(dir), [])
  })

  it('kills qemu-img on abort', async () => {
    const big = join(dir, 'abort.raw')
    await writeFilledFile(big, 256 * MiB)
    const controller = new AbortController()
    const reason = new Error('import cancelled')

    const conversion = rejectionOf(
      convertImage({
        source: big,
        sourceFormat: 'raw',
        target: join(dir, 'abort.vmdk'),
        targetFormat: 'vmdk',
        timeoutMs: 30_000,
        signal: controller.signal,
      }),
    )
    const limits = await waitForConvertLimits(dir)
    controller.abort(reason)
    const error = await conversion
    rmSync(big)

    assert.equal(error, reason)
    assert.deepEqual(strayFiles('known.raw'), [])
    assert.deepEqual(processesMentioning(dir), [])
    if ((await findPrlimit()) !== null) {
      assert.match(limits, /^Max address space\s+4294967296\s+4294967296\s+bytes/m)
      assert.match(limits, /^Max cpu time\s+30\s+30\s+seconds/m)
    }
  })

  it('rejects an already aborted signal', async () => {
    const reason = new Error('import cancelled')
    const error = await rejectionOf(
      convertImage({
        source: rawPath,
        sourceFormat: 'raw',
        target: join(dir, 'never.qcow2'),
        targetFormat: 'qcow2',
        timeoutMs: 30_000,
        signal: AbortSignal.abort(reason),
      }),
    )
    assert.equal(error, reason)
    assert.deepEqual(strayFiles('known.raw'), [])
  })

  it('fails on a corrupt source', async () => {
    const corrupt = join(dir, 'corrupt.qcow2')
    const target = join(dir, 'corrupt.raw')
    qemuImg(['convert', '-q', '-f', 'raw', '-O', 'qcow2', rawPath, corrupt])
    corruptFirstL2Offset(corrupt)

    const error = await rejectionOf(
      convertImage({
        source: corrupt,
        sourceFormat: 'qcow2',
        target,
        targetFormat: 'raw',
        timeoutMs: 30_000,
      }),
    )
    rmSync(corrupt)

    assert.ok(error instanceof QemuImgError, `expected QemuImgError, got ${error}`)
    assert.equal(error.exitCode, 1)
    assert.equal(error.timedOut, false)
    assert.match(error.message, /^qemu-img convert failed with exit code 1; stderr: /)
    assert.match(error.message, /L2 table offset 0x10200 unaligned/)
    assert.match(error.stderr, /error while reading/)
    assert.equal(existsSync(target), false)
    assert.deepEqual(strayFiles('known.raw'), [])
  })

  it('keeps an existing target on failure', async () => {
    const corrupt = join(dir, 'corrupt-again.qcow2')
    const target = join(dir, 'existing.raw')
    qemuImg(['convert', '-q', '-f', 'raw', '-O', 'qcow2', rawPath, corrupt])
    corruptFirstL2Offset(corrupt)
    writeFileSync(target, 'previous content')

    await assert.rejects(
      convertImage({
        source: corrupt,
        sourceFormat: 'qcow2',
        target,
        targetFormat: 'raw',
        timeoutMs: 30_000,
      }),
      QemuImgError,
    )
    assert.equal(readFileSync(target, 'utf8'), 'previous content')

    await convertImage({
      source: rawPath,
      sourceFormat: 'raw',
      target,
      targetFormat: 'raw',
      timeoutMs: 30_000,
    })
    assert.ok(readFileSync(target).equals(rawImage))
    rmSync(corrupt)
    rmSync(target)
  })

  it('fails on a source format mismatch', async () => {
    const target = join(dir, 'mismatch.raw')
    const error = await rejectionOf(
      convertImage({
        source: rawPath,
        sourceFormat: 'qcow2',
        target,
        targetFormat: 'raw',
        timeoutMs: 30_000,
      }),
    )

    assert.ok(error instanceof QemuImgError, `expected QemuImgError, got ${error}`)
    assert.equal(error.exitCode, 1)
    assert.match(error.message, /^qemu-img info failed with exit code 1; stderr: /)
    assert.match(error.message, /Image is not in qcow2 format/)
    assert.equal(existsSync(target), false)
  })

  it('copies qcow2 bytes declared raw', async () => {
    const qcow2 = join(dir, 'declared-raw.qcow2')
    const target = join(dir, 'declared-raw.out')
    qemuImg(['create', '-q', '-f', 'qcow2', qcow2, '1M'])

    await convertImage({
      source: qcow2,
      sourceFormat: 'raw',
      target,
      targetFormat: 'raw',
      timeoutMs: 30_000,
    })

    // The raw driver rounds the size up to whole 512-byte sectors.
    const input = readFileSync(qcow2)
    const output = readFileSync(target)
    assert.equal(output.subarray(0, 4).toString('latin1'), 'QFI\xfb')
    assert.ok(output.subarray(0, input.length).equals(input), 'qemu-img probed the format')
    assert.equal(output.length, Math.ceil(input.length / 512) * 512)
    rmSync(qcow2)
    rmSync(target)
  })

  it('rejects a backing file', async () => {
    const base = join(dir, 'base.qcow2')
    const overlay = join(dir, 'overlay.qcow2')
    qemuImg(['create', '-q', '-f', 'qcow2', base, '1M'])
    qemuImg(['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', overlay])

    const error = await rejectionOf(
      convertImage({
        source: overlay,
        sourceFormat: 'qcow2',
        target: join(dir, 'overlay.raw'),
        targetFormat: 'raw',
        timeoutMs: 30_000,
      }),
    )
    rmSync(base)
    rmSync(overlay)

    assert.ok(error instanceof InvalidInputError, `expected InvalidInputError, got ${error}`)
    assert.match(error.message, /refers to a backing file/)
    assert.deepEqual(strayFiles('known.raw'), [])
  })

  it('rejects an external data file', async () => {
    const image = join(dir, 'external.qcow2')
    const dataFile = join(dir, 'external.data')
    qemuImg(['create', '-q', '-f', 'qcow2', '-o', `data_file=${dataFile}`, image, '1M'])

    const error = await rejectionOf(
      convertImage({
        source: image,
        sourceFormat: 'qcow2',
        target: join(dir, 'external.raw'),
        targetFormat: 'raw',
        timeoutMs: 30_000,
      }),
    )
    rmSync(image)
    rmSync(dataFile)

    assert.ok(error instanceof InvalidInputError, `expected InvalidInputError, got ${error}`)
    assert.match(error.message, /external data file/)
    assert.deepEqual(strayFiles('known.raw'), [])
  })

  it('rejects unsupported formats', async () => {
    const base = { source: rawPath, target: join(dir, 'x'), timeoutMs: 1000 }
    for (const sourceFormat of ['iso', 'qed', 'luks', 'ploop', 'auto', '']) {
      await assert.rejects(
        convertImage({ ...base, sourceFormat, targetFormat: 'raw' }),
        TypeError,
        sourceFormat,
      )
    }
    await assert.rejects(
      convertImage({ ...base, sourceFormat: 'raw', targetFormat: 'qed' as ConversionFormat }),
      TypeError,
    )
    await assert.rejects(
      convertImage({ ...base, sourceFormat: 'raw', targetFormat: 'raw', timeoutMs: 0 }),
      TypeError,
    )
    assert.deepEqual(strayFiles('known.raw'), [])
  })
})

describe('imageInfo', () => {
  let dir: string

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'image-info-test-'))
  })

  after(() => {
    rmSync(dir, { recursive: true, force: true })
  })

  it('reports qcow2 virtual size', async () => {
    const path = join(dir, 'sized.qcow2')
    qemuImg(['create', '-q', '-f', 'qcow2', path, '3G'])

    const info = await imageInfo(path, 'qcow2', 10_000)
    assert.equal(info.virtualSize, 3 * 1024 * MiB)
    assert.equal(info.format, 'qcow2')
    assert.ok(info.actualSize > 0, `actual size ${info.actualSize}`)
    assert.ok(info.actualSize < MiB, `actual size ${info.actualSize}`)
  })

  it('reads vhd as vpc', async () => {
    const path = join(dir, 'disk.vhd')
    qemuImg(['create', '-q', '-f', 'vpc', '-o', 'force_size=on', path, '16M'])

    const info = await imageInfo(path, 'vhd', 10_000)
    assert.equal(info.format, 'vpc')
    assert.equal(info.virtualSize, 16 * MiB)
  })

  it('fails on a format mismatch', async () => {
    const path = join(dir, 'plain.raw')
    writeFileSync(path, Buffer.alloc(MiB))

    const error = await rejectionOf(imageInfo(path, 'qcow2', 10_000))
    assert.ok(error instanceof QemuImgError, `expected QemuImgError, got ${error}`)
    assert.match(error.message, /Image is not in qcow2 format/)
  })

  it('fails on a missing file', async () => {
    const error = await rejectionOf(imageInfo(join(dir, 'missing.qcow2'), 'qcow2', 10_000))
    assert.ok(error instanceof QemuImgError, `expected QemuImgError, got ${error}`)
    assert.match(error.message, /No such file or directory/)
  })
})

describe('shouldConvert', () => {
  const cases: [string, ConversionFormat, boolean][] = [
    ['iso', 'raw', false],
    ['iso', 'qcow2', false],
    ['raw', 'raw', false],
    ['qcow2', 'qcow2', false],
    ['vhd', 'vpc', false],
    ['vpc', 'vpc', false],
    ['qcow2', 'raw', true],
    ['vmdk', 'raw', true],
    ['vhd', 'raw', true],
    ['vhdx', 'raw', true],
    ['vdi', 'raw', true],
    ['raw', 'qcow2', true],
  ]

  for (const [diskFormat, targetFormat, expected] of cases) {
    it(`returns ${expected} for ${diskFormat} to ${targetFormat}`, () => {
      assert.equal(shouldConvert(diskFormat, targetFormat), expected)
    })
  }
})

import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'

import {
  detectedFormats,
  ImageFormatError,
  imageFormatChecks,
  StreamInspector,
} from './inspector.js'
import type { ImageFormatCheck, Inspection, InspectorOptions } from './inspector.js'

const MiB = 1024 * 1024
/** Bytes the inspector keeps from the start of a stream (its head limit). */
const headLimit = 4 * MiB

// --- helpers ------------------------------------------------------------------------------------

/** Creates a seeded PRNG (mulberry32), so that fixtures and fuzz cases repeat from run to run. */
function createRandom(seed: number): () => number {
  let state = seed >>> 0
  return function nextRandom() {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function randomInt(random: () => number, below: number): number {
  return Math.floor(random() * below)
}

function run(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

interface QemuInfo {
  format: string
  virtualSize: number
}

function readQemuInfo(path: string, format?: string): QemuInfo {
  const args = ['info', '--output=json', ...(format === undefined ? [] : ['-f', format]), path]
  const info = JSON.parse(run('qemu-img', args)) as { format: string; 'virtual-size': number }
  return { format: info.format, virtualSize: info['virtual-size'] }
}

/**
 * Feeds `data` in chunks of `chunkSize` bytes across the first 4 MiB + 8 KiB and the last 8 KiB,
 * where the inspector keeps bytes, and in 1 MiB chunks in between, where it only counts them.
 */
function feed(inspector: StreamInspector, data: Buffer, chunkSize: number): void {
  const headEnd = Math.min(data.length, headLimit + 8192)
  const tailStart = Math.max(headEnd, data.length - 8192)

  let offset = 0
  while (offset < data.length) {
    const inMiddle = offset >= headEnd && offset < tailStart
    const size = inMiddle ? Math.min(MiB, tailStart - offset) : chunkSize
    inspector.push(data.subarray(offset, Math.min(data.length, offset + size)))
    offset += size
  }
}

function inspect(data: Buffer, options: InspectorOptions, chunkSize = 65536): Inspection {
  const inspector = new StreamInspector(options)
  feed(inspector, data, chunkSize)
  return inspector.finish()
}

interface Rejection {
  error: ImageFormatError
  /** Bytes pushed up to and including the chunk that threw, or undefined when finish() threw. */
  thrownAfterBytes: number | undefined
}

function captureRejection(data: Buffer, options: InspectorOptions, chunkSize = 65536): Rejection {
  const inspector = new StreamInspector(options)
  let pushed = 0
  try {
    for (let offset = 0; offset < data.length; offset += chunkSize) {
      const chunk = data.subarray(offset, offset + chunkSize)
      pushed += chunk.length
      inspector.push(chunk)
    }
  } catch (error) {
    assert.ok(error instanceof ImageFormatError, `push threw ${String(error)}`)
    return { error, thrownAfterBytes: pushed }
  }

  try {
    const inspection = inspector.finish()
    assert.fail(`expected a rejection, got ${JSON.stringify(inspection)}`)
  } catch (error) {
    if (!(error instanceof ImageFormatError)) throw error
    return { error, thrownAfterBytes: undefined }
  }
}

function assertRejected(
  data: Buffer,
  options: InspectorOptions,
  check: ImageFormatCheck,
  chunkSize = 65536,
): Rejection {
  const rejection = captureRejection(data, options, chunkSize)
  assert.equal(rejection.error.check, check, rejection.error.message)
  assert.equal(rejection.error.status, 400)
  return rejection
}

/** Builds a qcow2 version 3 header of one 64 KiB cluster with the given field overrides. */
function buildQcow2Header(fields: {
  version?: number
  backingFileOffset?: bigint
  backingFileSize?: number
  clusterBits?: number
  size?: bigint
  l1Size?: number
  incompatibleFeatures?: bigint
  headerLength?: number
}): Buffer {
  const header = Buffer.alloc(65536)
  header.write('QFI\xfb', 0, 'latin1')
  header.writeUInt32BE(fields.version ?? 3, 4)
  header.writeBigUInt64BE(fields.backingFileOffset ?? 0n, 8)
  header.writeUInt32BE(fields.backingFileSize ?? 0, 16)
  header.writeUInt32BE(fields.clusterBits ?? 16, 20)
  header.writeBigUInt64BE(fields.size ?? 1n << 30n, 24)
  header.writeUInt32BE(fields.l1Size ?? 2, 36)
  header.writeBigUInt64BE(0x30000n, 40)
  header.writeBigUInt64BE(0x10000n, 48)
  header.writeUInt32BE(1, 56)
  header.writeBigUInt64BE(fields.incompatibleFeatures ?? 0n, 72)
  header.writeUInt32BE(4, 96)
  header.writeUInt32BE(fields.headerLength ?? 112, 100)
  return header
}

/** Rewrites the embedded descriptor of a qemu-made sparse VMDK (20 sectors at byte 512). */
function replaceVmdkDescriptor(vmdk: Buffer, text: string): Buffer {
  const patched = Buffer.from(vmdk)
  patched.fill(0, 512, 512 + 20 * 512)
  patched.write(text, 512, 'latin1')
  return patched
}

function vmdkDescriptor(lines: { createType?: string; extent?: string; extra?: string }): string {
  return [
    '# Disk DescriptorFile',
    'version=1',
    'CID=12345678',
    'parentCID=ffffffff',
    `createType="${lines.createType ?? 'monolithicSparse'}"`,
    '',
    '# Extent description',
    lines.extent ?? 'RW 6144 SPARSE "disk.vmdk"',
    lines.extra ?? '',
    '',
  ].join('\n')
}

/** Returns the byte offset of the VHDX metadata region, read from the region table at 192 KiB. */
function findVhdxMetadataOffset(vhdx: Buffer): number {
  const metadataGuid = Buffer.from('06a27c8b90479a4bb8fe575f050f886e', 'hex')
  const count = vhdx.readUInt32LE(196608 + 8)
  for (let index = 0; index < count; index++) {
    const entry = 196608 + 16 + index * 32
    if (vhdx.subarray(entry, entry + 16).equals(metadataGuid)) {
      return Number(vhdx.readBigUInt64LE(entry + 16))
    }
  }
  throw new Error('fixture has no VHDX metadata region')
}

// --- fixtures made by qemu-img and xorriso ------------------------------------------------------

interface Fixture {
  name: string
  path: string
  declaredFormat: string
  expectedFormat: Inspection['format']
  /** Format name to force on qemu-img info; qemu does not probe fixed VHDs. */
  qemuFormat?: string
}

let workDir = ''
const fixtures: Fixture[] = []
const files = new Map<string, Buffer>()

function file(name: string): Buffer {
  const data = files.get(name)
  if (data === undefined) throw new Error(`no fixture named ${name}`)
  return data
}

function createFixtures(): void {
  workDir = mkdtempSync(join(tmpdir(), 'format-inspector-'))
  const path = (name: string) => join(workDir, name)

  // 3 MiB of raw disk: 1 MiB of seeded noise then zeros, so the sparse formats skip some.
  const random = createRandom(7)
  const source = Buffer.alloc(3 * MiB)
  for (let index = 0; index < MiB; index++) source[index] = randomInt(random, 256)
  writeFileSync(path('source.raw'), source)

  const qemuImg = (...args: string[]) => run('qemu-img', args)
  qemuImg('create', '-q', '-f', 'qcow2', path('empty.qcow2'), '1G')
  qemuImg('convert', '-O', 'qcow2', path('source.raw'), path('data.qcow2'))
  qemuImg('convert', '-O', 'qcow2', '-o', 'compat=0.10', path('source.raw'), path('v2.qcow2'))
  qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=2M', path('big.qcow2'), '5G')
  qemuImg('convert', '-O', 'vmdk', path('source.raw'), path('sparse.vmdk'))
  qemuImg(
    'convert',
    '-O',
    'vmdk',
    '-o',
    'subformat=streamOptimized',
    path('source.raw'),
    path('stream.vmdk'),
  )
  qemuImg('convert', '-O', 'vpc', path('source.raw'), path('dynamic.vhd'))
  qemuImg('convert', '-O', 'vpc', '-o', 'subformat=fixed', path('source.raw'), path('fixed.vhd'))
  qemuImg('convert', '-O', 'vhdx', path('source.raw'), path('disk.vhdx'))
  qemuImg('convert', '-O', 'vdi', path('source.raw'), path('disk.vdi'))

  mkdirSync(path('iso-root'))
  writeFileSync(path('iso-root/readme.txt'), 'format inspector fixture\n')
  writeFileSync(path('iso-root/data.bin'), source.subarray(0, 200_000))
  run('xorriso', ['-as', 'mkisofs', '-quiet', '-o', path('disk.iso'), path('iso-root')])

  fixtures.push(
    { name: 'raw', path: path('source.raw'), declaredFormat: 'raw', expectedFormat: 'raw' },
    {
      name: 'empty qcow2 v3',
      path: path('empty.qcow2'),
      declaredFormat: 'qcow2',
      expectedFormat: 'qcow2',
    },
    {
      name: 'qcow2 v3 with data',
      path: path('data.qcow2'),
      declaredFormat: 'qcow2',
      expectedFormat: 'qcow2',
    },
    { name: 'qcow2 v2', path: path('v2.qcow2'), declaredFormat: 'qcow2', expectedFormat: 'qcow2' },
    {
      name: 'qcow2 2 MiB clusters',
      path: path('big.qcow2'),
      declaredFormat: 'qcow2',
      expectedFormat: 'qcow2',
    },
    {
      name: 'vmdk monolithicSparse',
      path: path('sparse.vmdk'),
      declaredFormat: 'vmdk',
      expectedFormat: 'vmdk',
    },
    {
      name: 'vmdk streamOptimized',
      path: path('stream.vmdk'),
      declaredFormat: 'vmdk',
      expectedFormat: 'vmdk',
    },
    {
      name: 'vhd dynamic',
      path: path('dynamic.vhd'),
      declaredFormat: 'vhd',
      expectedFormat: 'vhd',
    },
    {
      name: 'vhd fixed',
      path: path('fixed.vhd'),
      declaredFormat: 'vhd',
      expectedFormat: 'vhd',
      qemuFormat: 'vpc',
    },
    { name: 'vhdx', path: path('disk.vhdx'), declaredFormat: 'vhdx', expectedFormat: 'vhdx' },
    { name: 'vdi', path: path('disk.vdi'), declaredFormat: 'vdi', expectedFormat: 'vdi' },
    { name: 'iso', path: path('disk.iso'), declaredFormat: 'iso', expectedFormat: 'iso' },
  )
  for (const fixture of fixtures) files.set(fixture.name, readFileSync(fixture.path))
}

const qemuFormatNames: Record<string, string> = { vpc: 'vhd' }

before(createFixtures)
after(() => rmSync(workDir, { recursive: true, force: true }))

// --- tests --------------------------------------------------------------------------------------

describe('images made by qemu-img and xorriso', () => {
  for (const chunkSize of [1, 7, 65536]) {
    it(`match qemu-img info with ${chunkSize}-byte chunks`, () => {
      for (const fixture of fixtures) {
        const data = file(fixture.name)
        const inspection = inspect(data, { declaredFormat: fixture.declaredFormat }, chunkSize)
        assert.equal(inspection.format, fixture.expectedFormat, fixture.name)

        const info = readQemuInfo(fixture.path, fixture.qemuFormat)
        if (fixture.expectedFormat === 'iso') {
          assert.equal(info.format, 'raw', `qemu-img sees ${fixture.name} as raw`)
          assert.equal(inspection.virtualSize, data.length, `${fixture.name} virtual size`)
        } else {
          assert.equal(qemuFormatNames[info.format] ?? info.format, fixture.expectedFormat)
          assert.equal(inspection.virtualSize, info.virtualSize, `${fixture.name} virtual size`)
        }
      }
    })
  }

  it('reports no partition table for plain raw data', () => {
    const inspection = inspect(file('raw'), { declaredFormat: 'raw' })
    assert.equal(inspection.partitionTable, null)
  })

  it('detect the same formats for ploop, aki, ari and ami', () => {
    for (const declaredFormat of ['ploop', 'aki', 'ari', 'ami']) {
      for (const fixture of fixtures) {
        const inspection = inspect(file(fixture.name), { declaredFormat })
        assert.equal(inspection.format, fixture.expectedFormat, `${declaredFormat} ${fixture.name}`)
      }
    }
  })
})

describe('declared disk_format against content', () => {
  it('rejects qcow2 declared raw on the first chunk', () => {
    const rejection = assertRejected(
      file('empty qcow2 v3'),
      { declaredFormat: 'raw' },
      'format-mismatch',
    )
    assert.equal(rejection.thrownAfterBytes, 65536)
    assert.equal(
      rejection.error.message,
      'Image content is qcow2 but disk_format is raw; set disk_format to qcow2 or upload raw data.',
    )
  })

  it('rejects qcow2 declared raw after its 4-byte magic', () => {
    const rejection = assertRejected(
      file('empty qcow2 v3'),
      { declaredFormat: 'raw' },
      'format-mismatch',
      1,
    )
    assert.equal(rejection.thrownAfterBytes, 4)
  })

  it('accepts qcow2 declared raw when allowQcow2AsRaw is set', () => {
    const inspection = inspect(file('empty qcow2 v3'), {
      declaredFormat: 'raw',
      allowQcow2AsRaw: true,
    })
    assert.equal(inspection.format, 'qcow2')
    assert.equal(inspection.virtualSize, 1024 * MiB)
  })

  it('rejects a backing file despite allowQcow2AsRaw', () => {
    const header = buildQcow2Header({ backingFileOffset: 0x200n, backingFileSize: 11 })
    assertRejected(header, { declaredFormat: 'raw', allowQcow2AsRaw: true }, 'qcow2-backing-file')
  })

  it('rejects iso declared raw at 32 KiB', () => {
    const rejection = assertRejected(file('iso'), { declaredFormat: 'raw' }, 'format-mismatch', 7)
    assert.notEqual(rejection.thrownAfterBytes, undefined)
    assert.ok((rejection.thrownAfterBytes ?? Infinity) < 32780)
    assert.match(rejection.error.message, /content is iso but disk_format is raw/)
  })

  it('rejects raw declared iso early', () => {
    const rejection = assertRejected(file('raw'), { declaredFormat: 'iso' }, 'format-mismatch')
    assert.equal(rejection.thrownAfterBytes, 65536)
    assert.match(rejection.error.message, /content is raw but disk_format is iso/)
  })

  it('rejects raw declared qcow2 on the first chunk', () => {
    const rejection = assertRejected(file('raw'), { declaredFormat: 'qcow2' }, 'format-mismatch')
    assert.equal(rejection.thrownAfterBytes, 65536)
  })

  it('rejects every header format declared as another', () => {
    const headerFixtures = ['qcow2 v2', 'vmdk monolithicSparse', 'vhd dynamic', 'vhdx', 'vdi']
    const declared = ['raw', 'iso', 'qcow2', 'vmdk', 'vhd', 'vhdx', 'vdi']
    for (const name of headerFixtures) {
      const fixture = fixtures.find((candidate) => candidate.name === name)
      assert.ok(fixture)
      for (const declaredFormat of declared.filter((format) => format !== fixture.expectedFormat)) {
        const rejection = assertRejected(file(name), { declaredFormat }, 'format-mismatch')
        assert.equal(rejection.thrownAfterBytes, 65536, `${name} declared ${declaredFormat}`)
      }
    }
  })

  it('rejects fixed vhd declared raw at the end', () => {
    const rejection = assertRejected(
      file('vhd fixed'),
      { declaredFormat: 'raw' },
      'format-mismatch',
    )
    assert.equal(rejection.thrownAfterBytes, undefined)
    assert.match(rejection.error.message, /content is vhd but disk_format is raw/)
  })

  it('rejects raw declared vhd at the end', () => {
    const rejection = assertRejected(file('raw'), { declaredFormat: 'vhd' }, 'format-mismatch')
    assert.equal(rejection.thrownAfterBytes, undefined)
  })

  it('throws the same rejection again from later calls', () => {
    const inspector = new StreamInspector({ declaredFormat: 'raw' })
    const data = file('empty qcow2 v3')
    assert.throws(() => inspector.push(data), ImageFormatError)
    assert.throws(() => inspector.push(data), { check: 'format-mismatch' })
    assert.throws(() => inspector.finish(), { check: 'format-mismatch' })
  })
})

describe('inspector lifecycle', () => {
  it('returns the same inspection twice', () => {
    const inspector = new StreamInspector({ declaredFormat: 'raw' })
    inspector.push(Buffer.alloc(4096))
    const first = inspector.finish()
    assert.equal(inspector.finish(), first)
  })

  it('treats push after finish as a programmer error', () => {
    const inspector = new StreamInspector({ declaredFormat: 'raw' })
    inspector.push(Buffer.alloc(4096))
    inspector.finish()
    const pushAgain = () => inspector.push(Buffer.alloc(1))
    assert.throws(pushAgain, (error) => !(error instanceof ImageFormatError))
  })

  it('ignores empty chunks', () => {
    const inspector = new StreamInspector({ declaredFormat: 'qcow2' })
    inspector.push(Buffer.alloc(0))
    inspector.push(file('empty qcow2 v3'))
    inspector.push(Buffer.alloc(0))
    assert.equal(inspector.finish().format, 'qcow2')
  })
})

describe('raw partition tables', () => {
  function buildDisk(): Buffer {
    return Buffer.alloc(2 * MiB)
  }

  it('flags an MBR', () => {
    const disk = buildDisk()
    disk[446] = 0x80
    disk[446 + 4] = 0x83
    disk.writeUInt16BE(0x55aa, 510)
    assert.equal(inspect(disk, { declaredFormat: 'raw' }).partitionTable, 'mbr')
  })

  it('flags a GPT behind its protective MBR', () => {
    const disk = buildDisk()
    disk[446 + 4] = 0xee
    disk.writeUInt16BE(0x55aa, 510)
    disk.write('EFI PART', 512, 'latin1')
    assert.equal(inspect(disk, { declaredFormat: 'raw' }, 7).partitionTable, 'gpt')
  })

  it('flags a GPT on a 4096-byte sector disk', () => {
    const disk = buildDisk()
    disk.writeUInt16BE(0x55aa, 510)
    disk.write('EFI PART', 4096, 'latin1')
    assert.equal(inspect(disk, { declaredFormat: 'raw' }).partitionTable, 'gpt')
  })

  it('ignores a boot sector without partition entries', () => {
    const disk = buildDisk()
    disk.fill(0x90, 446, 510)
    disk.writeUInt16BE(0x55aa, 510)
    assert.equal(inspect(disk, { declaredFormat: 'raw' }).partitionTable, null)
  })

  it('counts raw streams above 4 GiB exactly', () => {
    const inspector = new StreamInspector({ declaredFormat: 'raw' })
    const chunk = Buffer.alloc(MiB, 0x5a)
    for (let index = 0; index < 5000; index++) inspector.push(chunk)
    assert.equal(inspector.finish().virtualSize, 5000 * MiB)
  })

  it('accepts tiny raw data', () => {
    const inspection = inspect(Buffer.from('hello'), { declaredFormat: 'raw' }, 1)
    assert.deepEqual(inspection, { format: 'raw', virtualSize: 5, partitionTable: null })
  })
})

describe('unsafe or broken qcow2', () => {
  it('rejects a backing file made by qemu-img', () => {
    const base = join(workDir, 'base.raw')
    const child = join(workDir, 'child.qcow2')
    writeFileSync(base, Buffer.alloc(MiB))
    run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'raw', child])
    const rejection = assertRejected(
      readFileSync(child),
      { declaredFormat: 'qcow2' },
      'qcow2-backing-file',
      7,
    )
    assert.equal(rejection.thrownAfterBytes, 105)
  })

  it('rejects a hand-built backing file /etc/passwd', () => {
    const header = buildQcow2Header({ backingFileOffset: 0x200n, backingFileSize: 11 })
    header.write('/etc/passwd', 0x200, 'latin1')
    for (const declaredFormat of ['qcow2', 'ploop', 'aki', 'ami']) {
      assertRejected(header, { declaredFormat }, 'qcow2-backing-file')
    }
  })

  it('rejects a backing file given by offset only', () => {
    const header = buildQcow2Header({ backingFileOffset: 0x200n })
    assertRejected(header, { declaredFormat: 'qcow2' }, 'qcow2-backing-file')
  })

  it('rejects an external data file made by qemu-img', () => {
    const image = join(workDir, 'external.qcow2')
    run('qemu-img', [
      'create',
      '-q',
      '-f',
      'qcow2',
      '-o',
      `data_file=${join(workDir, 'external.data')}`,
      image,
      '64M',
    ])
    assertRejected(readFileSync(image), { declaredFormat: 'qcow2' }, 'qcow2-data-file')
  })

  it('rejects a data file extension alone', () => {
    const header = buildQcow2Header({})
    header.writeUInt32BE(0x6803f857, 112)
    header.writeUInt32BE(0, 116)
    header.writeUInt32BE(0x44415441, 120)
    header.writeUInt32BE(11, 124)
    header.write('/etc/passwd', 128, 'latin1')
    const rejection = assertRejected(header, { declaredFormat: 'qcow2' }, 'qcow2-data-file', 4096)
    assert.equal(
      rejection.thrownAfterBytes,
      65536,
      'the extension scan waits for the first cluster',
    )
  })

  it('rejects unknown incompatible feature bits', () => {
    const header = buildQcow2Header({ incompatibleFeatures: 1n << 40n })
    const rejection = assertRejected(
      header,
      { declaredFormat: 'qcow2' },
      'qcow2-incompatible-features',
    )
    assert.match(rejection.error.message, /0x10000000000/)
  })

  it('accepts the dirty and corrupt bits', () => {
    const header = buildQcow2Header({ incompatibleFeatures: 0b11n })
    assert.equal(inspect(header, { declaredFormat: 'qcow2' }).format, 'qcow2')
  })

  it('rejects cluster bits outside 9 to 21', () => {
    for (const clusterBits of [0, 8, 22, 31, 0xffffffff]) {
      const header = buildQcow2Header({ clusterBits })
      assertRejected(header, { declaredFormat: 'qcow2' }, 'qcow2-cluster-bits')
    }
  })

  it('rejects a huge L1 table', () => {
    const header = buildQcow2Header({ l1Size: 0xffffffff })
    assertRejected(header, { declaredFormat: 'qcow2' }, 'qcow2-l1-size')
  })

  it('rejects versions other than 2 and 3', () => {
    for (const version of [0, 1, 4, 0xffffffff]) {
      assertRejected(buildQcow2Header({ version }), { declaredFormat: 'qcow2' }, 'qcow2-version')
    }
  })

  it('rejects an invalid header length', () => {
    for (const headerLength of [0, 103, 65537]) {
      assertRejected(
        buildQcow2Header({ headerLength }),
        { declaredFormat: 'qcow2' },
        'qcow2-header',
      )
    }
  })

  it('rejects an extension past the cluster', () => {
    const header = buildQcow2Header({})
    header.writeUInt32BE(0x12345678, 112)
    header.writeUInt32BE(0xffffff00, 116)
    assertRejected(header, { declaredFormat: 'qcow2' }, 'qcow2-header')
  })

  it('rejects a virtual size above 2^53 - 1', () => {
    const header = buildQcow2Header({ size: 1n << 60n })
    assertRejected(header, { declaredFormat: 'qcow2' }, 'virtual-size')
  })

  it('rejects truncated headers from finish', () => {
    const image = file('empty qcow2 v3')
    for (const length of [4, 50, 71, 80, 103, 200]) {
      const rejection = assertRejected(
        image.subarray(0, length),
        { declaredFormat: 'qcow2' },
        'truncated-header',
        1,
      )
      assert.equal(rejection.thrownAfterBytes, undefined, `${length} bytes`)
    }
  })

  it('treats a partial magic as raw', () => {
    assert.equal(inspect(Buffer.from('QFI', 'latin1'), { declaredFormat: 'raw' }).format, 'raw')
  })
})

describe('content that is never accepted', () => {
  it('rejects qed for any disk_format', () => {
    const image = join(workDir, 'disk.qed')
    run('qemu-img', ['create', '-q', '-f', 'qed', image, '64M'])
    for (const declaredFormat of ['raw', 'qcow2', 'ploop']) {
      const rejection = assertRejected(
        readFileSync(image),
        { declaredFormat },
        'qed-unsupported',
        1,
      )
      assert.equal(rejection.thrownAfterBytes, 4)
    }
  })

  it('rejects a hand-built qed header', () => {
    const header = Buffer.alloc(4096)
    header.write('QED\0', 0, 'latin1')
    assertRejected(header, { declaredFormat: 'raw' }, 'qed-unsupported')
  })

  it('rejects a LUKS header', () => {
    // A LUKS1 header as cryptsetup and qemu-img write it: magic, version 1, cipher names and a
    // 32-byte key digest. Built by hand because qemu-img times its key derivation and fails
    // with "Unable to get accurate CPU usage" on a loaded machine.
    const image = Buffer.alloc(4 * 1024 * 1024)
    image.write('LUKS\xba\xbe', 0, 'latin1')
    image.writeUInt16BE(1, 6)
    image.write('aes', 8, 'latin1')
    image.write('xts-plain64', 40, 'latin1')
    image.write('sha256', 72, 'latin1')
    image.writeUInt32BE(4096, 104)
    image.writeUInt32BE(32, 108)
    assertRejected(image, { declaredFormat: 'raw' }, 'luks-unsupported')
  })

  it('rejects empty data', () => {
    assertRejected(Buffer.alloc(0), { declaredFormat: 'raw' }, 'empty')
  })
})

describe('vmdk', () => {
  it('rejects a monolithicFlat descriptor file', () => {
    const descriptor = join(workDir, 'flat.vmdk')
    run('qemu-img', [
      'convert',
      '-O',
      'vmdk',
      '-o',
      'subformat=monolithicFlat',
      join(workDir, 'source.raw'),
      descriptor,
    ])
    for (const declaredFormat of ['vmdk', 'raw', 'ploop']) {
      assertRejected(readFileSync(descriptor), { declaredFormat }, 'vmdk-descriptor-file')
    }
  })

  it('rejects other create types', () => {
    const image = replaceVmdkDescriptor(
      file('vmdk monolithicSparse'),
      vmdkDescriptor({ createType: 'vmfs' }),
    )
    assertRejected(image, { declaredFormat: 'vmdk' }, 'vmdk-create-type')
  })

  it('rejects a flat extent pointing at another file', () => {
    const text = vmdkDescriptor({ extent: 'RW 6144 FLAT "/etc/passwd" 0' })
    assertRejected(
      replaceVmdkDescriptor(file('vmdk monolithicSparse'), text),
      { declaredFormat: 'vmdk' },
      'vmdk-extents',
    )
  })

  it('rejects a second extent', () => {
    const text = vmdkDescriptor({ extra: 'RW 2048 SPARSE "other.vmdk"' })
    assertRejected(
      replaceVmdkDescriptor(file('vmdk monolithicSparse'), text),
      { declaredFormat: 'vmdk' },
      'vmdk-extents',
    )
  })

  it('rejects an extent naming a path', () => {
    for (const name of ['/etc/passwd', '../disk.vmdk', 'dir\\disk.vmdk', '']) {
      const text = vmdkDescriptor({ extent: `RW 6144 SPARSE "${name}"` })
      const image = replaceVmdkDescriptor(file('vmdk monolithicSparse'), text)
      assertRejected(image, { declaredFormat: 'vmdk' }, 'vmdk-extents')
    }
  })

  it('rejects a parent disk hint', () => {
    const text = vmdkDescriptor({ extra: 'parentFileNameHint="/etc/passwd"' })
    assertRejected(
      replaceVmdkDescriptor(file('vmdk monolithicSparse'), text),
      { declaredFormat: 'vmdk' },
      'vmdk-parent',
    )
  })

  it('rejects a parent hint at sector 1 when the descriptor moved', () => {
    const image = Buffer.from(file('vmdk monolithicSparse'))
    const clean = image.subarray(512, 512 + 20 * 512).toString('latin1')
    // Move the real descriptor to sector 40 and leave a parent hint at sector 1.
    image.write(clean, 40 * 512, 'latin1')
    image.writeBigUInt64LE(40n, 28)
    image.fill(0, 512, 512 + 20 * 512)
    image.write('parentFileNameHint="/etc/passwd"\n', 512, 'latin1')
    assertRejected(image, { declaredFormat: 'vmdk' }, 'vmdk-parent')
  })

  it('rejects a capacity of 0 sectors', () => {
    const image = Buffer.from(file('vmdk monolithicSparse'))
    image.writeBigUInt64LE(0n, 12)
    assertRejected(image, { declaredFormat: 'vmdk' }, 'vmdk-header')
  })

  it('rejects a descriptor beyond the head window', () => {
    const image = Buffer.from(file('vmdk monolithicSparse'))
    image.writeBigUInt64LE(BigInt((8 * MiB) / 512), 28)
    const rejection = assertRejected(image, { declaredFormat: 'vmdk' }, 'unsupported-layout')
    assert.equal(rejection.thrownAfterBytes, 65536)
  })

  it('reads the streamOptimized footer capacity like qemu', () => {
    const original = file('vmdk streamOptimized')
    const header = original.subarray(0, 512)
    const footerMarker = Buffer.alloc(512)
    footerMarker.writeUInt32LE(3, 12)
    const footerHeader = Buffer.from(header)
    footerHeader.writeBigUInt64LE(8192n, 12)
    const image = Buffer.concat([original, footerMarker, footerHeader, Buffer.alloc(512)])
    image.writeBigUInt64LE(0xffff_ffff_ffff_ffffn, 56)

    const path = join(workDir, 'footer.vmdk')
    writeFileSync(path, image)
    const info = readQemuInfo(path)
    assert.equal(info.virtualSize, 8192 * 512)
    for (const chunkSize of [1, 7, 65536]) {
      const inspection = inspect(image, { declaredFormat: 'vmdk' }, chunkSize)
      assert.equal(inspection.virtualSize, info.virtualSize)
    }
  })

  it('rejects a streamOptimized image whose footer is missing', () => {
    const image = Buffer.from(file('vmdk streamOptimized'))
    image.writeBigUInt64LE(0xffff_ffff_ffff_ffffn, 56)
    const rejection = assertRejected(image, { declaredFormat: 'vmdk' }, 'vmdk-footer')
    assert.equal(rejection.thrownAfterBytes, undefined)
  })
})

describe('vhd, vhdx and vdi', () => {
  it('rejects a differencing vhd', () => {
    const image = Buffer.from(file('vhd dynamic'))
    image.writeUInt32BE(4, 60)
    assertRejected(image, { declaredFormat: 'vhd' }, 'vhd-differencing')
  })

  it('rejects a differencing footer at the end', () => {
    const image = Buffer.from(file('vhd fixed'))
    image.writeUInt32BE(4, image.length - 512 + 60)
    assertRejected(image, { declaredFormat: 'vhd' }, 'vhd-differencing')
  })

  it('rejects a vhdx parent locator', () => {
    const image = Buffer.from(file('vhdx'))
    const firstEntry = findVhdxMetadataOffset(image) + 32
    const virtualDiskSizeGuid = Buffer.from('2442a52f1bcd7648b2115dbed83bf4b8', 'hex')
    const entry = image.subarray(firstEntry, firstEntry + 16).equals(virtualDiskSizeGuid)
      ? firstEntry + 32
      : firstEntry
    Buffer.from('2d5fd3a80bb34d45abf7d3d84834ab0c', 'hex').copy(image, entry)
    assertRejected(image, { declaredFormat: 'vhdx' }, 'vhdx-parent')
  })

  it('rejects metadata beyond the head window', () => {
    const image = Buffer.from(file('vhdx'))
    const metadataGuid = Buffer.from('06a27c8b90479a4bb8fe575f050f886e', 'hex')
    const entry = image.indexOf(metadataGuid, 196608)
    image.writeBigUInt64LE(BigInt(64 * MiB), entry + 16)
    const rejection = assertRejected(image, { declaredFormat: 'vhdx' }, 'unsupported-layout')
    assert.notEqual(rejection.thrownAfterBytes, undefined)
    assert.ok((rejection.thrownAfterBytes ?? Infinity) < MiB)
  })

  it('rejects a vhdx without a region table', () => {
    const image = Buffer.from(file('vhdx'))
    image.fill(0, 196608, 196608 + 65536)
    assertRejected(image, { declaredFormat: 'vhdx' }, 'vhdx-region-table')
  })

  it('rejects a differencing vdi', () => {
    const image = Buffer.from(file('vdi'))
    image.writeUInt32LE(4, 0x4c)
    assertRejected(image, { declaredFormat: 'vdi' }, 'vdi-parent')
  })

  it('rejects a vdi with a parent uuid', () => {
    const image = Buffer.from(file('vdi'))
    image[0x1b8] = 1
    assertRejected(image, { declaredFormat: 'vdi' }, 'vdi-parent')
  })

  it('rejects vdi versions other than 1.1', () => {
    const image = Buffer.from(file('vdi'))
    image.writeUInt32LE(0x00010000, 0x44)
    assertRejected(image, { declaredFormat: 'vdi' }, 'vdi-header')
  })
})

describe('iso', () => {
  it('rejects a non-power-of-two block size', () => {
    const image = Buffer.from(file('iso'))
    image.writeUInt16LE(1000, 32768 + 128)
    assertRejected(image, { declaredFormat: 'iso' }, 'iso-header')
  })

  it('detects a UDF volume recognition sequence', () => {
    const image = Buffer.alloc(MiB)
    image.write('\0BEA01\x01', 32768, 'latin1')
    image.write('\0NSR02\x01', 34816, 'latin1')
    image.write('\0TEA01\x01', 36864, 'latin1')
    const inspection = inspect(image, { declaredFormat: 'iso' }, 7)
    assert.deepEqual(inspection, { format: 'iso', virtualSize: MiB, partitionTable: null })
  })

  it('treats BEA01 without an NSR descriptor as raw', () => {
    const image = Buffer.alloc(MiB)
    image.write('\0BEA01\x01', 32768, 'latin1')
    assert.equal(inspect(image, { declaredFormat: 'raw' }).format, 'raw')
  })

  it('rejects a truncated primary volume descriptor', () => {
    const image = file('iso').subarray(0, 32768 + 100)
    assertRejected(image, { declaredFormat: 'iso' }, 'truncated-header')
  })
})

// --- fuzzing ------------------------------------------------------------------------------------

interface FuzzTarget {
  fixture: string
  /** Byte ranges that hold the header structures the inspector reads. */
  hotRanges: (data: Buffer) => Array<[number, number]>
}

const fuzzTargets: FuzzTarget[] = [
  { fixture: 'qcow2 v3 with data', hotRanges: () => [[0, 256]] },
  { fixture: 'qcow2 v2', hotRanges: () => [[0, 256]] },
  {
    fixture: 'vmdk monolithicSparse',
    hotRanges: () => [
      [0, 80],
      [512, 1200],
    ],
  },
  {
    fixture: 'vmdk streamOptimized',
    hotRanges: () => [
      [0, 80],
      [512, 1200],
    ],
  },
  { fixture: 'vhd dynamic', hotRanges: () => [[0, 512]] },
  { fixture: 'vhd fixed', hotRanges: (data) => [[data.length - 512, data.length]] },
  {
    fixture: 'vhdx',
    hotRanges: (data) => {
      const metadata = findVhdxMetadataOffset(data)
      return [
        [0, 16],
        [196608, 196608 + 112],
        [metadata, metadata + 160],
        [metadata + 65536, metadata + 65600],
      ]
    },
  },
  { fixture: 'vdi', hotRanges: () => [[0x40, 0x1d0]] },
  {
    fixture: 'iso',
    hotRanges: () => [
      [32768, 32768 + 200],
      [34816, 34830],
    ],
  },
  {
    fixture: 'raw',
    hotRanges: () => [
      [0, 16],
      [440, 530],
      [32768, 32776],
    ],
  },
]

const fuzzDeclaredFormats = ['raw', 'qcow2', 'iso', 'vmdk', 'vhd', 'vhdx', 'vdi', 'ploop', 'aki']
function pickDeclaredFormat(random: () => number): string {
  return fuzzDeclaredFormats[randomInt(random, fuzzDeclaredFormats.length)] ?? 'raw'
}

const interestingValues = [0x00, 0xff, 0x7f, 0x80, 0x01]

/** Keeps the bytes the inspector can read (the head window and the tail) and drops the middle. */
function trimForFuzzing(data: Buffer): Buffer {
  const headEnd = Math.min(data.length, headLimit + 4096)
  if (data.length <= headEnd + 4096) return Buffer.from(data)
  return Buffer.concat([data.subarray(0, headEnd), data.subarray(data.length - 4096)])
}

function mutate(base: Buffer, hotRanges: Array<[number, number]>, random: () => number): Buffer {
  let data = Buffer.from(base)
  const mutations = 1 + randomInt(random, 8)

  for (let count = 0; count < mutations; count++) {
    const range = hotRanges[randomInt(random, hotRanges.length)]
    const offset =
      range !== undefined && random() < 0.8
        ? range[0] + randomInt(random, Math.max(1, range[1] - range[0]))
        : randomInt(random, data.length)
    if (offset + 8 > data.length) continue

    const choice = random()
    if (choice < 0.4) data[offset] = randomInt(random, 256)
    else if (choice < 0.6)
      data[offset] = interestingValues[randomInt(random, interestingValues.length)] ?? 0
    else if (choice < 0.8)
      data.writeUInt32LE(random() < 0.5 ? 0xffffffff : randomInt(random, 2 ** 32), offset)
    else data.writeBigUInt64BE(random() < 0.5 ? 0xffff_ffff_ffff_ffffn : 0n, offset)
  }

  if (random() < 0.15) data = data.subarray(0, randomInt(random, data.length + 1))
  return data
}

/** Feeds `data` in random chunk sizes and returns the verdict, or rethrows any other error. */
function inspectFuzzCase(data: Buffer, options: InspectorOptions, random: () => number): string {
  const inspector = new StreamInspector(options)
  try {
    let offset = 0
    while (offset < data.length) {
      const size = random() < 0.1 ? 1 + randomInt(random, 16) : 1 + randomInt(random, 300_000)
      inspector.push(data.subarray(offset, offset + size))
      offset += size
    }
    const inspection = inspector.finish()
    assert.ok(detectedFormats.includes(inspection.format))
    assert.ok(Number.isSafeInteger(inspection.virtualSize))
    assert.ok(inspection.virtualSize >= 0)
    assert.ok([null, 'gpt', 'mbr'].includes(inspection.partitionTable))
    return inspection.format
  } catch (error) {
    if (!(error instanceof ImageFormatError)) throw error
    assert.ok(imageFormatChecks.includes(error.check))
    return error.check
  }
}

describe('fuzzed input gives a verdict or ImageFormatError', () => {
  const casesPerTarget = 2500
  const timeBudgetMs = 3000

  for (const target of fuzzTargets) {
    it(`mutated ${target.fixture}`, () => {
      const random = createRandom(0x5eed + target.fixture.length)
      const base = trimForFuzzing(file(target.fixture))
      const hotRanges = target.hotRanges(base)
      const declaredFormat =
        fixtures.find((f) => f.name === target.fixture)?.declaredFormat ?? 'raw'
      const verdicts = new Map<string, number>()
      const started = Date.now()

      for (let index = 0; index < casesPerTarget && Date.now() - started < timeBudgetMs; index++) {
        const data = mutate(base, hotRanges, random)
        const options: InspectorOptions = {
          declaredFormat: random() < 0.6 ? declaredFormat : pickDeclaredFormat(random),
          allowQcow2AsRaw: random() < 0.3,
        }
        try {
          const verdict = inspectFuzzCase(data, options, random)
          verdicts.set(verdict, (verdicts.get(verdict) ?? 0) + 1)
        } catch (error) {
          throw new Error(`case ${index} of ${target.fixture} threw a non-ImageFormatError`, {
            cause: error,
          })
        }
      }
      if (process.env.FUZZ_DEBUG) console.error(target.fixture, Object.fromEntries(verdicts))
      assert.ok(verdicts.size > 1, `only one verdict: ${[...verdicts.keys()].join(', ')}`)
    })
  }

  it('random data behind each signature', () => {
    const random = createRandom(0xf00d)
    const signatures = [
      'QFI\xfb',
      'QED\0',
      'LUKS\xba\xbe',
      'KDMV',
      'vhdxfile',
      'conectix',
      '# Disk DescriptorFile',
      '',
    ]
    const started = Date.now()

    for (let index = 0; index < 3000 && Date.now() - started < 3000; index++) {
      const data = Buffer.alloc(randomInt(random, 40_000))
      for (let byte = 0; byte < data.length; byte++) data[byte] = randomInt(random, 256)
      const signature = signatures[randomInt(random, signatures.length)] ?? ''
      data.write(signature, 0, 'latin1')
      if (random() < 0.3 && data.length > 0x44) data.writeUInt32LE(0xbeda107f, 0x40)

      const options = { declaredFormat: pickDeclaredFormat(random) }
      try {
        inspectFuzzCase(data, options, random)
      } catch (error) {
        throw new Error(`random case ${index} threw a non-ImageFormatError`, { cause: error })
      }
    }
  })
})

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { guessDiskFormat, headBytesNeeded, tailBytesNeeded } from '../../web/src/lib/disk-format.js'

const run = promisify(execFile)

/** Reads the bytes the upload form reads: the head and the tail of the file. */
async function sniff(path: string) {
  const file = await open(path, 'r')
  try {
    const { size } = await file.stat()
    const head = Buffer.alloc(Math.min(size, headBytesNeeded))
    await file.read(head, 0, head.length, 0)
    const tailLength = Math.min(size, tailBytesNeeded)
    const tail = Buffer.alloc(tailLength)
    await file.read(tail, 0, tailLength, size - tailLength)
    return guessDiskFormat(new Uint8Array(head), new Uint8Array(tail))
  } finally {
    await file.close()
  }
}

describe('disk format guess from files qemu-img wrote', () => {
  let dir: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ui-sniff-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  const cases: { format: string; qemuFormat: string; options?: string; expected: string }[] = [
    { format: 'qcow2', qemuFormat: 'qcow2', expected: 'qcow2' },
    { format: 'vmdk', qemuFormat: 'vmdk', expected: 'vmdk' },
    { format: 'vhdx', qemuFormat: 'vhdx', expected: 'vhdx' },
    { format: 'vdi', qemuFormat: 'vdi', expected: 'vdi' },
    { format: 'dynamic vhd', qemuFormat: 'vpc', options: 'subformat=dynamic', expected: 'vhd' },
    { format: 'fixed vhd', qemuFormat: 'vpc', options: 'subformat=fixed', expected: 'vhd' },
    { format: 'raw', qemuFormat: 'raw', expected: 'raw' },
  ]
  for (const { format, qemuFormat, options, expected } of cases) {
    it(`detects ${format}`, async () => {
      const path = join(dir, `${format.replace(' ', '-')}.img`)
      const args = ['create', '-q', '-f', qemuFormat, ...(options ? ['-o', options] : [])]
      await run('qemu-img', [...args, path, '4M'])
      assert.equal((await sniff(path)).format, expected)
    })
  }

  it('detects an ISO made by xorriso', async (t) => {
    const tree = join(dir, 'iso-tree')
    await run('mkdir', ['-p', tree])
    await writeFile(join(tree, 'README'), 'hello\n')
    const path = join(dir, 'image.iso')
    try {
      await run('xorriso', ['-as', 'mkisofs', '-quiet', '-o', path, tree])
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        t.skip('xorriso is not installed (Debian package xorriso)')
        return
      }
      throw error
    }
    const guess = await sniff(path)
    assert.equal(guess.format, 'iso')
    assert.match(guess.reason, /CD001/)
  })
})

describe('disk format guess from bytes', () => {
  const bytes = (text: string, offset = 0, length = offset + text.length) => {
    const data = new Uint8Array(length)
    data.set(Buffer.from(text, 'latin1'), offset)
    return data
  }

  it('reads the qcow2 magic with its non-ASCII byte', () => {
    const guess = guessDiskFormat(bytes('QFI\xfb'), new Uint8Array())
    assert.equal(guess.format, 'qcow2')
  })

  it('does not take QFI without 0xfb for qcow2', () => {
    assert.equal(guessDiskFormat(bytes('QFI!'), new Uint8Array()).format, 'raw')
  })

  it('finds CD001 only at 0x8001', () => {
    assert.equal(guessDiskFormat(bytes('CD001', 0x8001), new Uint8Array()).format, 'iso')
    assert.equal(guessDiskFormat(bytes('CD001', 0x8000), new Uint8Array()).format, 'raw')
  })

  it('finds a VHD footer in the last 512 bytes', () => {
    const tail = bytes('conectix', 0, 512)
    assert.equal(guessDiskFormat(new Uint8Array(1024), tail).format, 'vhd')
  })

  it('finds a 511-byte VHD footer', () => {
    const tail = bytes('conectix', 1, 512)
    assert.equal(guessDiskFormat(new Uint8Array(1024), tail).format, 'vhd')
  })

  it('detects a VMDK descriptor file', () => {
    const head = bytes('# Disk DescriptorFile\nversion=1\n')
    assert.equal(guessDiskFormat(head, new Uint8Array()).format, 'vmdk')
  })

  it('takes an empty file for raw', () => {
    assert.equal(guessDiskFormat(new Uint8Array(), new Uint8Array()).format, 'raw')
  })
})

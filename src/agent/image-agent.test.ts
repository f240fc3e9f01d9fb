import assert from 'node:assert/strict'
import { createHash, randomUUID } from 'node:crypto'
import { execFile } from 'node:child_process'
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import pino from 'pino'
import type { ImageRecord } from '../cli/image-client.js'
import { AgentError } from './agent-error.js'
import { ImageAgent, type AgentConfig } from './image-agent.js'
import type { LibraryClient } from './library-client.js'
import { createVmDisk, deleteVmDisk } from './vm-disks.js'

const log = pino({ level: 'silent' })
const run = promisify(execFile)
let root: string

/** A library of raw images in memory, with the calls that the agent's LibraryClient makes. */
class FakeLibrary {
  readonly images = new Map<string, { record: ImageRecord; data: Buffer }>()
  downloads = 0

  add(name: string, size: number, fill: number): string {
    const id = randomUUID()
    const data = Buffer.alloc(size, fill)
    const record: ImageRecord = {
      id,
      name,
      status: 'active',
      size,
      disk_format: 'raw',
      container_format: 'bare',
      os_hash_algo: 'sha512',
      os_hash_value: createHash('sha512').update(data).digest('hex'),
      checksum: createHash('md5').update(data).digest('hex'),
      virtual_size: size,
      min_disk: 0,
    }
    this.images.set(id, { record, data })
    return id
  }

  async getImage(id: string): Promise<ImageRecord> {
    const image = this.images.get(id)
    if (image === undefined) throw new Error(`Image ${id} not found.`)
    return image.record
  }

  async download(id: string, offset: number) {
    this.downloads++
    const body = Readable.from([this.images.get(id)!.data.subarray(offset)])
    return { response: { status: 200, headers: {}, body }, host: 'https://library.test' }
  }

  async failOver(): Promise<boolean> {
    return false
  }

  close(): void {}
}

async function openAgent(name: string, library: FakeLibrary, limitBytes: number) {
  const config: AgentConfig = {
    cacheDir: join(root, name),
    limit: { bytes: limitBytes },
    precacheRate: Infinity,
    verifyIntervalMs: 86_400_000,
    holdMs: 0,
    maxAttempts: 1,
    retryDelayMs: 1,
    diskFormat: 'qcow2',
  }
  return ImageAgent.open(config, library as unknown as LibraryClient, log)
}

/** Registers a qcow2 overlay at `path` whose base is the agent's copy of `imageId`. */
function registerOverlay(agent: ImageAgent, path: string, imageId: string): Promise<void> {
  return agent.disks.add({
    path,
    imageId,
    format: 'qcow2',
    backingFile: agent.directory.dataPath(imageId),
    createdAt: Date.now(),
  })
}

async function expectCacheFull(promise: Promise<unknown>, pattern: RegExp) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof AgentError, String(error))
    assert.equal(error.code, 'CACHE_FULL')
    assert.match(error.message, pattern)
    return true
  })
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'image-library-agent-unit-'))
})

after(async () => {
  await rm(root, { recursive: true, force: true })
})

describe('ImageAgent eviction', () => {
  it('evicts nothing for an oversized image', async () => {
    const library = new FakeLibrary()
    const a = library.add('a', 1000, 0x41)
    const b = library.add('b', 1000, 0x42)
    const huge = library.add('huge', 3000, 0x43)
    const agent = await openAgent('too-big', library, 2500)
    await agent.fetch(a)
    await agent.fetch(b)

    await expectCacheFull(agent.fetch(huge), /larger than the whole cache/)
    assert.deepEqual(
      agent.directory
        .list()
        .map((entry) => entry.imageId)
        .sort(),
      [a, b].sort(),
    )
    assert.equal(agent.metrics.get('image_agent_evictions_total'), 0)
    await agent.close()
  })

  it('evicts nothing when held copies block', async () => {
    const library = new FakeLibrary()
    const pinned = library.add('pinned', 1000, 0x41)
    const spare = library.add('spare', 1000, 0x42)
    const large = library.add('large', 2000, 0x43)
    const agent = await openAgent('held', library, 2500)
    await agent.fetch(pinned)
    await agent.fetch(spare)
    const overlay = join(root, 'held-vm.qcow2')
    await writeFile(overlay, '')
    await registerOverlay(agent, overlay, pinned)

    await expectCacheFull(agent.fetch(large), /are held by VM disks/)
    assert.ok(agent.directory.get(spare) !== undefined, 'the spare copy was evicted for nothing')
    await agent.close()
  })

  it('keeps a base taken mid-eviction', async () => {
    const library = new FakeLibrary()
    const first = library.add('first', 1000, 0x41)
    const second = library.add('second', 1000, 0x42)
    const incoming = library.add('incoming', 2500, 0x43)
    const agent = await openAgent('race', library, 2500)
    await agent.fetch(first)
    await agent.fetch(second)

    // While the first victim is being removed, a disk create makes an overlay on the second.
    const remove = agent.directory.remove.bind(agent.directory)
    let overlayMade = false
    agent.directory.remove = async (imageId: string) => {
      if (!overlayMade) {
        overlayMade = true
        await registerOverlay(agent, join(root, 'race-vm.qcow2'), second)
      }
      return remove(imageId)
    }

    await expectCacheFull(agent.fetch(incoming), /held by VM disks/)
    assert.ok(overlayMade)
    assert.equal(agent.directory.get(first), undefined)
    assert.ok(agent.directory.get(second) !== undefined, 'the base of a new overlay was evicted')
    await agent.close()
  })
})

/** A FakeLibrary whose downloads send the first `sent` bytes, then wait for `finish()`. */
class StallingLibrary extends FakeLibrary {
  readonly sent: number
  readonly #bodies: PassThrough[] = []
  #corrupt = false

  constructor(sent: number) {
    super()
    this.sent = sent
  }

  /** Sends flipped bytes from now on, so the download fails its checksum. */
  corruptRest(): void {
    this.#corrupt = true
  }

  override async download(id: string, offset: number) {
    this.downloads++
    const body = new PassThrough()
    body.write(this.images.get(id)!.data.subarray(offset, offset + this.sent))
    this.#bodies.push(body)
    return { response: { status: 200, headers: {}, body }, host: 'https://library.test' }
  }

  finish(id: string): void {
    const rest = Buffer.from(this.images.get(id)!.data.subarray(this.sent))
    if (this.#corrupt) rest.fill(0xff)
    for (const body of this.#bodies.splice(0)) body.end(rest)
  }
}

function sample(text: string, name: string): number {
  const line = text.split('\n').find((entry) => entry.startsWith(`${name} `))
  assert.ok(line !== undefined, `metric ${name} missing from:\n${text}`)
  return Number(line.split(' ')[1])
}

async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5))
}

describe('ImageAgent metrics', () => {
  it('shows a download while it runs', async () => {
    const library = new StallingLibrary(500)
    const id = library.add('slow', 1000, 0x41)
    const agent = await openAgent('gauge', library, 10_000)
    const fetching = agent.fetch(id)
    await waitFor(() => library.downloads === 1)

    const during = await agent.renderMetrics()
    assert.equal(sample(during, 'image_agent_downloads_in_progress'), 1)
    library.finish(id)
    await fetching

    const afterwards = await agent.renderMetrics()
    assert.equal(sample(afterwards, 'image_agent_downloads_in_progress'), 0)
    assert.equal(sample(afterwards, 'image_agent_cached_images'), 1)
    assert.equal(sample(afterwards, 'image_agent_cache_used_bytes'), 1000)
    assert.equal(sample(afterwards, 'image_agent_cache_max_bytes'), 10_000)
    await agent.close()
  })

  it('counts bytes of a rejected download', async () => {
    const library = new StallingLibrary(500)
    const id = library.add('corrupt', 1000, 0x41)
    const agent = await openAgent('rejected-bytes', library, 10_000)
    const fetching = agent.fetch(id)
    await waitFor(() => library.downloads === 1)
    library.corruptRest()
    library.finish(id)

    await assert.rejects(fetching, (error: unknown) => {
      assert.ok(error instanceof AgentError, String(error))
      assert.equal(error.code, 'CHECKSUM_MISMATCH')
      return true
    })
    assert.equal(agent.metrics.get('image_agent_bytes_fetched_total'), 1000)
    assert.equal(agent.directory.get(id), undefined)
    await agent.close()
  })
})

describe('ImageAgent start-up', () => {
  it('keeps every copy after a corrupt registry', async () => {
    const library = new FakeLibrary()
    const base = library.add('base', 1000, 0x41)
    const other = library.add('other', 1000, 0x42)
    const first = await openAgent('corrupt-disks', library, 1500)
    await first.fetch(base)
    await first.close()
    const registry = join(first.directory.root, 'disks.json')
    await writeFile(registry, '{"disks":[{"path":"/var/lib/vms/vm1.qc')

    const second = await openAgent('corrupt-disks', library, 1500)
    const aside = (await readdir(first.directory.root)).filter((name) =>
      name.startsWith('disks.json.unreadable-'),
    )
    assert.equal(aside.length, 1)
    assert.equal(
      await readFile(join(first.directory.root, aside[0]!), 'utf8'),
      '{"disks":[{"path":"/var/lib/vms/vm1.qc',
    )
    await expectCacheFull(second.fetch(other), /held by VM disks/)
    assert.ok(second.directory.get(base) !== undefined, 'a possible base was evicted')
    assert.deepEqual([...(await second.heldImages()).pinned], [base])
    await second.close()

    await rm(join(first.directory.root, aside[0]!))
    const third = await openAgent('corrupt-disks', library, 1500)
    await third.fetch(other)
    assert.equal(third.directory.get(base), undefined)
    await third.close()
  })

  it('rejects registry entries of the wrong shape', async () => {
    const library = new FakeLibrary()
    const first = await openAgent('shapeless-disks', library, 1500)
    await first.close()
    await writeFile(join(first.directory.root, 'disks.json'), '{"disks":[{"path":7}]}\n')

    const second = await openAgent('shapeless-disks', library, 1500)
    assert.equal(second.disks.keepsEveryImage, true)
    assert.deepEqual(await second.disks.list(), [])
    await second.close()
  })

  it('starts with an unreadable usage file', async () => {
    const library = new FakeLibrary()
    const id = library.add('used', 1000, 0x41)
    const first = await openAgent('corrupt-usage', library, 5000)
    await first.fetch(id)
    await first.fetch(id)
    await first.close()

    for (const content of ['null', '[1]', '{"x":', `{"${id}":{"hits":"many"}}`]) {
      await writeFile(join(first.directory.root, 'usage.json'), content)
      const again = await openAgent('corrupt-usage', library, 5000)
      assert.equal(again.directory.get(id)?.hits, 0, content)
      assert.equal(again.disks.keepsEveryImage, false, content)
      await again.close()
    }
  })
})

describe('ImageAgent image ids', () => {
  it('rejects an id that is a path', async () => {
    const library = new FakeLibrary()
    const id = library.add('escape', 1000, 0x41)
    const image = library.images.get(id)!
    const hostile = { record: { ...image.record, id: '../../escaped' }, data: image.data }
    library.images.set(id, hostile)
    library.images.set('../../escaped', hostile)
    const agent = await openAgent('hostile-id', library, 5000)

    await assert.rejects(agent.fetch(id), (error: unknown) => {
      assert.ok(error instanceof AgentError, String(error))
      assert.equal(error.code, 'IMAGE_FORMAT_INVALID')
      assert.match(error.message, /not a UUID/)
      return true
    })
    assert.equal(library.downloads, 0)
    assert.ok(!(await readdir(root)).includes('escaped'), 'a file was written outside the cache')
    await agent.close()
  })
})

describe('ImageAgent disk space', () => {
  it('counts other downloads against free space', async () => {
    const library = new StallingLibrary(100)
    const first = library.add('first', 1000, 0x41)
    const second = library.add('second', 1000, 0x42)
    const agent = await openAgent('free-space', library, 10_000)
    agent.freeDiskBytes = async () => 1500
    const fetching = agent.fetch(first)
    await waitFor(() => library.downloads === 1)

    await expectCacheFull(agent.fetch(second), /other downloads need 900 B/)
    library.finish(first)
    await fetching
    assert.equal(library.downloads, 1)
    await agent.close()
  })

  it(
    'stops and resumes on a full file system',
    { skip: process.getuid?.() !== 0 && 'mounting a small tmpfs needs root' },
    async () => {
      const mountPoint = join(root, 'full-fs')
      await mkdir(mountPoint)
      await run('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mountPoint])
      try {
        const library = new FakeLibrary()
        const id = library.add('big', 256 * 1024, 0x41)
        const agent = await openAgent('full-fs/cache', library, 10_000_000)
        // The file system fills up after the check, as when other programs write to it.
        agent.freeDiskBytes = async () => 10_000_000

        await expectCacheFull(agent.fetch(id), /ran out of space/)
        assert.equal(library.downloads, 1)
        assert.equal(agent.directory.get(id), undefined)

        await run('mount', ['-o', 'remount,size=1m', mountPoint])
        const fetched = await agent.fetch(id)
        const copy = await readFile(fetched.path)
        assert.equal(copy.length, 256 * 1024)
        assert.ok(copy.equals(library.images.get(id)!.data), 'the copy differs from the image')
        await agent.close()
      } finally {
        await run('umount', [mountPoint])
      }
    },
  )
})

describe('ImageAgent after a crash in disk create', () => {
  it('removes the temporary disk file', async () => {
    const library = new FakeLibrary()
    const id = library.add('base', 1000, 0x41)
    const first = await openAgent('crashed-create', library, 5000)
    await first.fetch(id)
    await first.close()
    const vmDir = join(root, 'crashed-create-vms')
    await mkdir(vmDir)
    const temporary = join(vmDir, '.vm1.qcow2.0123456789ab.tmp')
    await writeFile(temporary, 'half a disk')
    const disk = {
      path: join(vmDir, 'vm1.qcow2'),
      imageId: id,
      format: 'qcow2',
      backingFile: first.directory.dataPath(id),
      createdAt: Date.now(),
      temporaryPath: temporary,
    }
    await writeFile(join(first.directory.root, 'disks.json'), JSON.stringify({ disks: [disk] }))

    const second = await openAgent('crashed-create', library, 5000)
    assert.deepEqual(await readdir(vmDir), [])
    assert.equal(second.disks.keepsEveryImage, false)
    const stored = JSON.parse(await readFile(join(first.directory.root, 'disks.json'), 'utf8'))
    assert.equal(stored.disks[0].temporaryPath, undefined)
    assert.deepEqual(await second.disks.list(), [])
    await second.close()
  })
})

describe('ImageAgent concurrent downloads', () => {
  it('run without a listener warning', async () => {
    const library = new FakeLibrary()
    const ids = Array.from({ length: 20 }, (_, index) => library.add(`image-${index}`, 100, index))
    const agent = await openAgent('many-downloads', library, 100_000)
    const warnings: Error[] = []
    const onWarning = (warning: Error) => warnings.push(warning)
    process.on('warning', onWarning)
    try {
      const results = await Promise.all(ids.map((id) => agent.fetch(id)))
      assert.deepEqual(new Set(results.map((result) => result.result)), new Set(['miss']))
      await new Promise((resolve) => setImmediate(resolve))
    } finally {
      process.off('warning', onWarning)
    }
    assert.deepEqual(
      warnings.map((warning) => warning.name),
      [],
    )
    await agent.close()
  })
})

describe('ImageAgent usage file', () => {
  it('is written while the agent runs', async () => {
    const library = new FakeLibrary()
    const id = library.add('popular', 100, 0x41)
    const config: AgentConfig = {
      cacheDir: join(root, 'usage-saves'),
      limit: { bytes: 10_000 },
      precacheRate: Infinity,
      verifyIntervalMs: 86_400_000,
      holdMs: 0,
      maxAttempts: 1,
      retryDelayMs: 1,
      diskFormat: 'qcow2',
      usageSaveIntervalMs: 20,
    }
    const agent = await ImageAgent.open(config, library as unknown as LibraryClient, log)
    await agent.fetch(id)
    await agent.fetch(id)
    await agent.fetch(id)
    await new Promise((resolve) => setTimeout(resolve, 100))

    // Read as a restart after a crash would find it, before any clean stop.
    const usage = JSON.parse(await readFile(join(config.cacheDir, 'usage.json'), 'utf8'))
    assert.equal(usage[id].hits, 2)
    await agent.close()
  })
})

describe('ImageAgent with a damaged copy', () => {
  it('keeps a base with unreadable metadata', async () => {
    const library = new FakeLibrary()
    const base = library.add('base', 1000, 0x41)
    const loose = library.add('loose', 1000, 0x42)
    const first = await openAgent('damaged-base', library, 5000)
    await first.fetch(base)
    await first.fetch(loose)
    const overlay = join(root, 'damaged-base-vm.qcow2')
    await writeFile(overlay, '')
    await registerOverlay(first, overlay, base)
    await first.disks.created(overlay)
    await first.close()
    for (const id of [base, loose]) {
      await writeFile(join(first.directory.imagesDir, id, 'meta.json'), '{"imageId":')
    }

    const second = await openAgent('damaged-base', library, 5000)
    assert.equal(second.directory.get(base), undefined)
    assert.equal(
      (await readFile(second.directory.dataPath(base))).length,
      1000,
      'the base of a VM disk was deleted',
    )
    assert.deepEqual(await readdir(second.directory.imagesDir), [base])

    const fetched = await second.fetch(base)
    assert.equal(fetched.result, 'miss')
    assert.ok((await readFile(fetched.path)).equals(library.images.get(base)!.data))
    await second.close()
  })
})

describe('ImageAgent pre-cache rate', () => {
  it('limits concurrent pre-caches together', async () => {
    const library = new FakeLibrary()
    const first = library.add('first', 32 * 1024, 0x41)
    const second = library.add('second', 32 * 1024, 0x42)
    const config: AgentConfig = {
      cacheDir: join(root, 'shared-rate'),
      limit: { bytes: 1024 * 1024 },
      precacheRate: 16 * 1024,
      verifyIntervalMs: 86_400_000,
      holdMs: 0,
      maxAttempts: 1,
      retryDelayMs: 1,
      diskFormat: 'qcow2',
    }
    const agent = await ImageAgent.open(config, library as unknown as LibraryClient, log)
    const started = performance.now()
    await Promise.all([
      agent.fetch(first, { background: true }),
      agent.fetch(second, { background: true }),
    ])

    // 64 KiB at 16 KiB/s in all: the second chunk waits for the 16 KiB the first one lacked and
    // one second of tokens, so about 3 s. Each at its own 16 KiB/s would take about 1 s.
    const elapsed = performance.now() - started
    assert.ok(elapsed >= 2500, `took ${elapsed} ms`)
    await agent.close()
  })
})

describe('ImageAgent disk delete during create', () => {
  it('keeps the entry of a disk being made', async () => {
    const library = new FakeLibrary()
    const id = library.add('base', 1000, 0x41)
    const agent = await openAgent('delete-while-creating', library, 5000)
    await agent.fetch(id)
    const path = join(root, 'delete-while-creating-vm.qcow2')
    // The state while qemu-img builds the disk: the path claimed and registered, no file yet.
    assert.ok(agent.disks.claim(path))
    await registerOverlay(agent, path, id)

    await assert.rejects(deleteVmDisk(agent, path, log), (error: unknown) => {
      assert.ok(error instanceof AgentError, String(error))
      assert.equal(error.code, 'DISK_BUSY')
      return true
    })
    assert.ok(agent.disks.get(path) !== undefined, 'the entry of a disk being made was dropped')
    assert.equal(agent.disks.hasOverlayOn(id), true)
    await agent.disks.created(path)
    agent.disks.release(path)
    await agent.close()
  })
})

describe('ImageAgent disk delete of a replaced file', () => {
  it('keeps a file put in place of the disk', async () => {
    const library = new FakeLibrary()
    const id = library.add('base', 1024 * 1024, 0x42)
    const agent = await openAgent('delete-replaced', library, 4 * 1024 * 1024)
    const disk = join(root, 'delete-replaced-vm.qcow2')
    await createVmDisk(
      agent,
      { image: id, size: 2 * 1024 * 1024, path: disk, format: 'qcow2' },
      log,
    )
    await rm(disk)
    await writeFile(disk, 'a file of the user, not the disk')

    await assert.rejects(deleteVmDisk(agent, disk, log), (error: unknown) => {
      assert.ok(error instanceof AgentError, String(error))
      assert.equal(error.code, 'DISK_REPLACED')
      return true
    })
    assert.equal(await readFile(disk, 'utf8'), 'a file of the user, not the disk')
    await agent.close()
  })

  it('keeps a link put in place of the disk', async () => {
    const library = new FakeLibrary()
    const id = library.add('base', 1024 * 1024, 0x43)
    const agent = await openAgent('delete-linked', library, 4 * 1024 * 1024)
    const disk = join(root, 'delete-linked-vm.qcow2')
    await createVmDisk(agent, { image: id, size: 2 * 1024 * 1024, path: disk, format: 'raw' }, log)
    await rm(disk)
    await symlink(join(root, 'missing-target'), disk)

    await assert.rejects(deleteVmDisk(agent, disk, log), /another file than the disk/)
    assert.ok((await lstat(disk)).isSymbolicLink(), 'the link was removed')
    await agent.close()
  })

  it('deletes the disk it made, after a restart too', async () => {
    const library = new FakeLibrary()
    const id = library.add('base', 1024 * 1024, 0x44)
    const first = await openAgent('delete-own', library, 4 * 1024 * 1024)
    const disk = join(root, 'delete-own-vm.qcow2')
    await createVmDisk(
      first,
      { image: id, size: 2 * 1024 * 1024, path: disk, format: 'qcow2' },
      log,
    )
    await first.close()

    const second = await openAgent('delete-own', library, 4 * 1024 * 1024)
    await deleteVmDisk(second, disk, log)
    await assert.rejects(lstat(disk), /ENOENT/)
    assert.equal(second.disks.get(disk), undefined)
    await second.close()
  })
})

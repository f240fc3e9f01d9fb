import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import pino from 'pino'
import { CacheDirectory } from './cache-directory.js'

const log = pino({ level: 'silent' })
let root: string

function metaFor(imageId: string, size: number) {
  return {
    imageId,
    size,
    osHashAlgo: 'sha512',
    osHashValue: 'ab'.repeat(64),
    checksum: null,
    diskFormat: 'raw',
    virtualSize: size,
    minDisk: 0,
    fetchedAt: 1,
    verifiedAt: 1,
  }
}

async function publishBytes(directory: CacheDirectory, imageId: string, data: string) {
  await directory.startPartial({
    imageId,
    size: data.length,
    osHashAlgo: 'sha512',
    osHashValue: 'ab'.repeat(64),
  })
  await writeFile(directory.partialPath(imageId), data)
  return directory.publish(metaFor(imageId, data.length))
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'image-library-cache-dir-'))
})

after(async () => {
  await rm(root, { recursive: true, force: true })
})

describe('CacheDirectory', () => {
  it('publishes a partial file as a read-only copy and forgets the partial', async () => {
    const directory = await CacheDirectory.open(join(root, 'publish'), log)
    const id = randomUUID()
    const entry = await publishBytes(directory, id, 'disk data')

    assert.equal(entry.size, 9)
    assert.equal(await readFile(directory.dataPath(id), 'utf8'), 'disk data')
    assert.deepEqual(await readdir(join(directory.root, 'partial')), [])
    assert.equal(directory.usedBytes(), 9)
  })

  it('lets other users read a published copy', async () => {
    const directory = await CacheDirectory.open(join(root, 'modes'), log)
    const id = randomUUID()
    await publishBytes(directory, id, 'disk data')

    assert.equal((await stat(join(directory.imagesDir, id))).mode & 0o777, 0o755)
    assert.equal((await stat(directory.dataPath(id))).mode & 0o777, 0o444)
  })

  it('reloads copies and their hit counts after a restart', async () => {
    const dir = join(root, 'reload')
    const first = await CacheDirectory.open(dir, log)
    const id = randomUUID()
    await publishBytes(first, id, 'abc')
    first.recordUse(id, false)
    first.recordUse(id, true)
    first.recordUse(id, true)
    await first.saveUsage()

    const second = await CacheDirectory.open(dir, log)
    assert.equal(second.get(id)?.hits, 2)
    assert.equal(second.get(id)?.size, 3)
  })

  it('drops an entry whose data does not match its record at start-up', async () => {
    const dir = join(root, 'broken')
    const first = await CacheDirectory.open(dir, log)
    const id = randomUUID()
    await publishBytes(first, id, 'abc')
    await rm(first.dataPath(id), { force: true })
    await writeFile(first.dataPath(id), 'abcdef')

    const second = await CacheDirectory.open(dir, log)
    assert.equal(second.get(id), undefined)
    assert.deepEqual(await readdir(second.imagesDir), [])
  })

  it('keeps a resumable partial download and removes stray files', async () => {
    const dir = join(root, 'partials')
    await mkdir(join(dir, 'partial'), { recursive: true })
    const id = randomUUID()
    await writeFile(join(dir, 'partial', id), 'half')
    await writeFile(join(dir, 'partial', `${id}.json`), '{}')
    await writeFile(join(dir, 'partial', 'stray.tmp'), 'x')
    await writeFile(join(dir, 'partial', randomUUID()), 'no record')

    await CacheDirectory.open(dir, log)
    assert.deepEqual((await readdir(join(dir, 'partial'))).sort(), [id, `${id}.json`].sort())
  })
})

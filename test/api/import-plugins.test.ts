import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import { after, before, describe, it } from 'node:test'
import { imageClient, issueToken } from '../helpers/client.js'
import { createTenant, startServer, type RunningServer } from '../helpers/server.js'
import {
  createImage,
  createIso,
  createQcow2WithReference,
  createRaw,
  hexDigest,
  makeWorkDir,
  mib,
  waitForImage,
  type ImageClient,
  type WireImage,
} from './fixtures.js'

const run = promisify(execFile)

let workDir: string
let server: RunningServer
let adminApi: ImageClient
let memberApi: ImageClient
/** A 4 MiB raw disk with random blocks, and the same disk as qcow2. */
let raw: Buffer
let qcow2: Buffer

const config = `
[import]
plugins = ["decompress", "convert", "inject_properties"]
convert_format = "raw"
decompress_max_ratio = 50
inject_properties = { hw_machine_type = "q35", owner_team = "images" }
`

before(async () => {
  workDir = await makeWorkDir()
  const rawImage = await createRaw(workDir, 'disk.raw')
  raw = rawImage.data
  const qcow2Path = join(workDir, 'disk.qcow2')
  await run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', rawImage.path, qcow2Path])
  qcow2 = await readFile(qcow2Path)

  server = await startServer({ configToml: config })
  adminApi = imageClient(server, await issueToken(server))
  memberApi = imageClient(server, await issueToken(server, await createTenant(server, 'plug')))
})

after(async () => {
  await server?.stop()
  await rm(workDir, { recursive: true, force: true })
})

/** Creates an image, stages `data` and imports it with glance-direct; returns the result. */
async function importData(
  api: ImageClient,
  data: Buffer,
  diskFormat: string,
): Promise<{ image: WireImage; task: WireImage }> {
  const created = await createImage(api, { disk_format: diskFormat, container_format: 'bare' })
  const staged = await api('PUT', `/v2/images/${created.id}/stage`, {
    headers: { 'content-type': 'application/octet-stream' },
    body: data,
  })
  assert.equal(staged.status, 204, staged.text())
  const started = await api('POST', `/v2/images/${created.id}/import`, {
    body: { method: { name: 'glance-direct' } },
  })
  assert.equal(started.status, 202, started.text())
  const image = await waitForImage(
    api,
    created.id,
    (current) => current.status === 'active' || current.os_glance_failed_import === 'file',
    30_000,
  )
  const task = (await api('GET', `/v2/images/${created.id}/tasks`)).json().tasks.at(-1)
  return { image, task }
}

async function workFiles(): Promise<string[]> {
  return readdir(join(server.dataDir, 'work'))
}

describe('import plugins', () => {
  it('converts a qcow2 import to raw', async () => {
    const { image } = await importData(memberApi, qcow2, 'qcow2')
    assert.equal(image.status, 'active')
    assert.equal(image.disk_format, 'raw')
    assert.equal(image.size, raw.length)
    assert.equal(image.virtual_size, raw.length)
    assert.equal(image.checksum, hexDigest('md5', raw))
    assert.equal(image.os_hash_value, hexDigest('sha512', raw))
    const download = await memberApi('GET', `/v2/images/${image.id}/file`)
    assert.equal(hexDigest('sha256', download.body), hexDigest('sha256', raw))
    assert.deepEqual(await workFiles(), [])
  })

  it('decompresses a gzipped qcow2, then converts it', async () => {
    const { image } = await importData(memberApi, gzipSync(qcow2), 'qcow2')
    assert.equal(image.status, 'active')
    assert.equal(image.disk_format, 'raw')
    assert.equal(image.checksum, hexDigest('md5', raw))
  })

  it('stops a decompression bomb at the ratio limit', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * mib))
    const { image, task } = await importData(memberApi, bomb, 'raw')
    assert.equal(image.status, 'queued')
    assert.equal(task.status, 'failure')
    assert.match(task.message, /ratio|times/i)
    assert.deepEqual(await workFiles(), [])
  })

  it('rejects a qcow2 with a backing file before qemu-img opens it', async () => {
    const hostile = await createQcow2WithReference(workDir, 'backed.qcow2', 'backing-file')
    const { image, task } = await importData(memberApi, hostile.data, 'qcow2')
    assert.equal(image.status, 'queued')
    assert.match(task.message, /backing file/)
    assert.doesNotMatch(task.message, new RegExp(workDir))
    assert.deepEqual(await workFiles(), [])
  })

  it('keeps an ISO as it is', async () => {
    const iso = await createIso(workDir, 'boot.iso')
    const { image } = await importData(memberApi, iso.data, 'iso')
    assert.equal(image.status, 'active')
    assert.equal(image.disk_format, 'iso')
    assert.equal(image.checksum, hexDigest('md5', iso.data))
  })

  it('injects the operator properties into member imports only', async () => {
    const { image } = await importData(memberApi, raw, 'raw')
    assert.equal(image.hw_machine_type, 'q35')
    assert.equal(image.owner_team, 'images')

    const byAdmin = await importData(adminApi, raw, 'raw')
    assert.equal(byAdmin.image.status, 'active')
    assert.equal(byAdmin.image.hw_machine_type, undefined)
  })

  it('leaves plain uploads alone', async () => {
    const created = await createImage(memberApi, { disk_format: 'qcow2', container_format: 'bare' })
    const upload = await memberApi('PUT', `/v2/images/${created.id}/file`, {
      headers: { 'content-type': 'application/octet-stream' },
      body: qcow2,
    })
    assert.equal(upload.status, 204, upload.text())
    const image = (await memberApi('GET', `/v2/images/${created.id}`)).json()
    assert.equal(image.disk_format, 'qcow2')
    assert.equal(image.checksum, hexDigest('md5', qcow2))
  })
})

import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { imageClient, issueToken } from '../helpers/client.js'
import { startServer, type RunningServer } from '../helpers/server.js'
import {
  createImage,
  getImage,
  hexDigest,
  sleep,
  storeEntries,
  type ImageClient,
  type WireImage,
} from './fixtures.js'

let server: RunningServer
let api: ImageClient

before(async () => {
  server = await startServer()
  api = imageClient(server, await issueToken(server))
})

after(async () => {
  await server?.stop()
})

function stage(id: string, data: Buffer) {
  return api('PUT', `/v2/images/${id}/stage`, {
    headers: { 'content-type': 'application/octet-stream' },
    body: data,
  })
}

function startImport(id: string, method = 'glance-direct') {
  return api('POST', `/v2/images/${id}/import`, { body: { method: { name: method } } })
}

/** Polls until the image leaves `importing`, for at most 10 s. */
async function waitForImport(id: string): Promise<WireImage> {
  for (let i = 0; i < 100; i++) {
    const image = await getImage(api, id)
    if (image.status !== 'importing') return image
    await sleep(100)
  }
  throw new Error(`image ${id} is still importing after 10 s`)
}

async function stagingEntries(): Promise<string[]> {
  return (await readdir(join(server.dataDir, 'staging'))).filter((name) => name !== '.incomplete')
}

describe('glance-direct import', () => {
  it('is advertised', async () => {
    const methods = (await api('GET', '/v2/info/import')).json()['import-methods'].value
    assert.deepEqual(methods, ['glance-direct', 'web-download', 'copy-image'])
    const created = await api('POST', '/v2/images', { body: { name: 'advertised' } })
    assert.equal(
      created.headers['openstack-image-import-methods'],
      'glance-direct,web-download,copy-image',
    )
  })

  it('stages data, imports it and records the task', async () => {
    const data = randomBytes(256 * 1024)
    const image = await createImage(api, { disk_format: 'raw', container_format: 'bare' })
    const staged = await stage(image.id, data)
    assert.equal(staged.status, 204, staged.text())
    assert.equal((await getImage(api, image.id)).status, 'uploading')

    const started = await startImport(image.id)
    assert.equal(started.status, 202, started.text())
    const active = await waitForImport(image.id)
    assert.equal(active.status, 'active')
    assert.equal(active.size, data.length)
    assert.equal(active.checksum, hexDigest('md5', data))
    assert.equal(active.os_hash_value, hexDigest('sha512', data))

    const download = await api('GET', `/v2/images/${image.id}/file`)
    assert.equal(hexDigest('sha256', download.body), hexDigest('sha256', data))
    assert.deepEqual(await stagingEntries(), [])

    const tasks = (await api('GET', `/v2/images/${image.id}/tasks`)).json().tasks
    assert.equal(tasks.length, 1)
    assert.equal(tasks[0].status, 'success')
    assert.equal(tasks[0].request_id, started.headers['x-openstack-request-id'])
    assert.equal(tasks[0].input.import_req.method.name, 'glance-direct')
  })

  it('rejects an import without staged data with 409', async () => {
    const image = await createImage(api, { disk_format: 'raw', container_format: 'bare' })
    assert.equal((await startImport(image.id)).status, 409)
    assert.equal((await getImage(api, image.id)).status, 'queued')
  })

  it('rejects an unknown import method with 400', async () => {
    const image = await createImage(api, { disk_format: 'raw', container_format: 'bare' })
    assert.equal((await stage(image.id, randomBytes(4096))).status, 204)
    const response = await startImport(image.id, 'ftp-download')
    assert.equal(response.status, 400)
    assert.match(response.json().message, /ftp-download is not offered; methods offered: glance-/)
    assert.equal((await getImage(api, image.id)).status, 'uploading')
  })

  it('rejects staging twice with 409', async () => {
    const image = await createImage(api, { disk_format: 'raw', container_format: 'bare' })
    assert.equal((await stage(image.id, randomBytes(4096))).status, 204)
    assert.equal((await stage(image.id, randomBytes(4096))).status, 409)
  })

  it('leaves a failed import queued, with the failure in its task', async () => {
    const image = await createImage(api, { disk_format: 'qcow2', container_format: 'bare' })
    assert.equal((await stage(image.id, randomBytes(64 * 1024))).status, 204)
    assert.equal((await startImport(image.id)).status, 202)

    const failed = await waitForImport(image.id)
    assert.equal(failed.status, 'queued')
    assert.equal(failed.checksum, null)
    const tasks = (await api('GET', `/v2/images/${image.id}/tasks`)).json().tasks
    assert.equal(tasks[0].status, 'failure')
    assert.match(tasks[0].message, /disk_format is qcow2/)
    assert.ok(!(await stagingEntries()).includes(image.id), 'staged data left behind')
    assert.ok(!(await storeEntries(server.dataDir)).entries.includes(image.id), 'stored data left')
  })
})

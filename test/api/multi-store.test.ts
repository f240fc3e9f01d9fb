import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { imageClient, issueToken } from '../helpers/client.js'
import { createTenant, startServer, type RunningServer } from '../helpers/server.js'
import {
  createActiveImage,
  createImage,
  getImage,
  hexDigest,
  uploadData,
  waitForImage,
  type ImageClient,
  type WireImage,
} from './fixtures.js'

let server: RunningServer
let adminToken: string
let adminApi: ImageClient
let memberToken: string
let memberApi: ImageClient

/** Three file stores: `fast` is the default, `slow` is read first, `spare` is for breaking. */
const config = `
[store]
default = "fast"
[stores.fast]
type = "file"
directory = "fast"
description = "Fast disks"
[stores.slow]
type = "file"
directory = "slow"
weight = 10
[stores.spare]
type = "file"
directory = "spare"
`

before(async () => {
  server = await startServer({ configToml: config })
  adminToken = await issueToken(server)
  adminApi = imageClient(server, adminToken)
  const tenant = await createTenant(server, 'store-tenant')
  memberToken = await issueToken(server, tenant)
  memberApi = imageClient(server, memberToken)
})

after(async () => {
  await server?.stop()
})

async function filesIn(store: string): Promise<string[]> {
  return (await readdir(join(server.dataDir, store))).filter((name) => name !== '.incomplete')
}

function startImport(client: ImageClient, id: string, body: Record<string, unknown>) {
  return client('POST', `/v2/images/${id}/import`, { body })
}

async function waitForImportEnd(client: ImageClient, id: string): Promise<WireImage> {
  return waitForImage(
    client,
    id,
    (image) =>
      image.os_glance_importing_to_stores === '' &&
      image.os_glance_import_task === undefined &&
      image.status !== 'importing',
  )
}

/** Replaces a store's directory with a file, so that every write to it fails. */
async function breakStore(store: string): Promise<() => Promise<void>> {
  const directory = join(server.dataDir, store)
  await rm(directory, { recursive: true, force: true })
  await writeFile(directory, 'not a directory')
  return async () => {
    await rm(directory, { force: true })
    await mkdir(join(directory, '.incomplete'), { recursive: true })
  }
}

describe('multi-store discovery', () => {
  it('lists every store and marks the default', async () => {
    const response = await memberApi('GET', '/v2/info/stores')
    assert.equal(response.status, 200, response.text())
    assert.deepEqual(response.json().stores, [
      { id: 'fast', description: 'Fast disks', default: true },
      { id: 'slow', description: 'Image data in slow' },
      { id: 'spare', description: 'Image data in spare' },
    ])
  })

  it('details stores with type and weight for admins', async () => {
    const detail = (await adminApi('GET', '/v2/info/stores/detail')).json().stores
    assert.deepEqual(
      detail.map((s: WireImage) => [s.id, s.type, s.weight, s.default]),
      [
        ['fast', 'file', 0, true],
        ['slow', 'file', 10, false],
        ['spare', 'file', 0, false],
      ],
    )
  })

  it('names the stores on image create', async () => {
    const created = await memberApi('POST', '/v2/images', { body: { name: 'ids' } })
    assert.equal(created.headers['openstack-image-store-ids'], 'fast,slow,spare')
  })
})

describe('upload to a chosen store', () => {
  it('writes to the default store without a header', async () => {
    const image = await createActiveImage(server, memberToken, randomBytes(4096))
    assert.equal(image.stores, 'fast')
    assert.ok((await filesIn('fast')).includes(image.id))
  })

  it('writes to the store named by X-Image-Meta-Store', async () => {
    const data = randomBytes(8192)
    const image = await createImage(memberApi, { disk_format: 'raw', container_format: 'bare' })
    const upload = await uploadData(server, memberToken, image.id, data, {
      'x-image-meta-store': 'slow',
    })
    assert.equal(upload.status, 204, upload.text())
    assert.equal((await getImage(memberApi, image.id)).stores, 'slow')
    assert.deepEqual(
      [(await filesIn('slow')).includes(image.id), (await filesIn('fast')).includes(image.id)],
      [true, false],
    )
  })

  it('refuses an unknown store with 400 and keeps the image queued', async () => {
    const image = await createImage(memberApi, { disk_format: 'raw', container_format: 'bare' })
    const upload = await uploadData(server, memberToken, image.id, randomBytes(100), {
      'x-image-meta-store': 'nowhere',
    })
    assert.equal(upload.status, 400, upload.text())
    assert.match(upload.text(), /Store nowhere .*choose one of fast, slow, spare/)
    assert.equal((await getImage(memberApi, image.id)).status, 'queued')
  })
})

describe('glance-direct import to several stores', () => {
  async function stagedImage(data: Buffer) {
    const image = await createImage(memberApi, { disk_format: 'raw', container_format: 'bare' })
    const staged = await memberApi('PUT', `/v2/images/${image.id}/stage`, {
      headers: { 'content-type': 'application/octet-stream' },
      body: data,
    })
    assert.equal(staged.status, 204, staged.text())
    return image
  }

  it('imports to every store with all_stores', async () => {
    const data = randomBytes(64 * 1024)
    const image = await stagedImage(data)
    const started = await startImport(memberApi, image.id, {
      method: { name: 'glance-direct' },
      all_stores: true,
    })
    assert.equal(started.status, 202, started.text())
    const done = await waitForImportEnd(memberApi, image.id)
    assert.equal(done.status, 'active')
    assert.equal(done.stores, 'fast,slow,spare')
    assert.equal(done.os_glance_failed_import, '')
    for (const store of ['fast', 'slow', 'spare']) {
      assert.ok((await filesIn(store)).includes(image.id), `no copy in ${store}`)
    }
  })

  it('imports to the listed stores only', async () => {
    const image = await stagedImage(randomBytes(1000))
    await startImport(memberApi, image.id, {
      method: { name: 'glance-direct' },
      stores: ['slow', 'spare'],
    })
    const done = await waitForImportEnd(memberApi, image.id)
    assert.equal(done.stores, 'slow,spare')
    assert.equal((await filesIn('fast')).includes(image.id), false)
  })

  it('refuses an unknown store before it starts', async () => {
    const image = await stagedImage(randomBytes(1000))
    const started = await startImport(memberApi, image.id, {
      method: { name: 'glance-direct' },
      stores: ['fast', 'nowhere'],
    })
    assert.equal(started.status, 400, started.text())
    assert.equal((await getImage(memberApi, image.id)).status, 'uploading')
  })

  it('keeps the image when a store fails and all_stores_must_succeed is false', async () => {
    const image = await stagedImage(randomBytes(2000))
    const repair = await breakStore('spare')
    try {
      await startImport(memberApi, image.id, {
        method: { name: 'glance-direct' },
        stores: ['fast', 'spare'],
        all_stores_must_succeed: false,
      })
      const done = await waitForImportEnd(memberApi, image.id)
      assert.equal(done.status, 'active')
      assert.equal(done.stores, 'fast')
      assert.equal(done.os_glance_failed_import, 'spare')
    } finally {
      await repair()
    }
  })

  it('reverts the image to queued when a store fails and all must succeed', async () => {
    const image = await stagedImage(randomBytes(2000))
    const repair = await breakStore('spare')
    try {
      await startImport(memberApi, image.id, {
        method: { name: 'glance-direct' },
        stores: ['fast', 'spare'],
      })
      const done = await waitForImportEnd(memberApi, image.id)
      assert.equal(done.status, 'queued')
      assert.equal(done.stores, undefined)
      assert.equal(done.os_glance_failed_import, 'spare')
      assert.equal((await filesIn('fast')).includes(image.id), false)
      const tasks = (await memberApi('GET', `/v2/images/${image.id}/tasks`)).json().tasks
      assert.equal(tasks.at(-1).status, 'failure')
    } finally {
      await repair()
    }
  })
})

describe('copy-image', () => {
  it('copies an active image to more stores and serves every copy', async () => {
    const data = randomBytes(128 * 1024)
    const image = await createActiveImage(server, memberToken, data)
    const started = await startImport(adminApi, image.id, {
      method: { name: 'copy-image' },
      stores: ['slow'],
    })
    assert.equal(started.status, 202, started.text())
    const done = await waitForImportEnd(memberApi, image.id)
    assert.equal(done.status, 'active')
    assert.equal(done.stores, 'fast,slow')
    assert.equal(done.checksum, image.checksum)

    const tasks = (await adminApi('GET', `/v2/images/${image.id}/tasks`)).json().tasks
    assert.equal(tasks.length, 1)
    assert.equal(tasks[0].input.import_req.method.name, 'copy-image')
    assert.equal(tasks[0].status, 'success')
  })

  it('copies to every store missing the image with all_stores', async () => {
    const image = await createActiveImage(server, memberToken, randomBytes(5000))
    await startImport(adminApi, image.id, {
      method: { name: 'copy-image' },
      all_stores: true,
      all_stores_must_succeed: false,
    })
    const done = await waitForImportEnd(memberApi, image.id)
    assert.equal(done.stores, 'fast,slow,spare')
  })

  it('is for admins only', async () => {
    const image = await createActiveImage(server, memberToken, randomBytes(100))
    const started = await startImport(memberApi, image.id, {
      method: { name: 'copy-image' },
      stores: ['slow'],
    })
    assert.equal(started.status, 403, started.text())
  })

  it('refuses a store that already has the image, and a queued image', async () => {
    const image = await createActiveImage(server, memberToken, randomBytes(100))
    const again = await startImport(adminApi, image.id, {
      method: { name: 'copy-image' },
      stores: ['fast'],
    })
    assert.equal(again.status, 409, again.text())
    assert.match(again.text(), /already in store fast/)

    const queued = await createImage(memberApi, { disk_format: 'raw', container_format: 'bare' })
    const early = await startImport(adminApi, queued.id, {
      method: { name: 'copy-image' },
      stores: ['slow'],
    })
    assert.equal(early.status, 409, early.text())
  })
})

describe('reading and removing copies', () => {
  async function imageInTwoStores(data: Buffer) {
    const image = await createActiveImage(server, memberToken, data)
    await startImport(adminApi, image.id, { method: { name: 'copy-image' }, stores: ['slow'] })
    const done = await waitForImportEnd(memberApi, image.id)
    assert.equal(done.stores, 'fast,slow')
    return done
  }

  it('reads the heaviest copy, then the next', async () => {
    const data = randomBytes(32 * 1024)
    const image = await imageInTwoStores(data)
    // slow has the higher weight: with its copy gone, the download must come from fast.
    await rm(join(server.dataDir, 'slow', image.id))
    const download = await memberApi('GET', `/v2/images/${image.id}/file`)
    assert.equal(download.status, 200)
    assert.equal(hexDigest('sha256', download.body), hexDigest('sha256', data))
    assert.match(server.stderr(), /trying the next copy/)
  })

  it('deletes one store copy, admins only, never the last', async () => {
    const image = await imageInTwoStores(randomBytes(1000))
    const byMember = await memberApi('DELETE', `/v2/stores/slow/${image.id}`)
    assert.equal(byMember.status, 403, byMember.text())

    const removed = await adminApi('DELETE', `/v2/stores/slow/${image.id}`)
    assert.equal(removed.status, 204, removed.text())
    assert.equal((await getImage(memberApi, image.id)).stores, 'fast')
    assert.equal((await filesIn('slow')).includes(image.id), false)

    const absent = await adminApi('DELETE', `/v2/stores/slow/${image.id}`)
    assert.equal(absent.status, 404, absent.text())
    const last = await adminApi('DELETE', `/v2/stores/fast/${image.id}`)
    assert.equal(last.status, 409, last.text())
    const unknown = await adminApi('DELETE', `/v2/stores/nowhere/${image.id}`)
    assert.equal(unknown.status, 400, unknown.text())
  })

  it('removes every copy when the image is deleted', async () => {
    const image = await imageInTwoStores(randomBytes(1000))
    const deleted = await memberApi('DELETE', `/v2/images/${image.id}`)
    assert.equal(deleted.status, 204, deleted.text())
    for (const store of ['fast', 'slow']) {
      assert.equal((await filesIn(store)).includes(image.id), false, `copy left in ${store}`)
    }
  })
})

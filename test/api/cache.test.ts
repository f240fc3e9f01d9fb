import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { imageClient, issueToken } from '../helpers/client.js'
import { createTenant, startServer, type RunningServer } from '../helpers/server.js'
import { createActiveImage, createImage, hexDigest, sleep, type ImageClient } from './fixtures.js'

let server: RunningServer
let adminToken: string
let admin: ImageClient
let member: ImageClient

before(async () => {
  // Queued images wait one second, and the cache keeps at most 150 KiB.
  server = await startServer({
    configToml: '[cache]\nprefetch_interval = 1\nmax_size = 153600\n',
  })
  adminToken = await issueToken(server)
  admin = imageClient(server, adminToken)
  member = imageClient(server, await issueToken(server, await createTenant(server, 'cacher')))
})

after(async () => {
  await server?.stop()
})

async function listing() {
  const response = await admin('GET', '/v2/cache')
  assert.equal(response.status, 200)
  return response.json() as {
    cached_images: { image_id: string; hits: number; size: number }[]
    queued_images: string[]
  }
}

/** Polls the cache until the image is cached, for at most 10 s. */
async function waitUntilCached(id: string) {
  for (let i = 0; i < 100; i++) {
    const cached = (await listing()).cached_images.find((entry) => entry.image_id === id)
    if (cached !== undefined) return cached
    await sleep(100)
  }
  throw new Error(`image ${id} was not cached within 10 s`)
}

async function cacheFiles(): Promise<string[]> {
  return (await readdir(join(server.dataDir, 'cache'))).filter((name) => name !== '.incomplete')
}

describe('image cache API', () => {
  it('is for admins only', async () => {
    assert.equal((await member('GET', '/v2/cache')).status, 403)
  })

  it('rejects unknown images and images without data', async () => {
    assert.equal((await admin('PUT', '/v2/cache/00000000-0000-0000-0000-000000000000')).status, 404)
    const queued = await createImage(admin, { name: 'no-data' })
    assert.equal((await admin('PUT', `/v2/cache/${queued.id}`)).status, 400)
  })

  it('queues an image, caches it, and serves downloads from the cache', async () => {
    const data = randomBytes(100 * 1024)
    const image = await createActiveImage(server, adminToken, data)
    assert.equal((await admin('PUT', `/v2/cache/${image.id}`)).status, 202)
    assert.ok((await listing()).queued_images.includes(image.id), 'not queued')

    const cached = await waitUntilCached(image.id)
    assert.equal(cached.size, data.length)
    assert.ok(!(await listing()).queued_images.includes(image.id), 'still queued')
    const download = await admin('GET', `/v2/images/${image.id}/file`)
    assert.equal(hexDigest('sha256', download.body), hexDigest('sha256', data))
    assert.equal((await waitUntilCached(image.id)).hits, 1)
  })

  it('evicts the least recently used image beyond its size limit', async () => {
    const first = await createActiveImage(server, adminToken, randomBytes(100 * 1024))
    const second = await createActiveImage(server, adminToken, randomBytes(100 * 1024))
    await admin('PUT', `/v2/cache/${first.id}`)
    await waitUntilCached(first.id)
    await admin('PUT', `/v2/cache/${second.id}`)
    await waitUntilCached(second.id)

    const ids = (await listing()).cached_images.map((entry) => entry.image_id)
    assert.deepEqual(ids, [second.id])
    assert.deepEqual(await cacheFiles(), [second.id])
  })

  it('drops an image from the cache when the image is deleted', async () => {
    const image = await createActiveImage(server, adminToken, randomBytes(1024))
    await admin('PUT', `/v2/cache/${image.id}`)
    await waitUntilCached(image.id)
    assert.equal((await admin('DELETE', `/v2/images/${image.id}`)).status, 204)
    assert.ok(!(await cacheFiles()).includes(image.id), 'cached copy left behind')
  })

  it('starts empty after a restart, leaving no unknown copies', async () => {
    const image = await createActiveImage(server, adminToken, randomBytes(1024))
    await admin('PUT', `/v2/cache/${image.id}`)
    await waitUntilCached(image.id)

    await server.kill()
    server = await startServer({ dataDir: server.dataDir })
    adminToken = await issueToken(server)
    admin = imageClient(server, adminToken)
    assert.deepEqual(await cacheFiles(), [])
    assert.equal((await listing()).cached_images.length, 0)
  })

  it('clears the cache and the queue, and rejects an unknown target', async () => {
    const image = await createActiveImage(server, adminToken, randomBytes(1024))
    await admin('PUT', `/v2/cache/${image.id}`)
    const invalid = await admin('DELETE', '/v2/cache', {
      headers: { 'x-image-cache-clear-target': 'invalid' },
    })
    assert.equal(invalid.status, 400)
    assert.equal((await admin('DELETE', '/v2/cache')).status, 204)
    const after = await listing()
    assert.equal(after.cached_images.length, 0)
    assert.equal(after.queued_images.length, 0)
    assert.deepEqual(await cacheFiles(), [])
  })
})

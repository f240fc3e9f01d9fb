import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { imageClient, issueToken } from '../helpers/client.js'
import { createTenant, startServer, type RunningServer } from '../helpers/server.js'
import { createActiveImage, createImage, sleep, type ImageClient } from './fixtures.js'

let server: RunningServer
let adminToken: string
let admin: ImageClient
let member: ImageClient

before(async () => {
  server = await startServer()
  adminToken = await issueToken(server)
  admin = imageClient(server, adminToken)
  member = imageClient(server, await issueToken(server, await createTenant(server, 'agents')))
})

after(async () => {
  await server?.stop()
})

const cacheUsage = { max_bytes: 10737418240, used_bytes: 123, free_disk_bytes: 456 }
const cacheStats = { hits: 3, misses: 1, bytes_fetched: 123, evictions: 0 }

/** Builds a valid report body; `overrides` replace its top-level fields. */
function reportBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: '0.1.0',
    report_interval: 30,
    cache: cacheUsage,
    stats: cacheStats,
    cached_images: [],
    failed_images: [],
    ...overrides,
  }
}

function cachedEntry(imageId: string) {
  return { image_id: imageId, size: 123, hits: 3, last_used: '2026-12-04T21:00:00Z', pinned: true }
}

/** Sends a report and returns the images queued for the agent. */
async function report(name: string, overrides: Record<string, unknown> = {}): Promise<string[]> {
  const response = await admin('PUT', `/v2/cache/agents/${name}`, { body: reportBody(overrides) })
  assert.equal(response.status, 200, `report of ${name} failed: ${response.text()}`)
  return (response.json() as { queued_images: string[] }).queued_images
}

async function showAgent(name: string) {
  const response = await admin('GET', `/v2/cache/agents/${name}`)
  assert.equal(response.status, 200, `GET agent ${name} failed: ${response.text()}`)
  return response.json() as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any -- wire JSON
}

function queueOn(imageId: string, agents: string) {
  return admin('PUT', `/v2/cache/${imageId}?agents=${encodeURIComponent(agents)}`)
}

async function activeImage(): Promise<string> {
  return (await createActiveImage(server, adminToken, randomBytes(1024))).id as string
}

describe('cache agents before any report', () => {
  it('rejects agents=all with 409', async () => {
    const response = await queueOn(await activeImage(), 'all')
    assert.equal(response.status, 409)
    assert.match(response.text(), /No cache agent has reported yet/)
  })

  it('lists no agents', async () => {
    const response = await admin('GET', '/v2/cache/agents')
    assert.equal(response.status, 200)
    assert.deepEqual(response.json(), { agents: [] })
  })
})

describe('cache agent reports', () => {
  it('shows a report in list and detail', async () => {
    const imageId = randomUUID()
    const failedId = randomUUID()
    const body = reportBody({
      cached_images: [cachedEntry(imageId)],
      failed_images: [{ image_id: failedId, reason: 'checksum mismatch' }],
    })
    const response = await admin('PUT', '/v2/cache/agents/hv-1.example', { body })
    assert.equal(response.status, 200, response.text())
    assert.deepEqual(response.json(), { queued_images: [] })

    const agent = await showAgent('hv-1.example')
    assert.equal(agent['name'], 'hv-1.example')
    assert.equal(agent['status'], 'up')
    assert.equal(agent['version'], '0.1.0')
    assert.match(agent['reported_at'], /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/)
    assert.equal(agent['report_interval'], 30)
    assert.deepEqual(agent['cache'], body['cache'])
    assert.deepEqual(agent['stats'], body['stats'])
    assert.deepEqual(agent['cached_images'], [cachedEntry(imageId)])
    assert.deepEqual(agent['queued_images'], [])
    assert.deepEqual(agent['failed_images'], [
      { image_id: failedId, reason: 'checksum mismatch', reported_at: agent['reported_at'] },
    ])

    const list = (await admin('GET', '/v2/cache/agents')).json() as { agents: unknown[] }
    assert.deepEqual(list.agents, [agent])
  })

  it('accepts a name of 255 characters', async () => {
    const name = `h${'x'.repeat(254)}`
    assert.deepEqual(await report(name), [])
    assert.equal((await showAgent(name))['name'], name)
    assert.equal((await admin('DELETE', `/v2/cache/agents/${name}`)).status, 204)
  })

  it('lists agents sorted by name', async () => {
    await report('hv-0')
    await report('Hv-9')
    const list = (await admin('GET', '/v2/cache/agents')).json() as { agents: { name: string }[] }
    const names = list.agents.map((agent) => agent.name)
    assert.deepEqual(names, [...names].sort())
    assert.ok(names.includes('Hv-9'), names.join())
    assert.ok(names.includes('hv-0'), names.join())
  })

  it('accepts 100000 cached images and ignores unknown fields', async () => {
    const cached = Array.from({ length: 100_000 }, () => cachedEntry(randomUUID()))
    const body = reportBody({ cached_images: cached, extra: { ignored: true } })
    const response = await admin('PUT', '/v2/cache/agents/hv-full', { body })
    assert.equal(response.status, 200, response.text())
    assert.equal((await showAgent('hv-full'))['cached_images'].length, 100_000)
  })

  it('shows an agent as stale after three missed report intervals', async () => {
    await report('hv-stale', { report_interval: 1 })
    assert.equal((await showAgent('hv-stale'))['status'], 'up')
    await sleep(3500)
    assert.equal((await showAgent('hv-stale'))['status'], 'stale')
    await report('hv-stale', { report_interval: 1 })
    assert.equal((await showAgent('hv-stale'))['status'], 'up')
  })

  it('forgets a deleted agent', async () => {
    await report('hv-doomed', { cached_images: [cachedEntry(randomUUID())] })
    assert.equal((await admin('DELETE', '/v2/cache/agents/hv-doomed')).status, 204)
    const missing = await admin('GET', '/v2/cache/agents/hv-doomed')
    assert.equal(missing.status, 404)
    assert.equal(missing.headers['x-image-library-error-code'], 'CACHE_AGENT_NOT_FOUND')
    assert.match(missing.text(), /hv-doomed/)
    assert.equal((await admin('DELETE', '/v2/cache/agents/hv-doomed')).status, 404)
  })
})

describe('cache agent report validation', () => {
  const id = '11111111-2222-4333-8444-555555555555'
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['missing version', { version: undefined }, /version/],
    ['empty version', { version: '' }, /version/],
    ['zero interval', { report_interval: 0 }, /report_interval/],
    ['interval above a day', { report_interval: 86_401 }, /report_interval/],
    ['fractional interval', { report_interval: 1.5 }, /report_interval/],
    ['cache not an object', { cache: [] }, /cache must be a JSON object/],
    ['negative used bytes', { cache: { ...cacheUsage, used_bytes: -1 } }, /cache\.used_bytes/],
    ['hits as text', { stats: { ...cacheStats, hits: '3' } }, /stats\.hits/],
    [
      'missing stats field',
      { stats: { hits: 1, misses: 1, evictions: 0 } },
      /stats\.bytes_fetched/,
    ],
    ['cached images not a list', { cached_images: {} }, /cached_images must be an array/],
    ['missing failed images', { failed_images: undefined }, /failed_images/],
    [
      'bad image id',
      { cached_images: [{ ...cachedEntry(id), image_id: 'x' }] },
      /cached_images\[0\]\.image_id/,
    ],
    [
      'fractional size',
      { cached_images: [{ ...cachedEntry(id), size: 0.5 }] },
      /cached_images\[0\]\.size/,
    ],
    ['pinned as text', { cached_images: [{ ...cachedEntry(id), pinned: 'yes' }] }, /\.pinned/],
    [
      'time without zone',
      { cached_images: [{ ...cachedEntry(id), last_used: '2026-12-04T21:00:00' }] },
      /\.last_used/,
    ],
    [
      'repeated image',
      { cached_images: [cachedEntry(id), cachedEntry(id)] },
      /cached_images\[1\]\.image_id repeats/,
    ],
    ['reason missing', { failed_images: [{ image_id: id }] }, /failed_images\[0\]\.reason/],
  ]
  for (const [name, overrides, message] of cases) {
    it(`rejects ${name} with 400`, async () => {
      const response = await admin('PUT', '/v2/cache/agents/hv-invalid', {
        body: reportBody(overrides),
      })
      assert.equal(response.status, 400, response.text())
      assert.match(response.text(), message)
    })
  }

  it('rejects more than 100000 cached images', async () => {
    const cached = Array.from({ length: 100_001 }, () => cachedEntry(randomUUID()))
    const response = await admin('PUT', '/v2/cache/agents/hv-invalid', {
      body: reportBody({ cached_images: cached }),
    })
    assert.equal(response.status, 400)
    assert.match(response.text(), /cached_images lists 100001 images; the maximum is 100000/)
  })

  it('rejects a body that is not a JSON object', async () => {
    const response = await admin('PUT', '/v2/cache/agents/hv-invalid', { body: [1] })
    assert.equal(response.status, 400)
    assert.match(response.text(), /request body must be a JSON object/)
  })

  it('rejects invalid agent names with 400', async () => {
    for (const name of ['-leading-dash', '.hidden', 'a'.repeat(256), 'white%20space']) {
      const response = await admin('PUT', `/v2/cache/agents/${name}`, { body: reportBody() })
      assert.equal(response.status, 400, name)
      assert.match(response.text(), /Invalid cache agent name/, name)
    }
    assert.equal((await admin('GET', '/v2/cache/agents/-x')).status, 400)
    assert.equal((await admin('DELETE', '/v2/cache/agents/-x')).status, 400)
  })

  it('records nothing for a rejected report', async () => {
    assert.equal((await admin('GET', '/v2/cache/agents/hv-invalid')).status, 404)
  })
})

describe('cache agent API for non-admins', () => {
  it('rejects every call with 403', async () => {
    const imageId = await activeImage()
    const calls: [string, string, unknown][] = [
      ['GET', '/v2/cache/agents', undefined],
      ['GET', '/v2/cache/agents/hv-1.example', undefined],
      ['PUT', '/v2/cache/agents/hv-member', reportBody()],
      ['DELETE', '/v2/cache/agents/hv-1.example', undefined],
      ['PUT', `/v2/cache/${imageId}?agents=all`, undefined],
    ]
    for (const [method, path, body] of calls) {
      const response = await member(method, path, body === undefined ? {} : { body })
      assert.equal(response.status, 403, `${method} ${path}`)
      assert.match(response.text(), /requires the admin role/, `${method} ${path}`)
    }
    assert.equal((await admin('GET', '/v2/cache/agents/hv-member')).status, 404)
  })
})

describe('queuing images on cache agents', () => {
  before(async () => {
    await report('q-a')
    await report('q-b')
  })

  it('queues on every agent and on named ones', async () => {
    const first = await activeImage()
    const second = await activeImage()

    const all = await queueOn(first, 'all')
    assert.equal(all.status, 202, all.text())
    const everyAgent = (
      (await admin('GET', '/v2/cache/agents')).json() as {
        agents: { name: string }[]
      }
    ).agents.map((agent) => agent.name)
    assert.deepEqual(all.json(), { queued_on: everyAgent })

    const named = await queueOn(second, 'q-b,q-a,q-b')
    assert.equal(named.status, 202, named.text())
    assert.deepEqual(named.json(), { queued_on: ['q-a', 'q-b'] })

    assert.deepEqual((await showAgent('q-b'))['queued_images'], [first, second])
    assert.deepEqual(await report('q-b'), [first, second])
  })

  it('keeps the first queued time when queued twice', async () => {
    const older = await activeImage()
    const newer = await activeImage()
    await queueOn(older, 'q-a')
    await queueOn(newer, 'q-a')
    assert.equal((await queueOn(older, 'q-a')).status, 202)
    const queued = await report('q-a')
    assert.ok(queued.indexOf(older) < queued.indexOf(newer), queued.join())
  })

  it('rejects an unknown agent with 404', async () => {
    const imageId = await activeImage()
    const response = await queueOn(imageId, 'q-a,q-missing')
    assert.equal(response.status, 404)
    assert.equal(response.headers['x-image-library-error-code'], 'CACHE_AGENT_NOT_FOUND')
    assert.match(response.text(), /q-missing/)
    assert.ok(!(await showAgent('q-a'))['queued_images'].includes(imageId), 'queued anyway')
  })

  it('rejects unknown and inactive images', async () => {
    assert.equal((await queueOn(randomUUID(), 'all')).status, 404)
    const queued = await createImage(admin, { name: 'no-data' })
    const response = await queueOn(queued.id, 'all')
    assert.equal(response.status, 409)
    assert.match(response.text(), /is queued; only active images can be queued/)
  })

  it('rejects an empty or invalid agents parameter with 400', async () => {
    const imageId = await activeImage()
    assert.equal((await queueOn(imageId, '')).status, 400)
    assert.equal((await queueOn(imageId, 'q-a,,q-b')).status, 400)
    assert.equal((await queueOn(imageId, 'q-a,-bad')).status, 400)
  })

  it('dequeues reported cached and failed images', async () => {
    const done = await activeImage()
    const failed = await activeImage()
    const waiting = await activeImage()
    for (const imageId of [done, failed, waiting]) await queueOn(imageId, 'q-a')

    const queued = await report('q-a', {
      cached_images: [cachedEntry(done)],
      failed_images: [{ image_id: failed, reason: 'no space left on device' }],
    })
    assert.ok(queued.includes(waiting), 'waiting image left the queue')
    assert.ok(!queued.includes(done), 'cached image still queued')
    assert.ok(!queued.includes(failed), 'failed image still queued')
    const agent = await showAgent('q-a')
    assert.deepEqual(
      agent['failed_images'].map((f: { image_id: string }) => f.image_id),
      [failed],
    )
  })

  it('never hands out a deleted image', async () => {
    const imageId = await activeImage()
    await queueOn(imageId, 'all')
    assert.ok((await showAgent('q-b'))['queued_images'].includes(imageId), 'not queued')

    assert.equal((await admin('DELETE', `/v2/images/${imageId}`)).status, 204)
    assert.ok(!(await showAgent('q-b'))['queued_images'].includes(imageId), 'still listed')
    assert.ok(!(await report('q-b')).includes(imageId), 'handed to the agent')
  })

  it('leaves the queues alone without the agents parameter', async () => {
    const imageId = await activeImage()
    const response = await admin('PUT', `/v2/cache/${imageId}`)
    assert.equal(response.status, 202)
    assert.equal(response.body.length, 0)
    assert.ok(!(await showAgent('q-a'))['queued_images'].includes(imageId), 'queued on an agent')
    assert.ok(
      (
        (await admin('GET', '/v2/cache')).json() as { queued_images: string[] }
      ).queued_images.includes(imageId),
      'not in the host cache queue',
    )
  })
})

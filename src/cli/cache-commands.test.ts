import assert from 'node:assert/strict'
import { Readable, Writable } from 'node:stream'
import { after, before, beforeEach, describe, it } from 'node:test'
import type { CacheAgentRecord } from './cache-agent-client.js'
import { toCacheHostListResult, toCacheHostShowResult } from './cache-host-view.js'
import { LinesCell } from './cells.js'
import { writeShow } from './output.js'
import { main } from './pcdctl.js'
import { startFakeCloud, type FakeCloud } from './testing/fake-cloud.js'

const imageId = '11111111-1111-4111-8111-111111111111'

function makeAgent(name: string, overrides: Partial<CacheAgentRecord> = {}): CacheAgentRecord {
  return {
    name,
    status: 'up',
    version: '0.1.0',
    reported_at: '2026-12-04T21:00:00Z',
    report_interval: 30,
    cache: { max_bytes: 1000, used_bytes: 300, free_disk_bytes: 5000 },
    stats: { hits: 7, misses: 2, bytes_fetched: 900, evictions: 1 },
    cached_images: [
      { image_id: imageId, size: 300, hits: 7, last_used: '2026-12-04T20:00:00Z', pinned: true },
    ],
    queued_images: [],
    failed_images: [],
    ...overrides,
  }
}

class CaptureStream extends Writable {
  text = ''

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString()
    callback()
  }
}

async function run(args: string[], env: NodeJS.ProcessEnv) {
  const stdout = new CaptureStream()
  const stderr = new CaptureStream()
  const code = await main(args, { stdout, stderr, stdin: Readable.from([]), env })
  return { code, stdout: stdout.text, stderr: stderr.text }
}

describe('toCacheHostListResult', () => {
  it('counts images and takes the counters', () => {
    const agent = makeAgent('hv-1', { queued_images: ['a', 'b'] })
    const { columns, rows } = toCacheHostListResult([agent], false)
    assert.deepEqual(columns, ['Name', 'Status', 'Images', 'Used', 'Hits', 'Misses', 'Last Report'])
    assert.deepEqual(rows, [['hv-1', 'up', 1, 300, 7, 2, '2026-12-04T21:00:00Z']])
  })

  it('adds the long columns', () => {
    const agent = makeAgent('hv-1', { queued_images: ['a', 'b'] })
    const { columns, rows } = toCacheHostListResult([agent], true)
    const row = Object.fromEntries(columns.map((column, index) => [column, rows[0]?.[index]]))
    assert.equal(row['Version'], '0.1.0')
    assert.equal(row['Queued'], 2)
    assert.equal(row['Max Size'], 1000)
    assert.equal(row['Bytes Fetched'], 900)
    assert.equal(row['Evictions'], 1)
  })
})

describe('toCacheHostShowResult', () => {
  it('prints one cached image per line in tables', () => {
    const failure = { image_id: 'f', reason: 'no space', reported_at: '2026-12-04T21:00:00Z' }
    const agent = makeAgent('hv-1', { queued_images: ['q2', 'q1'], failed_images: [failure] })
    let text = ''
    const out = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        text += chunk.toString()
        callback()
      },
    })
    writeShow(out, toCacheHostShowResult(agent), { format: 'table' })
    assert.match(
      text,
      new RegExp(
        `\\| cached_images +\\| image_id='${imageId}', size='300', hits='7', ` +
          `last_used='2026-12-04T20:00:00Z', pinned='True' +\\|`,
      ),
    )
    assert.match(text, /\| queued_images +\| q2 +\|\n\| +\| q1 +\|/)
    assert.match(text, /\| failed_images +\| image_id='f', reason='no space', reported_at=/)
  })

  it('keeps the lists as arrays for json', () => {
    const { fields } = toCacheHostShowResult(makeAgent('hv-1'))
    const cached = fields.find(([name]) => name === 'cached_images')?.[1]
    assert.ok(cached instanceof LinesCell)
    assert.deepEqual(cached.items, makeAgent('hv-1').cached_images)
  })
})

describe('cache commands against a fake cloud', () => {
  let cloud: FakeCloud

  before(async () => {
    cloud = await startFakeCloud()
  })

  after(async () => {
    await cloud.stop()
  })

  beforeEach(() => {
    cloud.images.clear()
    cloud.requests.length = 0
    cloud.cacheAgents.clear()
    cloud.cacheAgents.set('hv-1', makeAgent('hv-1'))
    cloud.cacheAgents.set('hv-2', makeAgent('hv-2', { status: 'stale' }))
  })

  it('queues an image by name on all hosts', async () => {
    const image = cloud.addImage({ name: 'ubuntu' }, Buffer.from('data'))
    const result = await run(['image', 'cache', '--all-hosts', 'ubuntu'], cloud.env)
    assert.equal(result.code, 0, result.stderr)
    assert.equal(result.stdout, `Queued image ${image.id} for caching on: hv-1, hv-2\n`)
    const queued = cloud.requests.find((request) => request.method === 'PUT')
    assert.equal(queued?.path, `/v2/cache/${image.id}?agents=all`)
  })

  it('queues an image on named hosts', async () => {
    const image = cloud.addImage({ name: 'ubuntu' }, Buffer.from('data'))
    const args = ['image', 'cache', '--host', 'hv-2', '--host', 'hv-1', image.id]
    const result = await run(args, cloud.env)
    assert.equal(result.code, 0, result.stderr)
    assert.equal(result.stdout, `Queued image ${image.id} for caching on: hv-2, hv-1\n`)
    assert.deepEqual(cloud.cacheAgents.get('hv-1')?.queued_images, [image.id])
    const queued = cloud.requests.find((request) => request.method === 'PUT')
    assert.equal(queued?.path, `/v2/cache/${image.id}?agents=hv-2%2Chv-1`)
  })

  it('reports an unknown host and exits 1', async () => {
    cloud.addImage({ name: 'ubuntu' }, Buffer.from('data'))
    const result = await run(['image', 'cache', '--host', 'hv-9', 'ubuntu'], cloud.env)
    assert.equal(result.code, 1)
    assert.match(result.stderr, /No cache agents named hv-9 \(HTTP 404/)
    assert.equal(result.stdout, '')
  })

  it('lists cache hosts as json', async () => {
    const result = await run(['cache', 'host', 'list', '-f', 'json'], cloud.env)
    assert.equal(result.code, 0, result.stderr)
    const rows = JSON.parse(result.stdout) as Record<string, unknown>[]
    assert.deepEqual(
      rows.map((row) => [row['Name'], row['Status'], row['Images']]),
      [
        ['hv-1', 'up', 1],
        ['hv-2', 'stale', 1],
      ],
    )
  })

  it('shows a cache host', async () => {
    const result = await run(['cache', 'host', 'show', 'hv-2', '-f', 'json'], cloud.env)
    assert.equal(result.code, 0, result.stderr)
    const fields = JSON.parse(result.stdout) as Record<string, unknown>
    assert.equal(fields['name'], 'hv-2')
    assert.equal(fields['status'], 'stale')
    assert.equal(fields['used_bytes'], 300)
    assert.deepEqual(fields['cached_images'], makeAgent('hv-2').cached_images)
    assert.deepEqual(fields['queued_images'], [])
  })

  it('reports an unknown cache host and exits 1', async () => {
    const result = await run(['cache', 'host', 'show', 'hv-9'], cloud.env)
    assert.equal(result.code, 1)
    assert.match(result.stderr, /No cache agent named hv-9/)
  })
})

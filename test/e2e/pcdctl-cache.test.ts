import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { createActiveImage } from '../api/fixtures.js'
import { imageClient, issueToken } from '../helpers/client.js'
import { pcdctlBin, startServer, type RunningServer } from '../helpers/server.js'

interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs bin/pcdctl with the server's admin OS_* variables only. */
function pcdctl(server: RunningServer, args: string[]): Promise<RunResult> {
  const child = spawn(process.execPath, [pcdctlBin, ...args], {
    env: { PATH: process.env['PATH'] ?? '', ...server.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout, stderr }))
  })
}

function succeeded(result: RunResult): string {
  assert.equal(result.code, 0, `pcdctl failed: ${result.stderr}`)
  return result.stdout
}

describe('pcdctl cache commands against image-library serve', () => {
  let server: RunningServer
  let adminToken: string
  let imageId: string
  const run = (args: string[]) => pcdctl(server, args)

  /** Sends a cache agent report as the agent on a hypervisor would. */
  async function report(name: string, cachedImageIds: string[] = []): Promise<string[]> {
    const body = {
      version: '0.1.0',
      report_interval: 30,
      cache: { max_bytes: 10737418240, used_bytes: 1024, free_disk_bytes: 4096 },
      stats: { hits: 5, misses: 2, bytes_fetched: 2048, evictions: 1 },
      cached_images: cachedImageIds.map((id) => ({
        image_id: id,
        size: 1024,
        hits: 5,
        last_used: '2026-12-04T21:00:00Z',
        pinned: false,
      })),
      failed_images: [],
    }
    const response = await imageClient(server, adminToken)('PUT', `/v2/cache/agents/${name}`, {
      body,
    })
    assert.equal(response.status, 200, response.text())
    return (response.json() as { queued_images: string[] }).queued_images
  }

  before(async () => {
    server = await startServer()
    adminToken = await issueToken(server)
    imageId = (await createActiveImage(server, adminToken, randomBytes(1024), { name: 'cirros' }))
      .id as string
    await report('hv-1')
    await report('hv-2')
  })

  after(async () => {
    await server?.stop()
  })

  it('queues an image by name on every host', async () => {
    const output = succeeded(await run(['image', 'cache', '--all-hosts', 'cirros']))
    assert.equal(output, `Queued image ${imageId} for caching on: hv-1, hv-2\n`)
    assert.deepEqual(await report('hv-2'), [imageId])
  })

  it('queues an image on the named hosts only', async () => {
    const other = (await createActiveImage(server, adminToken, randomBytes(512))).id as string
    const output = succeeded(await run(['image', 'cache', '--host', 'hv-1', other]))
    assert.equal(output, `Queued image ${other} for caching on: hv-1\n`)
    assert.ok((await report('hv-1')).includes(other), 'not queued on hv-1')
    assert.ok(!(await report('hv-2')).includes(other), 'queued on hv-2')
  })

  it('exits 1 naming an unknown host', async () => {
    const result = await run(['image', 'cache', '--host', 'hv-9', 'cirros'])
    assert.equal(result.code, 1)
    assert.match(result.stderr, /No cache agent named hv-9/)
    assert.match(result.stderr, /HTTP 404/)
  })

  it('exits 2 without hosts or with both flags', async () => {
    assert.equal((await run(['image', 'cache', 'cirros'])).code, 2)
    assert.equal((await run(['image', 'cache', '--all-hosts', '--host', 'x', 'cirros'])).code, 2)
  })

  it('lists the cache hosts in short and long form', async () => {
    await report('hv-1', [imageId])
    const rows = JSON.parse(succeeded(await run(['cache', 'host', 'list', '-f', 'json']))) as {
      [column: string]: unknown
    }[]
    assert.deepEqual(
      rows.map((row) => row['Name']),
      ['hv-1', 'hv-2'],
    )
    assert.deepEqual(Object.keys(rows[0] ?? {}), [
      'Name',
      'Status',
      'Images',
      'Used',
      'Hits',
      'Misses',
      'Last Report',
    ])
    assert.equal(rows[0]?.['Status'], 'up')
    assert.equal(rows[0]?.['Images'], 1)
    assert.equal(rows[0]?.['Used'], 1024)

    const long = JSON.parse(
      succeeded(await run(['cache', 'host', 'list', '--long', '-f', 'json'])),
    ) as { [column: string]: unknown }[]
    assert.equal(long[0]?.['Version'], '0.1.0')
    assert.equal(long[0]?.['Max Size'], 10737418240)
    assert.equal(long[0]?.['Bytes Fetched'], 2048)
    assert.equal(long[0]?.['Evictions'], 1)
    // hv-2 has not reported the image of the first test as cached, so it is still queued.
    assert.equal(long[1]?.['Queued'], 1)

    const names = succeeded(await run(['cache', 'host', 'list', '-f', 'value', '-c', 'Name']))
    assert.equal(names, 'hv-1\nhv-2\n')
  })

  it('shows a cache host with its cached images', async () => {
    const fields = JSON.parse(
      succeeded(await run(['cache', 'host', 'show', 'hv-1', '-f', 'json'])),
    ) as Record<string, unknown>
    assert.equal(fields['name'], 'hv-1')
    assert.equal(fields['status'], 'up')
    assert.equal(fields['free_disk_bytes'], 4096)
    assert.deepEqual(fields['cached_images'], [
      { image_id: imageId, size: 1024, hits: 5, last_used: '2026-12-04T21:00:00Z', pinned: false },
    ])
    assert.deepEqual(fields['failed_images'], [])

    const table = succeeded(await run(['cache', 'host', 'show', 'hv-1']))
    assert.match(table, new RegExp(`\\| cached_images +\\| image_id='${imageId}', size='1024'`))
  })

  it('exits 1 for an unknown cache host', async () => {
    const result = await run(['cache', 'host', 'show', 'hv-9'])
    assert.equal(result.code, 1)
    assert.match(result.stderr, /No cache agent named hv-9/)
  })
})

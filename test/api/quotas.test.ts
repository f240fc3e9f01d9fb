import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { imageClient, issueToken } from '../helpers/client.js'
import { createTenant, startServer, type RunningServer } from '../helpers/server.js'
import { createImage, getImage, uploadData, waitForImage, type ImageClient } from './fixtures.js'

let server: RunningServer

/** Small limits, so that a few kilobytes reach them. */
const config = `
[quotas]
image_count_total = 4
image_size_total = 10000
image_stage_total = 3000
image_count_uploading = 1
`

before(async () => {
  server = await startServer({ configToml: config })
})

after(async () => {
  await server?.stop()
})

/** Each test gets a fresh project, so that usage starts at zero. */
async function freshProject(name: string): Promise<{ token: string; api: ImageClient }> {
  const tenant = await createTenant(server, name)
  const token = await issueToken(server, tenant)
  return { token, api: imageClient(server, token) }
}

async function newRawImage(api: ImageClient) {
  return createImage(api, { disk_format: 'raw', container_format: 'bare' })
}

describe('project quotas', () => {
  it('reports the limits and the usage', async () => {
    const { token, api } = await freshProject('quota-report')
    const image = await newRawImage(api)
    assert.equal((await uploadData(server, token, image.id, randomBytes(1234))).status, 204)
    const usage = (await api('GET', '/v2/info/usage')).json().usage
    assert.deepEqual(usage, {
      image_size_total: { limit: 10000, usage: 1234 },
      image_count_total: { limit: 4, usage: 1 },
      image_stage_total: { limit: 3000, usage: 0 },
      image_count_uploading: { limit: 1, usage: 0 },
    })
  })

  it('refuses a create past image_count_total with 413', async () => {
    const { api } = await freshProject('quota-count')
    for (let i = 0; i < 4; i++) await newRawImage(api)
    const refused = await api('POST', '/v2/images', { body: { name: 'fifth' } })
    assert.equal(refused.status, 413, refused.text())
    assert.match(refused.text(), /Quota image_count_total exceeded: .*4 of its 4 images/)
  })

  it('refuses an announced upload past image_size_total before reading it', async () => {
    const { token, api } = await freshProject('quota-size')
    const first = await newRawImage(api)
    assert.equal((await uploadData(server, token, first.id, randomBytes(8000))).status, 204)
    const second = await newRawImage(api)
    const refused = await uploadData(server, token, second.id, randomBytes(3000))
    assert.equal(refused.status, 413, refused.text())
    assert.match(refused.text(), /Quota image_size_total exceeded: .*8000 of its 10000 bytes/)
    assert.equal((await getImage(api, second.id)).status, 'queued')
  })

  it('stops a chunked upload once it passes the bytes left', async () => {
    const { api } = await freshProject('quota-chunked')
    const image = await newRawImage(api)
    // A stream body goes out chunked, without Content-Length, so the server learns the size
    // only while the data streams in.
    const response = await api('PUT', `/v2/images/${image.id}/file`, {
      headers: { 'content-type': 'application/octet-stream' },
      body: Readable.from([randomBytes(6000), randomBytes(6000)]),
    })
    assert.equal(response.status, 413, response.text())
    assert.match(response.text(), /image_size_total/)
    assert.equal((await getImage(api, image.id)).status, 'queued')
  })

  it('limits staged bytes with image_stage_total', async () => {
    const { api } = await freshProject('quota-stage')
    const image = await newRawImage(api)
    const refused = await api('PUT', `/v2/images/${image.id}/stage`, {
      headers: { 'content-type': 'application/octet-stream' },
      body: randomBytes(3500),
    })
    assert.equal(refused.status, 413, refused.text())
    assert.match(refused.text(), /image_stage_total/)
    assert.equal((await getImage(api, image.id)).status, 'queued')
    const staging = await readdir(join(server.dataDir, 'staging'))
    assert.equal(staging.includes(image.id), false)

    const staged = await api('PUT', `/v2/images/${image.id}/stage`, {
      headers: { 'content-type': 'application/octet-stream' },
      body: randomBytes(2500),
    })
    assert.equal(staged.status, 204, staged.text())
    const usage = (await api('GET', '/v2/info/usage')).json().usage
    assert.deepEqual([usage.image_stage_total.usage, usage.image_count_uploading.usage], [2500, 1])
  })

  it('counts staged bytes once when they are imported', async () => {
    const { token, api } = await freshProject('quota-import')
    const stored = await newRawImage(api)
    assert.equal((await uploadData(server, token, stored.id, randomBytes(6000))).status, 204)
    const image = await newRawImage(api)
    const staged = await api('PUT', `/v2/images/${image.id}/stage`, {
      headers: { 'content-type': 'application/octet-stream' },
      body: randomBytes(2500),
    })
    assert.equal(staged.status, 204, staged.text())
    const started = await api('POST', `/v2/images/${image.id}/import`, {
      body: { method: { name: 'glance-direct' } },
    })
    assert.equal(started.status, 202, started.text())
    const done = await waitForImage(api, image.id, (current) => current.status !== 'importing')
    const tasks = (await api('GET', `/v2/images/${image.id}/tasks`)).json().tasks
    assert.equal(done.status, 'active', JSON.stringify(tasks))
    const usage = (await api('GET', '/v2/info/usage')).json().usage
    assert.deepEqual([usage.image_size_total.usage, usage.image_stage_total.usage], [8500, 0])
  })

  it('frees staged bytes when the image is deleted', async () => {
    const { api } = await freshProject('quota-delete')
    const image = await newRawImage(api)
    await api('PUT', `/v2/images/${image.id}/stage`, {
      headers: { 'content-type': 'application/octet-stream' },
      body: randomBytes(2000),
    })
    assert.equal((await api('DELETE', `/v2/images/${image.id}`)).status, 204)
    const staging = await readdir(join(server.dataDir, 'staging'))
    assert.equal(staging.includes(image.id), false)
  })

  it('allows one upload at a time with image_count_uploading = 1', async () => {
    const { api } = await freshProject('quota-uploading')
    const staged = await newRawImage(api)
    const first = await api('PUT', `/v2/images/${staged.id}/stage`, {
      headers: { 'content-type': 'application/octet-stream' },
      body: randomBytes(100),
    })
    assert.equal(first.status, 204, first.text())
    const other = await newRawImage(api)
    const refused = await api('PUT', `/v2/images/${other.id}/stage`, {
      headers: { 'content-type': 'application/octet-stream' },
      body: randomBytes(100),
    })
    assert.equal(refused.status, 413, refused.text())
    assert.match(refused.text(), /image_count_uploading/)

    // The staged image's own import is not a second upload.
    const started = await api('POST', `/v2/images/${staged.id}/import`, {
      body: { method: { name: 'glance-direct' } },
    })
    assert.equal(started.status, 202, started.text())
  })
})

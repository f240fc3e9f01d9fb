import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { after, before, describe, it } from 'node:test'
import { imageClient, issueToken } from '../helpers/client.js'
import { createTenant, startServer, type RunningServer } from '../helpers/server.js'
import {
  createActiveImage,
  createImage,
  createQcow2WithReference,
  getImage,
  makeWorkDir,
  uploadData,
  type ImageClient,
} from './fixtures.js'

/** Behaviour that clients such as Tempest rely on, beyond the basic calls. */
describe('Glance compatibility details', () => {
  let server: RunningServer
  let memberApi: ImageClient
  let memberToken: string

  before(async () => {
    server = await startServer()
    const tenant = await createTenant(server, 'compat')
    memberToken = await issueToken(server, tenant)
    memberApi = imageClient(server, memberToken)
  })

  after(async () => {
    await server?.stop()
  })

  it('takes an empty JSON body as no body', async () => {
    const image = await createImage(memberApi, { name: 'empty-body' })
    const json = { 'content-type': 'application/json' }
    const tagged = await memberApi('PUT', `/v2/images/${image.id}/tags/t1`, { headers: json })
    assert.equal(tagged.status, 204, tagged.text())
    const deleted = await memberApi('DELETE', `/v2/images/${image.id}`, { headers: json })
    assert.equal(deleted.status, 204, deleted.text())
  })

  it('lets the owner deactivate and reactivate', async () => {
    const image = await createActiveImage(server, memberToken, randomBytes(4096))
    const deactivate = await memberApi('POST', `/v2/images/${image.id}/actions/deactivate`)
    assert.equal(deactivate.status, 204, deactivate.text())
    assert.equal((await getImage(memberApi, image.id)).status, 'deactivated')

    const reactivate = await memberApi('POST', `/v2/images/${image.id}/actions/reactivate`)
    assert.equal(reactivate.status, 204, reactivate.text())
    assert.equal((await getImage(memberApi, image.id)).status, 'active')
  })

  it('filters the listing with in: lists and time comparisons', async () => {
    const first = await createImage(memberApi, { name: 'alpha,one' })
    const second = await createImage(memberApi, { name: 'beta' })
    await createImage(memberApi, { name: 'gamma' })
    const names = encodeURIComponent('in:"alpha,one",beta')
    const listed = (await memberApi('GET', `/v2/images?name=${names}`)).json().images
    assert.deepEqual(listed.map((i: { id: string }) => i.id).sort(), [first.id, second.id].sort())

    const since = encodeURIComponent(`gte:${second.created_at}`)
    const recent = (await memberApi('GET', `/v2/images?created_at=${since}&limit=1000`)).json()
    assert.ok(recent.images.every((i: { created_at: string }) => i.created_at >= second.created_at))
    assert.ok(recent.images.some((i: { id: string }) => i.id === second.id))
    const bad = await memberApi('GET', '/v2/images?created_at=soon:2020')
    assert.equal(bad.status, 400)
  })

  it('filters the listing by exact size', async () => {
    const image = await createActiveImage(server, memberToken, randomBytes(3170))
    const response = await memberApi('GET', '/v2/images?size=3170')
    assert.equal(response.status, 200)
    const ids = response.json().images.map((i: { id: string }) => i.id)
    assert.ok(ids.includes(image.id), 'the image of that size is missing')
    const sizes = response.json().images.map((i: { size: number }) => i.size)
    assert.deepEqual([...new Set(sizes)], [3170])
  })
})

describe('format match switched off', () => {
  let server: RunningServer
  let api: ImageClient
  let token: string
  let workDir: string

  before(async () => {
    server = await startServer({ configToml: '[images]\nrequire_format_match = false\n' })
    token = await issueToken(server)
    api = imageClient(server, token)
    workDir = await makeWorkDir()
  })

  after(async () => {
    await server?.stop()
    await rm(workDir, { recursive: true, force: true })
  })

  it('stores raw bytes declared as qcow2', async () => {
    const image = await createImage(api, { disk_format: 'qcow2', container_format: 'bare' })
    const response = await uploadData(server, token, image.id, randomBytes(2048))
    assert.equal(response.status, 204, response.text())
    assert.equal((await getImage(api, image.id)).status, 'active')
  })

  it('still rejects a qcow2 with a backing file', async () => {
    const evil = await createQcow2WithReference(workDir, 'evil.qcow2', 'backing-file')
    const image = await createImage(api, { disk_format: 'qcow2', container_format: 'bare' })
    const response = await uploadData(server, token, image.id, evil.data)
    assert.equal(response.status, 400)
    assert.equal((await getImage(api, image.id)).status, 'queued')
  })
})

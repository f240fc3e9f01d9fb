import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { imageClient, issueToken } from '../helpers/client.js'
import { createTenant, startServer, type RunningServer } from '../helpers/server.js'
import { createImage, mib, uploadData, type ImageClient } from './fixtures.js'

let server: RunningServer
let adminApi: ImageClient
let memberApi: ImageClient
let memberToken: string

before(async () => {
  server = await startServer()
  adminApi = imageClient(server, await issueToken(server))
  const tenant = await createTenant(server, 'counted')
  memberToken = await issueToken(server, tenant)
  memberApi = imageClient(server, memberToken)
})

after(async () => {
  await server?.stop()
})

describe('discovery', () => {
  it('lists the import methods', async () => {
    const response = await memberApi('GET', '/v2/info/import')
    assert.equal(response.status, 200)
    const methods = response.json()['import-methods']
    assert.equal(methods.type, 'array')
    assert.ok(Array.isArray(methods.value))
  })

  it('lists the default store', async () => {
    const response = await memberApi('GET', '/v2/info/stores')
    assert.equal(response.status, 200)
    assert.deepEqual(
      response.json().stores.map((s: { id: string; default: boolean }) => [s.id, s.default]),
      [['file', true]],
    )
  })

  it('shows store details to admins only', async () => {
    assert.equal((await memberApi('GET', '/v2/info/stores/detail')).status, 403)
    const response = await adminApi('GET', '/v2/info/stores/detail')
    assert.equal(response.status, 200)
    assert.equal(response.json().stores[0].type, 'file')
  })

  it("counts the caller's images and bytes", async () => {
    const before = (await memberApi('GET', '/v2/info/usage')).json().usage
    const image = await createImage(memberApi, { disk_format: 'raw', container_format: 'bare' })
    const uploaded = await uploadData(server, memberToken, image.id, Buffer.alloc(mib, 1))
    assert.equal(uploaded.status, 204)

    const after = (await memberApi('GET', '/v2/info/usage')).json().usage
    assert.equal(after.image_count_total.usage, before.image_count_total.usage + 1)
    assert.equal(after.image_size_total.usage, before.image_size_total.usage + mib)
    assert.equal(after.image_count_uploading.usage, 0)
    assert.equal(after.image_size_total.limit, -1)
  })
})

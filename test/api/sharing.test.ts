import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { imageClient, issueToken } from '../helpers/client.js'
import { createTenant, startServer, type RunningServer, type Tenant } from '../helpers/server.js'
import { createImage, getImage, type ImageClient } from './fixtures.js'

let server: RunningServer
let adminApi: ImageClient
let tenantA: Tenant
let tenantB: Tenant
let apiA: ImageClient
let apiB: ImageClient

before(async () => {
  server = await startServer()
  adminApi = imageClient(server, await issueToken(server))
  tenantA = await createTenant(server, 'tenant-a')
  tenantB = await createTenant(server, 'tenant-b')
  apiA = imageClient(server, await issueToken(server, tenantA))
  apiB = imageClient(server, await issueToken(server, tenantB))
})

after(async () => {
  await server?.stop()
})

async function listedIds(api: ImageClient, query = ''): Promise<string[]> {
  const response = await api('GET', `/v2/images${query}`)
  assert.equal(response.status, 200, response.text())
  return response.json().images.map((image: { id: string }) => image.id)
}

function setMemberStatus(api: ImageClient, imageId: string, memberId: string, status: string) {
  return api('PUT', `/v2/images/${imageId}/members/${memberId}`, { body: { status } })
}

describe('private image of another project', () => {
  it('is a 404, not a 403, and is not listed', async () => {
    const image = await createImage(apiA, { name: 'a-private', visibility: 'private' })

    const response = await apiB('GET', `/v2/images/${image.id}`)
    assert.equal(response.status, 404)
    assert.equal(response.json().code, '404 Not Found')
    assert.equal((await apiB('GET', `/v2/images/${image.id}/file`)).status, 404)
    assert.equal((await apiB('DELETE', `/v2/images/${image.id}`)).status, 404)
    assert.equal((await listedIds(apiB)).includes(image.id), false)
    assert.equal((await listedIds(apiB, '?visibility=all')).includes(image.id), false)
  })

  it('is visible to its owner and to an admin', async () => {
    const image = await createImage(apiA, { name: 'a-private-own', visibility: 'private' })
    assert.equal((await getImage(apiA, image.id)).owner, tenantA.projectId)
    assert.equal((await getImage(adminApi, image.id)).id, image.id)
    assert.ok((await listedIds(apiA)).includes(image.id))
  })

  it('rejects a member with 403', async () => {
    const image = await createImage(apiA, { name: 'a-private-members', visibility: 'private' })
    const response = await apiA('POST', `/v2/images/${image.id}/members`, {
      body: { member: tenantB.projectId },
    })
    assert.equal(response.status, 403)
    assert.equal((await apiB('GET', `/v2/images/${image.id}`)).status, 404)
  })
})

describe('shared image with a member', () => {
  let imageId: string

  before(async () => {
    const image = await createImage(apiA, { name: 'a-shared', visibility: 'shared' })
    imageId = image.id
  })

  it('is a 404 for the other project before it is shared', async () => {
    assert.equal((await apiB('GET', `/v2/images/${imageId}`)).status, 404)
  })

  it('adds the member as pending', async () => {
    const response = await apiA('POST', `/v2/images/${imageId}/members`, {
      body: { member: tenantB.projectId },
    })
    assert.equal(response.status, 200, response.text())
    const member = response.json()
    assert.equal(member.image_id, imageId)
    assert.equal(member.member_id, tenantB.projectId)
    assert.equal(member.status, 'pending')

    const members = (await apiA('GET', `/v2/images/${imageId}/members`)).json().members
    assert.deepEqual(
      members.map((m: { member_id: string }) => m.member_id),
      [tenantB.projectId],
    )
  })

  it('rejects member ids that cannot appear in a URL path', async () => {
    for (const member of ['.', '..', 'a/b']) {
      const response = await apiA('POST', `/v2/images/${imageId}/members`, { body: { member } })
      assert.equal(response.status, 400, member)
      assert.match(response.json().message, /is not a valid project id/)
    }
    const members = (await apiA('GET', `/v2/images/${imageId}/members`)).json().members
    assert.equal(members.length, 1)
  })

  it('is readable by the member while pending', async () => {
    assert.equal((await getImage(apiB, imageId)).id, imageId)
  })

  it('is listed for the member only after accepting', async () => {
    assert.equal((await listedIds(apiB)).includes(imageId), false)

    const response = await setMemberStatus(apiB, imageId, tenantB.projectId, 'accepted')
    assert.equal(response.status, 200, response.text())
    assert.equal(response.json().status, 'accepted')
    assert.ok((await listedIds(apiB)).includes(imageId))
  })

  it('rejects a status change by the owner with 403', async () => {
    const response = await setMemberStatus(apiA, imageId, tenantB.projectId, 'rejected')
    assert.equal(response.status, 403)

    const member = await apiB('GET', `/v2/images/${imageId}/members/${tenantB.projectId}`)
    assert.equal(member.status, 200)
    assert.equal(member.json().status, 'accepted')
  })

  it('rejects a delete by the member with 403', async () => {
    const response = await apiB('DELETE', `/v2/images/${imageId}`)
    assert.equal(response.status, 403)
    assert.equal((await getImage(apiA, imageId)).status, 'queued')
  })

  it('rejects an upload by the member with 403', async () => {
    const response = await apiB('PUT', `/v2/images/${imageId}/file`, {
      body: Buffer.alloc(1024, 1),
      headers: { 'content-type': 'application/octet-stream' },
    })
    assert.equal(response.status, 403)
    assert.equal((await getImage(apiA, imageId)).status, 'queued')
  })

  it('rejects an update by the member with 403', async () => {
    const response = await apiB('PATCH', `/v2/images/${imageId}`, {
      body: [{ op: 'replace', path: '/name', value: 'taken-over' }],
      headers: { 'content-type': 'application/openstack-images-v2.1-json-patch' },
    })
    assert.equal(response.status, 403)
    assert.equal((await getImage(apiA, imageId)).name, 'a-shared')
  })

  it('is a 404 again after the owner removes the member', async () => {
    const removed = await apiA('DELETE', `/v2/images/${imageId}/members/${tenantB.projectId}`)
    assert.equal(removed.status, 204)
    assert.equal((await apiB('GET', `/v2/images/${imageId}`)).status, 404)
    assert.equal((await listedIds(apiB)).includes(imageId), false)
  })
})

describe('community image', () => {
  it('is readable but listed only on request', async () => {
    const image = await createImage(apiA, { name: 'a-community', visibility: 'community' })

    assert.equal((await getImage(apiB, image.id)).visibility, 'community')
    assert.equal((await listedIds(apiB)).includes(image.id), false)
    assert.ok((await listedIds(apiB, '?visibility=community')).includes(image.id))
    assert.ok((await listedIds(apiA)).includes(image.id), 'the owner lists its own image')
  })
})

describe('public image', () => {
  it('is readable and listed for every project', async () => {
    const image = await createImage(adminApi, { name: 'admin-public', visibility: 'public' })

    for (const api of [apiA, apiB]) {
      assert.equal((await getImage(api, image.id)).visibility, 'public')
      assert.ok((await listedIds(api)).includes(image.id))
      assert.ok((await listedIds(api, '?visibility=public')).includes(image.id))
    }
  })

  it('cannot be deleted by a project that does not own it', async () => {
    const image = await createImage(adminApi, { name: 'admin-public-keep', visibility: 'public' })
    assert.equal((await apiA('DELETE', `/v2/images/${image.id}`)).status, 403)
    assert.equal((await getImage(adminApi, image.id)).id, image.id)
  })
})

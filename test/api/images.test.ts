import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { imageClient, issueToken } from '../helpers/client.js'
import { createTenant, startServer, type RunningServer } from '../helpers/server.js'
import {
  createActiveImage,
  createImage,
  getImage,
  storeEntries,
  tokenInfo,
  type ImageClient,
} from './fixtures.js'

const baseFields = [
  'id',
  'name',
  'status',
  'visibility',
  'protected',
  'os_hidden',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'size',
  'virtual_size',
  'disk_format',
  'container_format',
  'min_disk',
  'min_ram',
  'owner',
  'created_at',
  'updated_at',
  'tags',
  'self',
  'file',
  'schema',
]

const patchV21 = 'application/openstack-images-v2.1-json-patch'
const patchV20 = 'application/openstack-images-v2.0-json-patch'
const isoSecond = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/

let server: RunningServer
let adminApi: ImageClient
let memberApi: ImageClient
let adminProjectId: string
let adminToken: string

before(async () => {
  server = await startServer()
  adminToken = await issueToken(server)
  adminApi = imageClient(server, adminToken)
  adminProjectId = (await tokenInfo(server, adminToken)).project.id
  const tenant = await createTenant(server, 'images-member')
  memberApi = imageClient(server, await issueToken(server, tenant))
})

after(async () => {
  await server?.stop()
})

/** Lists the images with this exact name, as listed for the admin. */
async function namedImages(name: string) {
  const response = await adminApi('GET', `/v2/images?name=${encodeURIComponent(name)}`)
  assert.equal(response.status, 200)
  return response.json().images as { id: string }[]
}

function patch(id: string, operations: unknown[], contentType = patchV21) {
  return adminApi('PATCH', `/v2/images/${id}`, {
    body: operations,
    headers: { 'content-type': contentType },
  })
}

describe('image create', () => {
  it('sets defaults and shows every base field', async () => {
    const response = await adminApi('POST', '/v2/images', { body: { name: 'defaults' } })
    assert.equal(response.status, 201)
    const image = response.json()

    for (const field of baseFields) assert.ok(field in image, `field ${field} is missing`)
    assert.match(image.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    assert.equal(image.name, 'defaults')
    assert.equal(image.status, 'queued')
    assert.equal(image.visibility, 'shared')
    assert.equal(image.protected, false)
    assert.equal(image.os_hidden, false)
    for (const field of ['checksum', 'os_hash_algo', 'os_hash_value', 'size', 'virtual_size']) {
      assert.equal(image[field], null, `${field} should be null`)
    }
    assert.equal(image.disk_format, null)
    assert.equal(image.container_format, null)
    assert.equal(image.min_disk, 0)
    assert.equal(image.min_ram, 0)
    assert.equal(image.owner, adminProjectId)
    assert.match(image.created_at, isoSecond)
    assert.match(image.updated_at, isoSecond)
    assert.deepEqual(image.tags, [])
    assert.equal(image.self, `/v2/images/${image.id}`)
    assert.equal(image.file, `/v2/images/${image.id}/file`)
    assert.equal(image.schema, '/v2/schemas/image')
    assert.equal(response.headers.location, `/v2/images/${image.id}`)

    assert.deepEqual(await getImage(adminApi, image.id), image)
  })

  it('leaves name null when it is not given', async () => {
    const image = await createImage(adminApi, {})
    assert.equal(image.name, null)
  })

  it('stores extra string properties at the top level', async () => {
    const image = await createImage(adminApi, {
      name: 'with-properties',
      os_distro: 'ubuntu',
      hw_disk_bus: 'virtio',
    })
    assert.equal(image.os_distro, 'ubuntu')
    assert.equal(image.hw_disk_bus, 'virtio')

    const stored = await getImage(adminApi, image.id)
    assert.equal(stored.os_distro, 'ubuntu')
    assert.equal(stored.hw_disk_bus, 'virtio')
  })

  it('uses an id given by the client', async () => {
    const id = randomUUID()
    const image = await createImage(adminApi, { id, name: 'explicit-id' })
    assert.equal(image.id, id)
    assert.equal((await getImage(adminApi, id)).name, 'explicit-id')
  })

  it('rejects an id already in use with 409', async () => {
    const id = randomUUID()
    await createImage(adminApi, { id, name: 'first-owner' })
    const second = await adminApi('POST', '/v2/images', { body: { id, name: 'second-owner' } })
    assert.equal(second.status, 409)
    assert.equal((await getImage(adminApi, id)).name, 'first-owner')
  })

  it("rejects a deleted image's id with 409", async () => {
    const id = randomUUID()
    await createImage(adminApi, { id, name: 'deleted-id' })
    assert.equal((await adminApi('DELETE', `/v2/images/${id}`)).status, 204)

    const again = await adminApi('POST', '/v2/images', { body: { id, name: 'deleted-id-reuse' } })
    assert.equal(again.status, 409)
    assert.equal((await adminApi('GET', `/v2/images/${id}`)).status, 404)
  })

  it('rejects an id that is not a UUID with 400', async () => {
    const response = await adminApi('POST', '/v2/images', { body: { id: 'not-a-uuid' } })
    assert.equal(response.status, 400)
  })

  for (const attribute of ['size', 'status', 'checksum', 'os_hash_value', 'virtual_size']) {
    it(`rejects read-only ${attribute} with 403`, async () => {
      const name = `read-only-${attribute}`
      const value = attribute === 'size' || attribute === 'virtual_size' ? 10 : 'x'
      const response = await adminApi('POST', '/v2/images', { body: { name, [attribute]: value } })

      assert.equal(response.status, 403)
      assert.match(response.json().message, new RegExp(`\\b${attribute}\\b`))
      assert.deepEqual(await namedImages(name), [])
    })
  }

  for (const attribute of ['deleted', 'os_glance_x']) {
    it(`rejects reserved ${attribute} with 403`, async () => {
      const name = `reserved-${attribute}`
      const response = await adminApi('POST', '/v2/images', { body: { name, [attribute]: 'x' } })

      assert.equal(response.status, 403)
      assert.match(response.json().message, new RegExp(attribute))
      assert.deepEqual(await namedImages(name), [])
    })
  }

  it('rejects a non-string property with 400', async () => {
    const name = 'numeric-property'
    const response = await adminApi('POST', '/v2/images', { body: { name, hw_cpu_cores: 4 } })
    assert.equal(response.status, 400)
    assert.match(response.json().message, /hw_cpu_cores/)
    assert.deepEqual(await namedImages(name), [])
  })

  it('rejects an unknown disk_format with 400', async () => {
    const name = 'bad-disk-format'
    const response = await adminApi('POST', '/v2/images', {
      body: { name, disk_format: 'floppy', container_format: 'bare' },
    })
    assert.equal(response.status, 400)
    assert.deepEqual(await namedImages(name), [])
  })

  it('rejects public visibility from a member with 403', async () => {
    const name = 'member-public'
    const response = await memberApi('POST', '/v2/images', { body: { name, visibility: 'public' } })
    assert.equal(response.status, 403)
    assert.deepEqual(await namedImages(name), [])
  })

  it('creates a public image for an admin', async () => {
    const image = await createImage(adminApi, { name: 'admin-public', visibility: 'public' })
    assert.equal(image.visibility, 'public')
    assert.equal((await getImage(memberApi, image.id)).visibility, 'public')
  })
})

describe('image update with the v2.1 patch type', () => {
  it('replaces the name', async () => {
    const image = await createImage(adminApi, { name: 'before-rename' })
    const response = await patch(image.id, [{ op: 'replace', path: '/name', value: 'x' }])

    assert.equal(response.status, 200)
    assert.equal(response.json().name, 'x')
    assert.equal((await getImage(adminApi, image.id)).name, 'x')
  })

  it('adds and removes a property', async () => {
    const image = await createImage(adminApi, { name: 'property-patch' })
    const added = await patch(image.id, [{ op: 'add', path: '/os_distro', value: 'debian' }])
    assert.equal(added.status, 200)
    assert.equal(added.json().os_distro, 'debian')
    assert.equal((await getImage(adminApi, image.id)).os_distro, 'debian')

    const removed = await patch(image.id, [{ op: 'remove', path: '/os_distro' }])
    assert.equal(removed.status, 200)
    assert.equal('os_distro' in removed.json(), false)
    assert.equal('os_distro' in (await getImage(adminApi, image.id)), false)
  })

  it('replaces the tags', async () => {
    const image = await createImage(adminApi, { name: 'tag-patch', tags: ['old'] })
    const response = await patch(image.id, [{ op: 'replace', path: '/tags', value: ['a', 'b'] }])

    assert.equal(response.status, 200)
    assert.deepEqual([...response.json().tags].sort(), ['a', 'b'])
    assert.deepEqual([...(await getImage(adminApi, image.id)).tags].sort(), ['a', 'b'])
  })

  it('applies several operations in order', async () => {
    const image = await createImage(adminApi, { name: 'multi-patch' })
    const response = await patch(image.id, [
      { op: 'add', path: '/os_version', value: '12' },
      { op: 'replace', path: '/os_version', value: '13' },
      { op: 'replace', path: '/min_ram', value: 512 },
    ])
    assert.equal(response.status, 200)
    const stored = await getImage(adminApi, image.id)
    assert.equal(stored.os_version, '13')
    assert.equal(stored.min_ram, 512)
  })

  it('rejects a replace of a missing property with 409', async () => {
    const image = await createImage(adminApi, { name: 'replace-missing' })
    const response = await patch(image.id, [{ op: 'replace', path: '/os_distro', value: 'x' }])

    assert.equal(response.status, 409)
    assert.equal('os_distro' in (await getImage(adminApi, image.id)), false)
  })

  it('rejects a replace of /size with 403', async () => {
    const image = await createImage(adminApi, { name: 'replace-size' })
    const response = await patch(image.id, [{ op: 'replace', path: '/size', value: 5 }])

    assert.equal(response.status, 403)
    assert.match(response.json().message, /size/)
    assert.equal((await getImage(adminApi, image.id)).size, null)
  })

  it('rejects a disk_format change on an active image with 403', async () => {
    const image = await createActiveImage(server, adminToken, randomBytes(4096), {
      name: 'active-format',
    })
    const response = await patch(image.id, [
      { op: 'replace', path: '/disk_format', value: 'qcow2' },
    ])

    assert.equal(response.status, 403)
    assert.equal((await getImage(adminApi, image.id)).disk_format, 'raw')
  })

  it('changes nothing when one operation of several fails', async () => {
    const image = await createImage(adminApi, { name: 'atomic-patch' })
    const response = await patch(image.id, [
      { op: 'replace', path: '/name', value: 'renamed' },
      { op: 'replace', path: '/checksum', value: 'x' },
    ])
    assert.equal(response.status, 403)
    assert.equal((await getImage(adminApi, image.id)).name, 'atomic-patch')
  })
})

describe('image update with the v2.0 patch type', () => {
  it('replaces the name', async () => {
    const image = await createImage(adminApi, { name: 'legacy-rename' })
    const response = await patch(image.id, [{ replace: '/name', value: 'x' }], patchV20)

    assert.equal(response.status, 200)
    assert.equal(response.json().name, 'x')
    assert.equal((await getImage(adminApi, image.id)).name, 'x')
  })
})

describe('image update with another content type', () => {
  it('returns 415 with an Accept-Patch header', async () => {
    const image = await createImage(adminApi, { name: 'json-patch-type' })
    const response = await patch(
      image.id,
      [{ op: 'replace', path: '/name', value: 'x' }],
      'application/json',
    )

    assert.equal(response.status, 415)
    const acceptPatch = String(response.headers['accept-patch'])
    assert.match(acceptPatch, /application\/openstack-images-v2\.1-json-patch/)
    assert.match(acceptPatch, /application\/openstack-images-v2\.0-json-patch/)
    assert.equal((await getImage(adminApi, image.id)).name, 'json-patch-type')
  })
})

describe('image tags', () => {
  it('adds a tag with 204, once only', async () => {
    const image = await createImage(adminApi, { name: 'tag-put' })
    assert.equal((await adminApi('PUT', `/v2/images/${image.id}/tags/blue`)).status, 204)
    assert.equal((await adminApi('PUT', `/v2/images/${image.id}/tags/blue`)).status, 204)
    assert.deepEqual((await getImage(adminApi, image.id)).tags, ['blue'])
  })

  it('deletes a tag with 204', async () => {
    const image = await createImage(adminApi, { name: 'tag-delete', tags: ['red', 'green'] })
    assert.equal((await adminApi('DELETE', `/v2/images/${image.id}/tags/red`)).status, 204)
    assert.deepEqual((await getImage(adminApi, image.id)).tags, ['green'])
  })

  it('returns 404 for a missing tag', async () => {
    const image = await createImage(adminApi, { name: 'tag-missing', tags: ['red'] })
    assert.equal((await adminApi('DELETE', `/v2/images/${image.id}/tags/blue`)).status, 404)
    assert.deepEqual((await getImage(adminApi, image.id)).tags, ['red'])
  })
})

describe('protected image', () => {
  it('rejects delete with 403 until protected is false', async () => {
    const image = await createActiveImage(server, adminToken, randomBytes(8192), {
      name: 'protected',
      protected: true,
    })
    assert.ok((await storeEntries(server.dataDir)).entries.includes(image.id))

    const rejected = await adminApi('DELETE', `/v2/images/${image.id}`)
    assert.equal(rejected.status, 403)
    assert.match(rejected.json().message, /protected/)
    assert.equal((await getImage(adminApi, image.id)).status, 'active')
    assert.ok((await storeEntries(server.dataDir)).entries.includes(image.id))

    const unprotect = await patch(image.id, [{ op: 'replace', path: '/protected', value: false }])
    assert.equal(unprotect.status, 200)
    assert.equal((await adminApi('DELETE', `/v2/images/${image.id}`)).status, 204)
    assert.equal((await adminApi('GET', `/v2/images/${image.id}`)).status, 404)
    assert.equal((await storeEntries(server.dataDir)).entries.includes(image.id), false)
  })
})

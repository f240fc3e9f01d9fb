import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { imageClient, issueToken } from '../helpers/client.js'
import { createTenant, startServer, type RunningServer } from '../helpers/server.js'
import type { ImageClient } from './fixtures.js'

let server: RunningServer
let adminApi: ImageClient
let memberApi: ImageClient

before(async () => {
  server = await startServer()
  adminApi = imageClient(server, await issueToken(server))
  const tenant = await createTenant(server, 'metadefs')
  memberApi = imageClient(server, await issueToken(server, tenant))
})

after(async () => {
  await server?.stop()
})

const namespaces = '/v2/metadefs/namespaces'

/** Creates a namespace as admin and returns its name. */
async function createNamespace(name: string, fields: Record<string, unknown> = {}) {
  const response = await adminApi('POST', namespaces, {
    body: { namespace: name, visibility: 'public', ...fields },
  })
  assert.equal(response.status, 201, response.text())
  return name
}

describe('metadef schemas', () => {
  const expectedNames: Record<string, string> = {
    namespace: 'namespace',
    namespaces: 'namespaces',
    object: 'object',
    objects: 'objects',
    property: 'property',
    properties: 'properties',
    resource_type: 'resource_type_association',
    resource_types: 'resource_type_associations',
    tag: 'tag',
    tags: 'tags',
  }

  for (const [path, name] of Object.entries(expectedNames)) {
    it(`names the ${path} schema ${name}`, async () => {
      const response = await memberApi('GET', `/v2/schemas/metadefs/${path}`)
      assert.equal(response.status, 200)
      assert.equal(response.json().name, name)
    })
  }

  it('returns 404 for an unknown schema', async () => {
    const response = await memberApi('GET', '/v2/schemas/metadefs/nothing')
    assert.equal(response.status, 404)
  })
})

describe('metadef namespaces', () => {
  it('creates, shows, lists, updates and deletes', async () => {
    const created = await adminApi('POST', namespaces, {
      body: { namespace: 'ns-crud', display_name: 'CRUD', description: 'd', visibility: 'public' },
    })
    assert.equal(created.status, 201)
    assert.equal(created.json().self, '/v2/metadefs/namespaces/ns-crud')
    assert.equal(created.json().schema, '/v2/schemas/metadefs/namespace')
    assert.equal(created.json().protected, false)
    assert.equal(typeof created.json().owner, 'string')

    const shown = await memberApi('GET', `${namespaces}/ns-crud`)
    assert.equal(shown.status, 200)
    assert.equal(shown.json().display_name, 'CRUD')

    const listed = await memberApi('GET', namespaces)
    const names = listed.json().namespaces.map((ns: { namespace: string }) => ns.namespace)
    assert.ok(names.includes('ns-crud'))

    const updated = await adminApi('PUT', `${namespaces}/ns-crud`, {
      body: { namespace: 'ns-crud', description: 'changed', visibility: 'private' },
    })
    assert.equal(updated.status, 200)
    assert.equal(updated.json().description, 'changed')
    assert.equal(updated.json().visibility, 'private')
    assert.equal(updated.json().display_name, 'CRUD')

    const deleted = await adminApi('DELETE', `${namespaces}/ns-crud`)
    assert.equal(deleted.status, 204)
    assert.equal((await adminApi('GET', `${namespaces}/ns-crud`)).status, 404)
  })

  it('renames a namespace with its definitions', async () => {
    await createNamespace('ns-old', { tags: [{ name: 'kept' }] })
    const renamed = await adminApi('PUT', `${namespaces}/ns-old`, {
      body: { namespace: 'ns-new' },
    })
    assert.equal(renamed.status, 200)
    assert.equal((await adminApi('GET', `${namespaces}/ns-old`)).status, 404)

    const tags = await adminApi('GET', `${namespaces}/ns-new/tags`)
    assert.deepEqual(
      tags.json().tags.map((tag: { name: string }) => tag.name),
      ['kept'],
    )
  })

  it('rejects deleting a protected namespace with 403', async () => {
    await createNamespace('ns-protected', { protected: true })
    const response = await adminApi('DELETE', `${namespaces}/ns-protected`)
    assert.equal(response.status, 403)
    assert.equal((await adminApi('GET', `${namespaces}/ns-protected`)).status, 200)
  })

  it('hides a private namespace from other projects', async () => {
    await createNamespace('ns-private', { visibility: 'private' })
    assert.equal((await memberApi('GET', `${namespaces}/ns-private`)).status, 404)
    assert.equal((await memberApi('GET', `${namespaces}/ns-private/objects`)).status, 404)

    const listed = await memberApi('GET', namespaces)
    const names = listed.json().namespaces.map((ns: { namespace: string }) => ns.namespace)
    assert.ok(!names.includes('ns-private'))
    assert.equal((await adminApi('GET', `${namespaces}/ns-private`)).status, 200)
  })

  it('rejects creation by a member with 403', async () => {
    const response = await memberApi('POST', namespaces, { body: { namespace: 'ns-member' } })
    assert.equal(response.status, 403)
  })

  it('rejects a duplicate name with 409', async () => {
    await createNamespace('ns-twice')
    const response = await adminApi('POST', namespaces, { body: { namespace: 'ns-twice' } })
    assert.equal(response.status, 409)
  })

  it('rejects an invalid visibility with 400', async () => {
    const response = await adminApi('POST', namespaces, {
      body: { namespace: 'ns-bad', visibility: 'shared' },
    })
    assert.equal(response.status, 400)
  })

  it('shows nested definitions', async () => {
    await createNamespace('ns-nested', {
      resource_type_associations: [{ name: 'OS::Glance::Image', prefix: 'hw_' }],
      objects: [{ name: 'cpu', properties: { cores: { title: 'Cores', type: 'integer' } } }],
      properties: { speed: { title: 'Speed', type: 'number' } },
      tags: [{ name: 't1' }],
    })
    const body = (await adminApi('GET', `${namespaces}/ns-nested`)).json()
    assert.equal(body.resource_type_associations[0].name, 'OS::Glance::Image')
    assert.equal(body.resource_type_associations[0].prefix, 'hw_')
    assert.equal(body.objects[0].name, 'cpu')
    assert.equal(body.objects[0].properties.cores.type, 'integer')
    assert.deepEqual(body.properties.speed, { title: 'Speed', type: 'number' })
    assert.deepEqual(body.tags, [{ name: 't1' }])
  })
})

describe('metadef resource types', () => {
  it('lists the built-in types', async () => {
    const response = await memberApi('GET', '/v2/metadefs/resource_types')
    assert.equal(response.status, 200)
    const names = response.json().resource_types.map((type: { name: string }) => type.name)
    for (const name of ['OS::Glance::Image', 'OS::Cinder::Volume', 'OS::Nova::Flavor']) {
      assert.ok(names.includes(name), name)
    }
  })

  it('associates and dissociates a type', async () => {
    const ns = await createNamespace('ns-assoc')
    const path = `${namespaces}/${ns}/resource_types`
    const created = await adminApi('POST', path, {
      body: { name: 'OS::Nova::Flavor', prefix: 'hw:', properties_target: 'image' },
    })
    assert.equal(created.status, 201)
    assert.equal(created.json().properties_target, 'image')

    const listed = (await adminApi('GET', path)).json().resource_type_associations
    assert.deepEqual(
      listed.map((a: { name: string; prefix: string }) => [a.name, a.prefix]),
      [['OS::Nova::Flavor', 'hw:']],
    )
    assert.equal((await adminApi('POST', path, { body: { name: 'OS::Nova::Flavor' } })).status, 409)

    const deleted = await adminApi('DELETE', `${path}/${encodeURIComponent('OS::Nova::Flavor')}`)
    assert.equal(deleted.status, 204)
    assert.deepEqual((await adminApi('GET', path)).json().resource_type_associations, [])
  })

  it('rejects an unknown type with 404', async () => {
    const ns = await createNamespace('ns-assoc-unknown')
    const response = await adminApi('POST', `${namespaces}/${ns}/resource_types`, {
      body: { name: 'OS::Nowhere::Thing' },
    })
    assert.equal(response.status, 404)
  })
})

describe('metadef objects', () => {
  it('creates, shows, renames and deletes', async () => {
    const ns = await createNamespace('ns-objects')
    const path = `${namespaces}/${ns}/objects`
    const created = await adminApi('POST', path, {
      body: { name: 'obj', description: 'o', required: ['a'], properties: {} },
    })
    assert.equal(created.status, 201)
    assert.equal(created.json().self, `${path}/obj`)
    assert.equal(created.json().schema, '/v2/schemas/metadefs/object')
    assert.deepEqual(created.json().required, ['a'])

    assert.equal((await adminApi('GET', `${path}/obj`)).json().description, 'o')
    const renamed = await adminApi('PUT', `${path}/obj`, { body: { name: 'obj2' } })
    assert.equal(renamed.status, 200)
    assert.equal(renamed.json().name, 'obj2')
    assert.equal((await adminApi('GET', `${path}/obj`)).status, 404)

    assert.equal((await adminApi('DELETE', `${path}/obj2`)).status, 204)
    assert.deepEqual((await adminApi('GET', path)).json().objects, [])
  })

  it('rejects a duplicate with 409', async () => {
    const ns = await createNamespace('ns-objects-twice')
    const path = `${namespaces}/${ns}/objects`
    assert.equal((await adminApi('POST', path, { body: { name: 'x' } })).status, 201)
    assert.equal((await adminApi('POST', path, { body: { name: 'x' } })).status, 409)
  })

  it('returns 404 for a missing object', async () => {
    const ns = await createNamespace('ns-objects-missing')
    const response = await adminApi('GET', `${namespaces}/${ns}/objects/none`)
    assert.equal(response.status, 404)
  })
})

describe('metadef properties', () => {
  it('stores the document as given', async () => {
    const ns = await createNamespace('ns-props')
    const path = `${namespaces}/${ns}/properties`
    const document = { title: 'Hypervisor', type: 'string', enum: ['kvm', 'xen'], default: 'kvm' }
    const created = await adminApi('POST', path, { body: { name: 'hv', ...document } })
    assert.equal(created.status, 201)
    assert.deepEqual(created.json(), { name: 'hv', ...document })

    assert.deepEqual((await adminApi('GET', path)).json().properties, { hv: document })
    const updated = await adminApi('PUT', `${path}/hv`, {
      body: { name: 'hv', title: 'HV', type: 'string' },
    })
    assert.equal(updated.json().title, 'HV')
    assert.equal(updated.json().enum, undefined)

    assert.equal((await adminApi('DELETE', `${path}/hv`)).status, 204)
    assert.equal((await adminApi('GET', `${path}/hv`)).status, 404)
  })

  it('rejects a property without a valid type with 400', async () => {
    const ns = await createNamespace('ns-props-bad')
    const response = await adminApi('POST', `${namespaces}/${ns}/properties`, {
      body: { name: 'p', title: 'P', type: 'text' },
    })
    assert.equal(response.status, 400)
  })
})

describe('metadef tags', () => {
  it('creates several, then adds, renames and deletes one', async () => {
    const ns = await createNamespace('ns-tags')
    const path = `${namespaces}/${ns}/tags`
    const bulk = await adminApi('POST', path, { body: { tags: [{ name: 'a' }, { name: 'b' }] } })
    assert.equal(bulk.status, 201)
    assert.deepEqual(bulk.json(), { tags: [{ name: 'a' }, { name: 'b' }] })

    assert.equal((await adminApi('POST', `${path}/c`)).status, 201)
    const renamed = await adminApi('PUT', `${path}/c`, { body: { name: 'd' } })
    assert.equal(renamed.json().name, 'd')
    assert.equal((await adminApi('DELETE', `${path}/a`)).status, 204)

    const names = (await adminApi('GET', path)).json().tags.map((tag: { name: string }) => tag.name)
    assert.deepEqual(names, ['b', 'd'])
  })

  it('replaces tags unless appending', async () => {
    const ns = await createNamespace('ns-tags-replace', { tags: [{ name: 'old' }] })
    const path = `${namespaces}/${ns}/tags`
    await adminApi('POST', path, { body: { tags: [{ name: 'new' }] } })
    await adminApi('POST', path, {
      headers: { 'x-openstack-append': 'true' },
      body: { tags: [{ name: 'more' }] },
    })
    const names = (await adminApi('GET', path)).json().tags.map((tag: { name: string }) => tag.name)
    assert.deepEqual(names, ['more', 'new'])
  })

  it('rejects a duplicate with 409', async () => {
    const ns = await createNamespace('ns-tags-twice')
    const path = `${namespaces}/${ns}/tags`
    assert.equal((await adminApi('POST', `${path}/x`)).status, 201)
    assert.equal((await adminApi('POST', `${path}/x`)).status, 409)
    const twice = await adminApi('POST', path, { body: { tags: [{ name: 'y' }, { name: 'y' }] } })
    assert.equal(twice.status, 409)
  })

  it('deletes all tags', async () => {
    const ns = await createNamespace('ns-tags-clear', { tags: [{ name: 'a' }, { name: 'b' }] })
    const path = `${namespaces}/${ns}/tags`
    assert.equal((await adminApi('DELETE', path)).status, 204)
    assert.deepEqual((await adminApi('GET', path)).json().tags, [])
  })

  it('rejects deleting from a protected namespace with 403', async () => {
    const ns = await createNamespace('ns-tags-protected', {
      protected: true,
      tags: [{ name: 'a' }],
    })
    assert.equal((await adminApi('DELETE', `${namespaces}/${ns}/tags/a`)).status, 403)
  })

  it('rejects writes by a member with 403', async () => {
    const ns = await createNamespace('ns-tags-member')
    assert.equal((await memberApi('POST', `${namespaces}/${ns}/tags/x`)).status, 403)
  })
})

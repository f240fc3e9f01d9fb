import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { resolveConnectionConfig } from './connection-config.js'
import { CliError } from './errors.js'
import { buildPasswordAuthRequest, selectImageEndpoints, type CatalogService } from './session.js'

const catalog: CatalogService[] = [
  {
    type: 'image',
    endpoints: [
      { interface: 'public', region_id: 'RegionOne', url: 'https://one.example:9292/' },
      { interface: 'internal', region_id: 'RegionOne', url: 'http://10.0.0.1:9292' },
      { interface: 'public', region: 'RegionTwo', url: 'https://two.example:9292/v2' },
    ],
  },
  { type: 'identity', endpoints: [{ interface: 'public', url: 'https://one.example:5000/v3' }] },
]

describe('selectImageEndpoints', () => {
  it('lists the interface in every region when none is set', () => {
    assert.deepEqual(selectImageEndpoints(catalog, 'public', undefined), [
      'https://one.example:9292',
      'https://two.example:9292',
    ])
  })

  it('matches the region by region_id or region', () => {
    assert.deepEqual(selectImageEndpoints(catalog, 'internal', 'RegionOne'), [
      'http://10.0.0.1:9292',
    ])
    assert.deepEqual(selectImageEndpoints(catalog, 'public', 'RegionTwo'), [
      'https://two.example:9292',
    ])
  })

  it('lists the image endpoints that exist when none matches', () => {
    assert.throws(
      () => selectImageEndpoints(catalog, 'admin', 'RegionOne'),
      (error: unknown) => {
        assert.ok(error instanceof CliError)
        assert.match(error.message, /no image endpoint for interface 'admin' in region 'RegionOne'/)
        assert.match(error.message, /public in region RegionOne: https:\/\/one\.example:9292\//)
        assert.match(error.message, /internal in region RegionOne: http:\/\/10\.0\.0\.1:9292/)
        assert.match(error.message, /public in region RegionTwo/)
        return true
      },
    )
  })

  it('lists the service types when there is no image service', () => {
    assert.throws(
      () => selectImageEndpoints([catalog[1] as CatalogService], 'public', undefined),
      /no image service\. Service types in the catalog: identity/,
    )
  })
})

describe('buildPasswordAuthRequest', () => {
  it('scopes to a project by name and domain', () => {
    const config = resolveConnectionConfig(
      {},
      {
        OS_AUTH_URL: 'https://one.example:5000',
        OS_USERNAME: 'demo',
        OS_PASSWORD: 'secret',
        OS_PROJECT_NAME: 'demo',
        OS_USER_DOMAIN_NAME: 'Default',
        OS_PROJECT_DOMAIN_ID: 'default',
      },
    )
    assert.deepEqual(buildPasswordAuthRequest(config), {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'demo', domain: { name: 'Default' }, password: 'secret' } },
        },
        scope: { project: { name: 'demo', domain: { id: 'default' } } },
      },
    })
  })

  it('scopes to a project by id without a domain', () => {
    const config = resolveConnectionConfig(
      {},
      { OS_AUTH_URL: 'https://x', OS_USER_ID: 'u-1', OS_PASSWORD: 'p', OS_PROJECT_ID: 'p-1' },
    )
    assert.deepEqual(buildPasswordAuthRequest(config), {
      auth: {
        identity: { methods: ['password'], password: { user: { id: 'u-1', password: 'p' } } },
        scope: { project: { id: 'p-1' } },
      },
    })
  })
})

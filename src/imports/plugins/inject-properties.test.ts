import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { ServiceError } from '../../domain/errors.js'
import { injectProperties, validateInjectedProperties } from './inject-properties.js'

describe('injectProperties', () => {
  it('adds injected properties', () => {
    const merged = injectProperties({ os_distro: 'ubuntu' }, { hw_machine_type: 'q35' })
    assert.deepEqual(merged, { os_distro: 'ubuntu', hw_machine_type: 'q35' })
  })

  it('lets injected values override', () => {
    const merged = injectProperties(
      { os_distro: 'ubuntu', hw_machine_type: 'pc' },
      { hw_machine_type: 'q35' },
      { userRoles: ['member'] },
    )
    assert.deepEqual(merged, { os_distro: 'ubuntu', hw_machine_type: 'q35' })
  })

  it('leaves its arguments unchanged', () => {
    const properties = { os_distro: 'ubuntu' }
    const injected = { hw_machine_type: 'q35' }
    const merged = injectProperties(properties, injected)

    assert.notEqual(merged, properties)
    assert.deepEqual(properties, { os_distro: 'ubuntu' })
    assert.deepEqual(injected, { hw_machine_type: 'q35' })
  })

  it('skips users with an ignored role', () => {
    const properties = { os_distro: 'ubuntu' }
    const merged = injectProperties(
      properties,
      { hw_machine_type: 'q35' },
      {
        userRoles: ['member', 'admin'],
      },
    )

    assert.deepEqual(merged, { os_distro: 'ubuntu' })
    assert.notEqual(merged, properties)
  })

  it('uses configured ignored roles', () => {
    const injected = { hw_machine_type: 'q35' }
    const options = { ignoreUserRoles: ['image_manager'] }

    const forManager = injectProperties({}, injected, { ...options, userRoles: ['image_manager'] })
    const forAdmin = injectProperties({}, injected, { ...options, userRoles: ['admin'] })
    assert.deepEqual(forManager, {})
    assert.deepEqual(forAdmin, { hw_machine_type: 'q35' })
  })

  it('injects for every user when no role is ignored', () => {
    const merged = injectProperties(
      {},
      { hw_machine_type: 'q35' },
      {
        userRoles: ['admin'],
        ignoreUserRoles: [],
      },
    )
    assert.deepEqual(merged, { hw_machine_type: 'q35' })
  })

  it('keeps __proto__ as a property', () => {
    const injected = JSON.parse('{"__proto__": "value"}') as Record<string, string>
    const merged = injectProperties({}, injected)

    assert.equal(Object.getPrototypeOf(merged), Object.prototype)
    assert.deepEqual(Object.keys(merged), ['__proto__'])
    assert.equal(Object.getOwnPropertyDescriptor(merged, '__proto__')?.value, 'value')
  })

  it('rejects reserved names', () => {
    for (const name of ['os_glance_importing_to_stores', 'os_glance', 'deleted', 'location']) {
      assert.throws(() => injectProperties({}, { [name]: 'x' }), /the name is reserved/, name)
    }
  })

  it('rejects base image attributes', () => {
    const names = [
      'name',
      'id',
      'status',
      'visibility',
      'size',
      'virtual_size',
      'checksum',
      'owner',
      'disk_format',
      'container_format',
      'min_disk',
      'min_ram',
      'protected',
      'os_hidden',
      'tags',
      'created_at',
      'os_hash_value',
    ]
    for (const name of names) {
      assert.throws(() => injectProperties({}, { [name]: 'x' }), /is a base image attribute/, name)
    }
  })

  it('rejects invalid names even for ignored roles', () => {
    assert.throws(
      () => injectProperties({}, { owner: 'someone' }, { userRoles: ['admin'] }),
      /is a base image attribute/,
    )
  })

  it('rejects names and values over the limits', () => {
    assert.throws(() => injectProperties({}, { ['k'.repeat(256)]: 'x' }), /use 1 to 255/)
    assert.throws(() => injectProperties({}, { '': 'x' }), /use 1 to 255/)
    assert.throws(
      () => injectProperties({}, { big: 'v'.repeat(65536) }),
      /at most 65535 characters, got 65536 characters/,
    )
  })

  it('rejects more properties than allowed', () => {
    const properties = Object.fromEntries(
      Array.from({ length: 128 }, (_, index) => [`property_${index}`, 'x']),
    )

    assert.throws(
      () => injectProperties(properties, { hw_machine_type: 'q35' }),
      (error: unknown) => {
        assert.ok(error instanceof ServiceError)
        assert.equal(error.code, 'PAYLOAD_TOO_LARGE')
        assert.match(error.message, /129 properties/)
        return true
      },
    )
    const overridden = injectProperties(properties, { property_0: 'y' })
    assert.equal(overridden.property_0, 'y')
  })
})

describe('validateInjectedProperties', () => {
  it('accepts ordinary properties', () => {
    assert.doesNotThrow(() =>
      validateInjectedProperties({ hw_machine_type: 'q35', os_require_quiesce: 'true' }),
    )
  })

  it('rejects non-string values', () => {
    assert.throws(
      () => validateInjectedProperties({ hw_cpu_cores: 4 }),
      /expected a string of at most 65535 characters, got number/,
    )
  })
})

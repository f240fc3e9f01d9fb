import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { normalizeAuthUrl, resolveConnectionConfig } from './connection-config.js'
import { CliError, UsageError } from './errors.js'

const rcFile = {
  OS_AUTH_URL: 'https://cloud.example:5000/v3',
  OS_USERNAME: 'demo',
  OS_PASSWORD: 'secret',
  OS_PROJECT_NAME: 'demo',
  OS_USER_DOMAIN_NAME: 'Default',
  OS_PROJECT_DOMAIN_NAME: 'Default',
}

describe('resolveConnectionConfig', () => {
  it('reads an RC file with names and domains', () => {
    const config = resolveConnectionConfig({}, rcFile)
    assert.equal(config.authUrl, 'https://cloud.example:5000/v3')
    assert.deepEqual(config.user, { name: 'demo', domain: { name: 'Default' } })
    assert.deepEqual(config.project, { name: 'demo', domain: { name: 'Default' } })
    assert.equal(config.password, 'secret')
    assert.equal(config.endpointInterface, 'public')
    assert.equal(config.regionName, undefined)
    assert.equal(config.insecure, false)
  })

  it('lets flags override variables', () => {
    const config = resolveConnectionConfig(
      { osPassword: 'other', osProjectId: 'p-1', osInterface: 'internal', insecure: true },
      rcFile,
    )
    assert.equal(config.password, 'other')
    assert.deepEqual(config.project, { id: 'p-1' })
    assert.equal(config.endpointInterface, 'internal')
    assert.equal(config.insecure, true)
  })

  it('prefers domain ids over names and falls back to the default domain', () => {
    const config = resolveConnectionConfig(
      {},
      { ...rcFile, OS_USER_DOMAIN_NAME: '', OS_PROJECT_DOMAIN_NAME: '', OS_USER_DOMAIN_ID: 'd-7' },
    )
    assert.deepEqual(config.user, { name: 'demo', domain: { id: 'd-7' } })
    assert.deepEqual(config.project, { name: 'demo', domain: { id: 'default' } })
  })

  it('reads OS_INSECURE, OS_CACERT and OS_REGION_NAME', () => {
    const config = resolveConnectionConfig(
      {},
      { ...rcFile, OS_INSECURE: 'True', OS_CACERT: '/etc/ca.pem', OS_REGION_NAME: 'RegionTwo' },
    )
    assert.equal(config.insecure, true)
    assert.equal(config.caFile, '/etc/ca.pem')
    assert.equal(config.regionName, 'RegionTwo')
  })

  it('accepts the Keystone v2 interface names', () => {
    const config = resolveConnectionConfig({}, { ...rcFile, OS_INTERFACE: 'internalURL' })
    assert.equal(config.endpointInterface, 'internal')
  })

  it('rejects an unknown interface as bad usage', () => {
    assert.throws(
      () => resolveConnectionConfig({ osInterface: 'private' }, rcFile),
      (error: unknown) => error instanceof UsageError && error.message.includes("'private'"),
    )
  })

  it('names every missing variable and the RC file', () => {
    assert.throws(
      () => resolveConnectionConfig({}, { OS_USERNAME: 'demo' }),
      (error: unknown) => {
        assert.ok(error instanceof CliError)
        assert.equal(error.exitCode, 1)
        assert.match(error.message, /OS_AUTH_URL/)
        assert.match(error.message, /OS_PASSWORD/)
        assert.match(error.message, /OS_PROJECT_NAME or OS_PROJECT_ID/)
        assert.doesNotMatch(error.message, /OS_USERNAME/)
        assert.match(error.message, /RC file/)
        return true
      },
    )
  })

  it('rejects an auth type other than password', () => {
    assert.throws(
      () => resolveConnectionConfig({}, { ...rcFile, OS_AUTH_TYPE: 'v3applicationcredential' }),
      /OS_AUTH_TYPE=v3applicationcredential is not supported/,
    )
  })
})

describe('normalizeAuthUrl', () => {
  it('appends /v3 when it is missing', () => {
    assert.equal(normalizeAuthUrl('https://cloud.example:5000'), 'https://cloud.example:5000/v3')
    assert.equal(
      normalizeAuthUrl('https://cloud.example/identity/'),
      'https://cloud.example/identity/v3',
    )
  })

  it('keeps /v3 and drops a trailing slash', () => {
    assert.equal(
      normalizeAuthUrl('https://cloud.example:5000/v3/'),
      'https://cloud.example:5000/v3',
    )
  })

  it('rejects Keystone v2.0 and URLs that are not http', () => {
    assert.throws(() => normalizeAuthUrl('https://cloud.example:5000/v2.0'), /v2\.0/)
    assert.throws(() => normalizeAuthUrl('cloud.example:5000'), /Invalid OS_AUTH_URL/)
    assert.throws(() => normalizeAuthUrl('ftp://cloud.example'), /Invalid OS_AUTH_URL/)
  })
})

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { signPeerCall, verifyPeerCall } from './peer-auth.js'

describe('peer call signatures', () => {
  const secret = 'a'.repeat(64)
  const path = '/internal/v1/images/x/data'

  it('accepts a fresh signature and names the host', () => {
    const header = signPeerCall(secret, 'host-a', 'GET', path)
    assert.equal(verifyPeerCall(secret, header, 'GET', path), 'host-a')
  })

  it('rejects another secret, method, path or host', () => {
    const header = signPeerCall(secret, 'host-a', 'GET', path)
    assert.equal(verifyPeerCall('b'.repeat(64), header, 'GET', path), null)
    assert.equal(verifyPeerCall(secret, header, 'DELETE', path), null)
    assert.equal(verifyPeerCall(secret, header, 'GET', `${path}/other`), null)
    assert.equal(verifyPeerCall(secret, header.replace('host-a', 'host-b'), 'GET', path), null)
  })

  it('rejects old, malformed and missing headers', () => {
    const old = signPeerCall(secret, 'host-a', 'GET', path, Date.now() - 10 * 60 * 1000)
    assert.equal(verifyPeerCall(secret, old, 'GET', path), null)
    for (const header of [undefined, '', 'a;b', 'host;1;zz', 'host;notime;00']) {
      assert.equal(verifyPeerCall(secret, header, 'GET', path), null)
    }
  })
})

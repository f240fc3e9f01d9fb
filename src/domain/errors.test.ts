import assert from 'node:assert/strict'
import { STATUS_CODES } from 'node:http'
import { describe, it } from 'node:test'
import { errorCatalogue, ServiceError } from './errors.js'

describe('error catalogue', () => {
  it('uses UPPER_SNAKE codes with standard HTTP statuses', () => {
    for (const [code, entry] of Object.entries(errorCatalogue)) {
      assert.match(code, /^[A-Z]+(_[A-Z]+)*$/, code)
      assert.ok(STATUS_CODES[entry.status] !== undefined, `${code}: status ${entry.status}`)
      assert.ok(entry.status >= 400, `${code}: status ${entry.status}`)
      assert.ok(entry.status < 600, `${code}: status ${entry.status}`)
      assert.ok(entry.description.length > 10, `${code}: description`)
    }
  })

  it('gives each error the status of its code', () => {
    const error = new ServiceError('IMAGE_STATE_CONFLICT', 'busy')
    assert.equal(error.status, 409)
    assert.equal(error.title, 'Conflict')
    assert.equal(error.message, 'busy')
  })

  it('keeps the cause without putting it in the message', () => {
    const cause = new Error('disk /dev/sda1 failed')
    const error = new ServiceError('STORE_UNAVAILABLE', 'try later', { cause })
    assert.equal(error.cause, cause)
    assert.doesNotMatch(error.message, /sda1/)
  })
})

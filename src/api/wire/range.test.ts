import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { resolveRange } from '../../domain/image-service.js'
import { parseRange } from './range.js'

describe('byte ranges', () => {
  it('parses closed, open and suffix ranges', () => {
    assert.deepEqual(parseRange('bytes=10-19', undefined), { start: 10, end: 19 })
    assert.deepEqual(parseRange('bytes=10-', undefined), { start: 10, end: null })
    assert.deepEqual(parseRange('bytes=-5', undefined), { start: -5, end: null })
    assert.equal(parseRange(undefined, undefined), null)
  })

  it('accepts a request Content-Range as Glance does', () => {
    assert.deepEqual(parseRange(undefined, 'bytes 3-7/*'), { start: 3, end: 7 })
  })

  it('rejects several ranges and malformed ones with 416', () => {
    for (const header of ['bytes=0-1,5-6', 'bytes=9-3', 'items=0-1', 'bytes=-', 'bytes=-0']) {
      assert.throws(
        () => parseRange(header, undefined),
        (e: { status?: number }) => e.status === 416,
        header,
      )
    }
  })

  it('clips ranges to the data and rejects ranges past its end', () => {
    assert.deepEqual(resolveRange({ start: 0, end: 999 }, 100), { start: 0, end: 99 })
    assert.deepEqual(resolveRange({ start: -5, end: null }, 100), { start: 95, end: 99 })
    assert.deepEqual(resolveRange({ start: -500, end: null }, 100), { start: 0, end: 99 })
    assert.deepEqual(resolveRange(null, 100), { start: 0, end: 99 })
    assert.throws(
      () => resolveRange({ start: 100, end: null }, 100),
      (e: { status?: number }) => e.status === 416,
    )
  })
})

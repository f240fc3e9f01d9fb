import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { maxReasonLength, parseAgentReport, parseAgentSelection } from './cache-agent.js'

const upperCaseId = 'ABCDEF01-2345-4678-89AB-CDEF01234567'

function reportBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: '0.1.0',
    report_interval: 30,
    cache: { max_bytes: 10, used_bytes: 5, free_disk_bytes: 5 },
    stats: { hits: 0, misses: 0, bytes_fetched: 0, evictions: 0 },
    cached_images: [],
    failed_images: [],
    ...overrides,
  }
}

describe('parseAgentReport', () => {
  it('converts a report to camelCase fields', () => {
    const entry = { image_id: upperCaseId, size: 7, hits: 1, last_used: null, pinned: false }
    const report = parseAgentReport(reportBody({ cached_images: [entry] }))
    assert.equal(report.reportIntervalSeconds, 30)
    assert.deepEqual(report.cache, { maxBytes: 10, usedBytes: 5, freeDiskBytes: 5 })
    assert.deepEqual(report.cachedImages, [
      { imageId: upperCaseId.toLowerCase(), size: 7, hits: 1, lastUsed: null, pinned: false },
    ])
  })

  it('converts last_used with an offset to UTC', () => {
    const entry = {
      image_id: upperCaseId,
      size: 7,
      hits: 1,
      last_used: '2026-12-04T22:00:00.5+01:00',
      pinned: true,
    }
    const report = parseAgentReport(reportBody({ cached_images: [entry] }))
    assert.equal(report.cachedImages[0]?.lastUsed?.toISOString(), '2026-12-04T21:00:00.500Z')
  })

  it('rejects days that the month lacks', () => {
    for (const lastUsed of [
      '2026-02-30T00:00:00Z',
      '2026-04-31T12:00:00Z',
      '2026-02-29T00:00:00Z',
    ]) {
      const entry = { image_id: upperCaseId, size: 7, hits: 1, last_used: lastUsed, pinned: true }
      assert.throws(
        () => parseAgentReport(reportBody({ cached_images: [entry] })),
        /cached_images\[0\]\.last_used must be an ISO 8601 time/,
        lastUsed,
      )
    }
    const leapDay = {
      image_id: upperCaseId,
      size: 7,
      hits: 1,
      last_used: '2028-02-29T00:00:00Z',
      pinned: true,
    }
    const report = parseAgentReport(reportBody({ cached_images: [leapDay] }))
    assert.equal(report.cachedImages[0]?.lastUsed?.toISOString(), '2028-02-29T00:00:00.000Z')
  })

  it('truncates long failure reasons', () => {
    const failure = { image_id: upperCaseId, reason: 'x'.repeat(maxReasonLength + 50) }
    const report = parseAgentReport(reportBody({ failed_images: [failure] }))
    assert.equal(report.failedImages[0]?.reason.length, maxReasonLength)
  })

  it('rejects sizes beyond exact integers', () => {
    const cache = { max_bytes: 2 ** 53, used_bytes: 0, free_disk_bytes: 0 }
    assert.throws(() => parseAgentReport(reportBody({ cache })), /cache\.max_bytes/)
  })

  it('names the field of a repeated failure', () => {
    const failure = { image_id: upperCaseId, reason: 'x' }
    const lowerCase = { image_id: upperCaseId.toLowerCase(), reason: 'y' }
    assert.throws(
      () => parseAgentReport(reportBody({ failed_images: [failure, lowerCase] })),
      /failed_images\[1\]\.image_id repeats/,
    )
  })
})

describe('parseAgentSelection', () => {
  it('reads all, lists and repeated parameters', () => {
    assert.equal(parseAgentSelection('all'), 'all')
    assert.deepEqual(parseAgentSelection('b, a,b'), ['b', 'a'])
    assert.deepEqual(parseAgentSelection(['a', 'c,d']), ['a', 'c', 'd'])
  })

  it('treats all inside a list as an agent name', () => {
    assert.deepEqual(parseAgentSelection('all,a'), ['all', 'a'])
  })

  it('rejects empty names', () => {
    for (const value of ['', ',', 'a,', ['a', '']]) {
      assert.throws(() => parseAgentSelection(value), /Invalid agents parameter/, String(value))
    }
  })
})

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { InvalidInputError } from '../../domain/errors.js'
import { defaultLimit, maxLimit, parseInList, parseListQuery } from './list-query.js'

describe('image list query', () => {
  it('defaults to 25 images newest first, accepted shared images only', () => {
    const parsed = parseListQuery({})
    assert.equal(parsed.limit, defaultLimit)
    assert.deepEqual(parsed.sort, [{ key: 'created_at', direction: 'desc' }])
    assert.equal(parsed.memberStatus, 'accepted')
    assert.equal(parsed.visibility, null)
    assert.equal(parsed.marker, null)
  })

  it('caps limit at 1000', () => {
    assert.equal(parseListQuery({ limit: '5000' }).limit, maxLimit)
  })

  it('rejects a negative or non-numeric limit', () => {
    assert.throws(() => parseListQuery({ limit: '-1' }), InvalidInputError)
    assert.throws(() => parseListQuery({ limit: 'ten' }), InvalidInputError)
  })

  it('parses sort=key:dir lists, defaulting each direction to desc', () => {
    assert.deepEqual(parseListQuery({ sort: 'name:asc,size' }).sort, [
      { key: 'name', direction: 'asc' },
      { key: 'size', direction: 'desc' },
    ])
  })

  it('pairs repeated sort_key and sort_dir', () => {
    const parsed = parseListQuery({ sort_key: ['name', 'size'], sort_dir: ['asc', 'desc'] })
    assert.deepEqual(parsed.sort, [
      { key: 'name', direction: 'asc' },
      { key: 'size', direction: 'desc' },
    ])
  })

  it('applies a single sort_dir to every sort_key', () => {
    const parsed = parseListQuery({ sort_key: ['name', 'size'], sort_dir: 'asc' })
    assert.deepEqual(
      parsed.sort.map((s) => s.direction),
      ['asc', 'asc'],
    )
  })

  it('rejects unknown sort keys, bad directions and mixed sort styles', () => {
    assert.throws(() => parseListQuery({ sort_key: 'colour' }), /Invalid sort key colour/)
    assert.throws(() => parseListQuery({ sort: 'name:up' }), /Invalid sort direction up/)
    assert.throws(() => parseListQuery({ sort: 'name', sort_key: 'size' }), /either sort or/)
  })

  it('turns unknown parameters into property filters', () => {
    const parsed = parseListQuery({ os_distro: 'cirros', name: 'x', tag: ['a', 'b'] })
    assert.deepEqual(parsed.filters.properties, { os_distro: 'cirros' })
    assert.deepEqual(parsed.filters.match?.name, ['x'])
    assert.deepEqual(parsed.filters.tags, ['a', 'b'])
  })

  it('validates visibility, status, member_status and booleans', () => {
    assert.equal(parseListQuery({ visibility: 'all' }).visibility, 'all')
    assert.equal(parseListQuery({ member_status: 'all' }).memberStatus, 'all')
    assert.equal(parseListQuery({ protected: 'true' }).filters.protected, true)
    assert.throws(() => parseListQuery({ visibility: 'secret' }), InvalidInputError)
    assert.throws(() => parseListQuery({ status: 'happy' }), InvalidInputError)
    assert.throws(() => parseListQuery({ protected: 'maybe' }), InvalidInputError)
    assert.throws(() => parseListQuery({ size_min: '1k' }), InvalidInputError)
  })
})

describe('image list operators', () => {
  it('splits in: lists, keeping quoted commas', () => {
    const parsed = parseListQuery({ name: 'in:a,"b,c",d' })
    assert.deepEqual(parsed.filters.match?.name, ['a', 'b,c', 'd'])
  })

  it('unescapes quotes inside a quoted value', () => {
    assert.deepEqual(parseInList('name', '"say \\"hi\\"",x'), ['say "hi"', 'x'])
  })

  it('rejects a quote left open', () => {
    assert.throws(() => parseListQuery({ name: 'in:"abc' }), /Unterminated quote/)
  })

  it('validates every status of an in: list', () => {
    assert.deepEqual(parseListQuery({ status: 'in:active,queued' }).filters.match?.status, [
      'active',
      'queued',
    ])
    assert.throws(() => parseListQuery({ status: 'in:active,sleepy' }), InvalidInputError)
  })

  it('parses time comparisons on created_at and updated_at', () => {
    const parsed = parseListQuery({
      created_at: 'gte:2026-01-01T00:00:00Z',
      updated_at: 'lt:2027-01-01T00:00:00Z',
    })
    assert.deepEqual(
      parsed.filters.times?.map((t) => [t.column, t.operator, t.value.toISOString()]),
      [
        ['created_at', 'gte', '2026-01-01T00:00:00.000Z'],
        ['updated_at', 'lt', '2027-01-01T00:00:00.000Z'],
      ],
    )
  })

  it('rejects unknown operators and bad times', () => {
    assert.throws(() => parseListQuery({ created_at: 'after:2026-01-01' }), /use OPERATOR:TIME/)
    assert.throws(() => parseListQuery({ created_at: 'gt:yesterday' }), /use ISO 8601/)
  })
})

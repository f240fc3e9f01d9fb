import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseCacheLimit, parseSize } from './sizes.js'

describe('parseSize', () => {
  const cases: [string, number][] = [
    ['1048576', 1048576],
    ['20G', 20 * 1024 ** 3],
    ['512MiB', 512 * 1024 ** 2],
    ['1.5T', 1.5 * 1024 ** 4],
    ['10GB', 10 * 1000 ** 3],
    [' 4 k ', 4096],
  ]
  for (const [text, bytes] of cases) {
    it(`reads ${JSON.stringify(text)}`, () => assert.equal(parseSize(text), bytes))
  }

  for (const text of ['', 'big', '-1G', '20X', '1e3']) {
    it(`rejects ${JSON.stringify(text)} with an example`, () => {
      assert.throws(() => parseSize(text), /is not a size: .*for example 20G/)
    })
  }
})

describe('parseCacheLimit', () => {
  it('reads a percentage of the disk', () => {
    assert.deepEqual(parseCacheLimit('80%'), { percent: 80 })
  })

  it('reads a size', () => {
    assert.deepEqual(parseCacheLimit('10G'), { bytes: 10 * 1024 ** 3 })
  })

  it('rejects a percentage above 100', () => {
    assert.throws(() => parseCacheLimit('120%'), /between 0 and 100/)
  })

  for (const text of ['0', '0.4', '0G']) {
    it(`rejects a limit of ${JSON.stringify(text)}`, () => {
      assert.throws(() => parseCacheLimit(text), /leaves no room for any image/)
    })
  }
})

import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { ImageHasher } from './image-hasher.js'

async function hashInChunks(hasher: ImageHasher, data: Buffer, chunkSize: number) {
  for (let offset = 0; offset < data.length; offset += chunkSize) {
    await hasher.update(data.subarray(offset, offset + chunkSize))
  }
  return hasher.digest()
}

describe('image hasher', () => {
  const data = randomBytes(5 * 1024 * 1024 + 123)
  const md5 = createHash('md5').update(data).digest('hex')
  const sha512 = createHash('sha512').update(data).digest('hex')

  it('hashes small uploads on the calling thread', async () => {
    const digests = await hashInChunks(new ImageHasher(data.length), data, 16 * 1024)
    assert.deepEqual(digests, { md5, sha512 })
  })

  it('gives the same digests with the MD5 worker', async () => {
    const digests = await hashInChunks(new ImageHasher(null), data, 16 * 1024 + 7)
    assert.deepEqual(digests, { md5, sha512 })
  })

  it('handles chunks larger than a batch', async () => {
    const digests = await hashInChunks(new ImageHasher(null), data, 3 * 1024 * 1024)
    assert.deepEqual(digests, { md5, sha512 })
  })

  it('hashes empty input', async () => {
    const digests = await new ImageHasher(null).digest()
    assert.equal(digests.md5, createHash('md5').digest('hex'))
  })
})

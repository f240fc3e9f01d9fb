import assert from 'node:assert/strict'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { describe, it } from 'node:test'
import { Throttle } from './throttle.js'

function chunks(count: number, size: number): Readable {
  return Readable.from(Array.from({ length: count }, () => Buffer.alloc(size)))
}

async function timePipeline(rate: () => number, count: number, size: number): Promise<number> {
  const started = performance.now()
  let received = 0
  await pipeline(
    chunks(count, size),
    new Throttle(rate),
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        received += chunk.length
        done()
      },
    }),
  )
  assert.equal(received, count * size)
  return performance.now() - started
}

describe('Throttle', () => {
  it('holds a stream to its rate', async () => {
    // 64 KiB at 128 KiB/s: the first second of tokens fills as it goes, so about 0.5 s.
    const elapsed = await timePipeline(() => 128 * 1024, 16, 4096)
    assert.ok(elapsed >= 400, `took ${elapsed} ms`)
  })

  it('holds chunks larger than the rate', async () => {
    // 192 KiB at 32 KiB/s: the second chunk waits for the 64 KiB the first one lacked and one
    // second of tokens, so about 4 s in all.
    const elapsed = await timePipeline(() => 32 * 1024, 2, 96 * 1024)
    assert.ok(elapsed >= 3800, `took ${elapsed} ms`)
  })

  it('passes at once without a limit', async () => {
    const elapsed = await timePipeline(() => Infinity, 256, 65536)
    assert.ok(elapsed < 2000, `took ${elapsed} ms`)
  })

  it('speeds up when the limit is lifted mid-stream', async () => {
    let rate = 16 * 1024
    setTimeout(() => (rate = Infinity), 200)
    const elapsed = await timePipeline(() => rate, 64, 4096)
    // At 16 KiB/s the 256 KiB would take 16 s.
    assert.ok(elapsed < 3000, `took ${elapsed} ms`)
  })
})

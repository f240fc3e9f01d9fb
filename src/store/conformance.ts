import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import { after, before, describe, it } from 'node:test'
import type { BlobStore } from '../domain/ports.js'
import { BlobExists, BlobNotFound, InvalidKey } from './errors.js'

export interface ConformanceTarget {
  store: BlobStore
  /** Lists whatever the driver holds, finished or not, so teardown can prove nothing leaked. */
  listResidue(): Promise<string[]>
  close(): Promise<void>
}

function failingSource(chunks: Buffer[], error: Error): Readable {
  return Readable.from(
    (async function* () {
      for (const chunk of chunks) yield chunk
      throw error
    })(),
  )
}

export interface ConformanceOptions {
  /** Skips the suite with this reason, such as a backend that cannot run here. */
  skip?: string
}

/**
 * The contract every store driver must pass. Each test cleans up what it wrote, and the suite
 * fails at the end if the driver still contains anything.
 */
export function runStoreConformance(
  driverName: string,
  open: () => Promise<ConformanceTarget>,
  options: ConformanceOptions = {},
) {
  describe(`${driverName} store contract`, { skip: options.skip ?? false }, () => {
    let target: ConformanceTarget
    let store: BlobStore

    before(async () => {
      target = await open()
      store = target.store
    })

    after(async () => {
      const residue = await target.listResidue()
      await target.close()
      assert.deepEqual(residue, [], 'the store holds data that a test left behind')
    })

    it('reads back exactly what was written', async () => {
      const data = randomBytes(3 * 1024 * 1024 + 17)
      const info = await store.write(
        'round-trip',
        Readable.from([data.subarray(0, 5), data.subarray(5)]),
      )
      assert.equal(info.size, data.length)

      const back = await buffer(await store.read('round-trip'))
      assert.equal(
        createHash('sha256').update(back).digest('hex'),
        createHash('sha256').update(data).digest('hex'),
      )
      assert.equal((await store.stat('round-trip')).size, data.length)
      assert.equal(await store.delete('round-trip'), true)
    })

    it('reads an inclusive byte range', async () => {
      const data = Buffer.from('0123456789abcdef')
      await store.write('range', Readable.from([data]))

      assert.equal(
        (await buffer(await store.read('range', { start: 3, end: 7 }))).toString(),
        '34567',
      )
      assert.equal(
        (await buffer(await store.read('range', { start: 15, end: 15 }))).toString(),
        'f',
      )
      await store.delete('range')
    })

    it('writes an empty blob', async () => {
      const info = await store.write('empty', Readable.from([]))
      assert.equal(info.size, 0)
      assert.equal((await store.stat('empty')).size, 0)
      await store.delete('empty')
    })

    it('leaves no blob when the source fails', async () => {
      const failure = new Error('client went away')
      await assert.rejects(
        store.write('broken', failingSource([randomBytes(100_000)], failure)),
        (error) => error === failure,
      )
      await assert.rejects(store.stat('broken'), BlobNotFound)
    })

    it('leaves no blob when the write is aborted', async () => {
      const controller = new AbortController()
      const source = new Readable({ read() {} })
      source.push(randomBytes(10_000))
      const writing = store.write('aborted', source, controller.signal)
      setTimeout(() => controller.abort(new Error('upload cancelled')), 20)

      await assert.rejects(writing)
      await assert.rejects(store.stat('aborted'), BlobNotFound)
    })

    it('rejects a second write to a key and keeps the first', async () => {
      await store.write('taken', Readable.from([Buffer.from('first')]))
      await assert.rejects(store.write('taken', Readable.from([Buffer.from('second')])), BlobExists)

      assert.equal((await buffer(await store.read('taken'))).toString(), 'first')
      await store.delete('taken')
    })

    it('reports a missing blob as BlobNotFound', async () => {
      await assert.rejects(store.read('missing'), BlobNotFound)
      await assert.rejects(store.stat('missing'), BlobNotFound)
      assert.equal(await store.delete('missing'), false)
    })

    it('rejects keys that could escape the store', async () => {
      for (const key of ['../escape', 'a/b', '', '..', 'x'.repeat(201)]) {
        await assert.rejects(store.stat(key), InvalidKey, `key ${JSON.stringify(key)}`)
      }
    })

    it('reports capacity', async () => {
      const capacity = await store.capacity()
      assert.ok(capacity.totalBytes > 0)
      assert.ok(capacity.freeBytes >= 0, `free bytes ${capacity.freeBytes}`)
      assert.ok(capacity.freeBytes <= capacity.totalBytes, 'more free bytes than total')
    })

    it('answers a ping', async () => {
      await store.ping()
    })
  })
}

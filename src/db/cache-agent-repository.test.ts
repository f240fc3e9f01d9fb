import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import type { Kysely } from 'kysely'
import { stopTestDatabases, testDatabases } from '../../test/helpers/databases.js'
import type { CacheAgentReport } from '../cache/cache-agent-registry.js'
import type { Image } from '../domain/image.js'
import { SqlCacheAgentRepository } from './cache-agent-repository.js'
import { migrateToLatest } from './connection.js'
import { SqlImageRepository } from './image-repository.js'
import type { Database } from './schema.js'

after(stopTestDatabases)

function makeReport(overrides: Partial<CacheAgentReport> = {}): CacheAgentReport {
  return {
    version: '0.1.0',
    reportIntervalSeconds: 30,
    cache: { maxBytes: 10 * 2 ** 30, usedBytes: 2 ** 33 + 7, freeDiskBytes: 2 ** 40 },
    stats: { hits: 3, misses: 1, bytesFetched: 2 ** 35, evictions: 0 },
    cachedImages: [],
    failedImages: [],
    ...overrides,
  }
}

function cached(imageId: string, size = 1024) {
  return { imageId, size, hits: 2, lastUsed: new Date('2026-12-04T21:00:00.000Z'), pinned: true }
}

const at = (seconds: number) => new Date(Date.UTC(2026, 11, 4, 21, 0, seconds))

for (const database of testDatabases) {
  describe(`cache agent repository on ${database.name}`, { skip: database.skip }, () => {
    let db: Kysely<Database>
    let repo: SqlCacheAgentRepository
    let images: SqlImageRepository

    before(async () => {
      db = await database.open()
      await migrateToLatest(db)
      repo = new SqlCacheAgentRepository(db)
      images = new SqlImageRepository(db)
    })

    after(async () => {
      await db?.destroy()
    })

    async function activeImage(): Promise<string> {
      const now = new Date()
      const image: Image = {
        id: randomUUID(),
        name: null,
        status: 'active',
        visibility: 'public',
        protected: false,
        osHidden: false,
        checksum: null,
        osHashAlgo: null,
        osHashValue: null,
        size: 1024,
        virtualSize: null,
        diskFormat: 'raw',
        containerFormat: 'bare',
        minDisk: 0,
        minRam: 0,
        owner: 'p1',
        createdAt: now,
        updatedAt: now,
        tags: [],
        properties: {},
        locations: [],
      }
      await images.create(image)
      return image.id
    }

    it('stores a report and reads every field back', async () => {
      const imageId = randomUUID()
      const report = makeReport({
        cachedImages: [{ ...cached(imageId, 2 ** 34), lastUsed: null, pinned: false }],
        failedImages: [{ imageId: randomUUID(), reason: 'checksum mismatch' }],
      })
      assert.deepEqual(await repo.saveReport('hv-fields', report, at(1)), [])

      const agent = await repo.get('hv-fields')
      assert.deepEqual(agent, {
        name: 'hv-fields',
        ...report,
        reportedAt: at(1),
        queuedImages: [],
        failuresReportedAt: at(1),
      })
      assert.equal(await repo.get('hv-unknown'), null)
    })

    it('lists agents by byte order of name', async () => {
      for (const name of ['order-b', 'order-B', 'order-a']) {
        await repo.saveReport(name, makeReport(), at(2))
      }
      const names = (await repo.list()).map((agent) => agent.name)
      assert.deepEqual(
        names.filter((name) => name.startsWith('order-')),
        ['order-B', 'order-a', 'order-b'],
      )
    })

    it('replaces the cached images with each report', async () => {
      const [first, second, third] = [randomUUID(), randomUUID(), randomUUID()]
      await repo.saveReport('hv-replace', makeReport({ cachedImages: [cached(first)] }), at(1))
      const next = makeReport({ cachedImages: [cached(third), cached(second)], version: '0.2.0' })
      await repo.saveReport('hv-replace', next, at(2))

      const agent = await repo.get('hv-replace')
      assert.deepEqual(
        agent?.cachedImages.map((image) => image.imageId),
        [second, third].sort(),
      )
      assert.equal(agent?.version, '0.2.0')
      assert.deepEqual(agent?.reportedAt, at(2))
    })

    it('stores more cached images than one insert batch takes', async () => {
      const many = Array.from({ length: 2500 }, () => cached(randomUUID()))
      await repo.saveReport('hv-many', makeReport({ cachedImages: many }), at(1))
      const agent = await repo.get('hv-many')
      assert.equal(agent?.cachedImages.length, 2500)
    })

    it('queues on named agents and keeps the first queued time', async () => {
      await repo.saveReport('q-1', makeReport(), at(1))
      await repo.saveReport('q-2', makeReport(), at(1))
      const [older, newer] = [await activeImage(), await activeImage()]

      assert.deepEqual(await repo.queue(newer, ['q-2', 'q-1'], at(5)), {
        kind: 'queued',
        agents: ['q-1', 'q-2'],
      })
      await repo.queue(older, ['q-1'], at(3))
      await repo.queue(newer, ['q-1', 'q-1'], at(9))
      assert.deepEqual(await repo.saveReport('q-1', makeReport(), at(10)), [older, newer])
      assert.deepEqual((await repo.get('q-2'))?.queuedImages, [newer])
    })

    it('queues nothing when one named agent is unknown', async () => {
      await repo.saveReport('u-1', makeReport(), at(1))
      const imageId = await activeImage()
      const outcome = await repo.queue(imageId, ['u-1', 'u-missing', 'u-gone'], at(2))
      assert.deepEqual(outcome, { kind: 'unknown', names: ['u-missing', 'u-gone'] })
      assert.deepEqual((await repo.get('u-1'))?.queuedImages, [])
    })

    it('queues on every agent with all', async () => {
      const imageId = await activeImage()
      const outcome = await repo.queue(imageId, 'all', at(1))
      assert.equal(outcome.kind, 'queued')
      const everyAgent = (await repo.list()).map((agent) => agent.name)
      assert.deepEqual(outcome.kind === 'queued' ? outcome.agents : [], everyAgent)
      for (const agent of await repo.list()) {
        assert.ok(agent.queuedImages.includes(imageId), agent.name)
      }
    })

    it('dequeues the images that a report lists as cached or failed', async () => {
      await repo.saveReport('dq', makeReport(), at(1))
      const [done, failed, waiting] = [
        await activeImage(),
        await activeImage(),
        await activeImage(),
      ]
      for (const imageId of [done, failed, waiting]) await repo.queue(imageId, ['dq'], at(2))

      const report = makeReport({
        cachedImages: [cached(done)],
        failedImages: [{ imageId: failed, reason: 'no space left' }],
      })
      assert.deepEqual(await repo.saveReport('dq', report, at(3)), [waiting])
      assert.deepEqual((await repo.get('dq'))?.queuedImages, [waiting])
    })

    it('keeps earlier failures until a report has failures of its own', async () => {
      const [first, second, third] = [randomUUID(), randomUUID(), randomUUID()]
      const failure = (imageId: string) => ({ imageId, reason: `failed ${imageId}` })
      await repo.saveReport(
        'fail',
        makeReport({ failedImages: [failure(first), failure(second)] }),
        at(1),
      )
      await repo.saveReport('fail', makeReport({ cachedImages: [cached(second)] }), at(2))
      let agent = await repo.get('fail')
      assert.deepEqual(agent?.failedImages, [failure(first)])
      assert.deepEqual(agent?.failuresReportedAt, at(1))

      await repo.saveReport('fail', makeReport({ failedImages: [failure(third)] }), at(3))
      agent = await repo.get('fail')
      assert.deepEqual(agent?.failedImages, [failure(third)])
      assert.deepEqual(agent?.failuresReportedAt, at(3))
    })

    it('keeps an image queued again after it failed', async () => {
      await repo.saveReport('retry', makeReport(), at(1))
      const imageId = await activeImage()
      await repo.queue(imageId, ['retry'], at(2))
      const failedReport = makeReport({ failedImages: [{ imageId, reason: 'timed out' }] })
      assert.deepEqual(await repo.saveReport('retry', failedReport, at(3)), [])

      await repo.queue(imageId, ['retry'], at(4))
      assert.deepEqual(await repo.saveReport('retry', makeReport(), at(5)), [imageId])
    })

    it('hides deleted images and tells no agent to fetch a deactivated one', async () => {
      await repo.saveReport('gone', makeReport(), at(1))
      const [deleted, deactivated, forgotten] = [
        await activeImage(),
        await activeImage(),
        await activeImage(),
      ]
      for (const imageId of [deleted, deactivated, forgotten]) {
        await repo.queue(imageId, ['gone'], at(2))
      }
      await images.delete(deleted)
      await images.transition(deactivated, ['active'], 'deactivated')
      await repo.forgetImage(forgotten)

      assert.deepEqual(await repo.saveReport('gone', makeReport(), at(3)), [])
      assert.deepEqual((await repo.get('gone'))?.queuedImages, [deactivated])
      await images.transition(deactivated, ['deactivated'], 'active')
      assert.deepEqual(await repo.saveReport('gone', makeReport(), at(4)), [deactivated])
    })

    it('deletes an agent with its lists', async () => {
      const imageId = await activeImage()
      const report = makeReport({
        cachedImages: [cached(randomUUID())],
        failedImages: [{ imageId: randomUUID(), reason: 'x' }],
      })
      await repo.saveReport('doomed', report, at(1))
      await repo.queue(imageId, ['doomed'], at(2))

      assert.equal(await repo.delete('doomed'), true)
      assert.equal(await repo.get('doomed'), null)
      assert.equal(await repo.delete('doomed'), false)
      await repo.saveReport('doomed', makeReport(), at(3))
      const agent = await repo.get('doomed')
      assert.deepEqual(agent?.cachedImages, [])
      assert.deepEqual(agent?.queuedImages, [])
      assert.deepEqual(agent?.failedImages, [])
    })

    it('writes concurrent reports of one agent one after the other', async () => {
      const reports = Array.from({ length: 5 }, (_, index) =>
        makeReport({
          cachedImages: Array.from({ length: 50 + index }, () => cached(randomUUID())),
        }),
      )
      await Promise.all(reports.map((report, index) => repo.saveReport('busy', report, at(index))))
      const agent = await repo.get('busy')
      const lengths = reports.map((report) => report.cachedImages.length)
      assert.ok(lengths.includes(agent?.cachedImages.length ?? -1), 'cached images mixed')
    })
  })
}

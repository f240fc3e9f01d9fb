import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Kysely } from 'kysely'
import { stopTestDatabases, testDatabases } from '../../test/helpers/databases.js'
import type { ImportTask } from '../domain/ports.js'
import { migrateToLatest } from './connection.js'
import type { Database } from './schema.js'
import { SqlTaskRepository } from './task-repository.js'

after(stopTestDatabases)

function makeTask(id: string, imageId: string, createdAt: string): ImportTask {
  return {
    id,
    imageId,
    owner: 'p1',
    userId: 'u1',
    requestId: `req-${id}`,
    status: 'pending',
    input: { import_req: { method: { name: 'glance-direct' } }, stores: ['fast'] },
    result: null,
    message: '',
    createdAt: new Date(createdAt),
    updatedAt: new Date(createdAt),
  }
}

for (const database of testDatabases) {
  describe(`task repository on ${database.name}`, { skip: database.skip }, () => {
    let db: Kysely<Database>
    let repo: SqlTaskRepository

    before(async () => {
      db = await database.open()
      await migrateToLatest(db)
      repo = new SqlTaskRepository(db)
    })

    after(async () => {
      await db?.destroy()
    })

    it('round-trips input and result documents', async () => {
      const task = makeTask('t1', 'image-1', '2026-03-01T00:00:00.000Z')
      await repo.create(task)
      assert.deepEqual(await repo.get('t1'), task)

      await repo.finish('t1', 'success', '', { image_id: 'image-1', stores: ['fast'] })
      const finished = await repo.get('t1')
      assert.equal(finished?.status, 'success')
      assert.deepEqual(finished?.result, { image_id: 'image-1', stores: ['fast'] })
    })

    it('orders tasks by creation time, then id', async () => {
      await repo.create(makeTask('b', 'image-2', '2026-03-02T00:00:00.000Z'))
      await repo.create(makeTask('A', 'image-2', '2026-03-02T00:00:00.000Z'))
      await repo.create(makeTask('c', 'image-2', '2026-03-01T12:00:00.000Z'))
      const oldestFirst = (await repo.listForImage('image-2')).map((task) => task.id)
      assert.deepEqual(oldestFirst, ['c', 'A', 'b'])
      const newestFirst = (await repo.list('p1', 3)).map((task) => task.id)
      assert.deepEqual(newestFirst, ['b', 'A', 'c'])
      assert.deepEqual(
        (await repo.listUnfinished()).map((task) => task.id),
        ['c', 'A', 'b'],
      )
    })

    it('lists the unfinished tasks of one host', async () => {
      const hostA = new SqlTaskRepository(db, 'host-a')
      const hostB = new SqlTaskRepository(db, 'host-b')
      await hostA.create(makeTask('on-a', 'image-3', '2026-03-03T00:00:00.000Z'))
      await hostB.create(makeTask('on-b', 'image-3', '2026-03-03T00:00:01.000Z'))
      const ids = (tasks: ImportTask[]) => tasks.map((task) => task.id)
      assert.deepEqual(ids(await hostA.listUnfinished()), ['on-a'])
      assert.deepEqual(ids(await hostA.listUnfinished('host-b')), ['on-b'])
    })

    it('hands an orphaned task to one host', async () => {
      await new SqlTaskRepository(db, 'lost').create(
        makeTask('orphan', 'image-4', '2026-03-04T00:00:00.000Z'),
      )
      const adopters = ['c', 'd', 'e', 'f'].map((name) => new SqlTaskRepository(db, name))
      const won = await Promise.all(adopters.map((adopter) => adopter.adopt('orphan', 'lost')))
      assert.equal(won.filter(Boolean).length, 1)
      const winner = ['c', 'd', 'e', 'f'][won.indexOf(true)]!
      assert.deepEqual(
        (await new SqlTaskRepository(db, winner).listUnfinished(winner)).map((task) => task.id),
        ['orphan'],
      )
    })
  })
}

import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Kysely } from 'kysely'
import { stopTestDatabases, testDatabases } from '../../test/helpers/databases.js'
import { ConflictError } from '../domain/errors.js'
import type { Namespace } from '../domain/metadef-service.js'
import { migrateToLatest } from './connection.js'
import { SqlMetadefRepository } from './metadef-repository.js'
import type { Database } from './schema.js'

after(stopTestDatabases)

function makeNamespace(name: string): Namespace {
  const now = new Date('2026-03-01T00:00:00.000Z')
  return {
    namespace: name,
    displayName: null,
    description: null,
    visibility: 'public',
    protected: false,
    owner: 'p1',
    createdAt: now,
    updatedAt: now,
  }
}

function makeItem(name: string) {
  const now = new Date('2026-03-01T00:00:00.000Z')
  return { name, document: { type: 'string', title: name }, createdAt: now, updatedAt: now }
}

for (const database of testDatabases) {
  describe(`metadef repository on ${database.name}`, { skip: database.skip }, () => {
    let db: Kysely<Database>
    let repo: SqlMetadefRepository

    before(async () => {
      db = await database.open()
      await migrateToLatest(db)
      repo = new SqlMetadefRepository(db)
    })

    after(async () => {
      await db?.destroy()
    })

    it('lists the built-in resource types as protected', async () => {
      const types = await repo.listResourceTypes()
      assert.ok(types.some((type) => type.name === 'OS::Glance::Image'))
      for (const type of types) assert.equal(type.protected, true, type.name)
    })

    it('moves items with a renamed namespace', async () => {
      await repo.insertNamespace(makeNamespace('OS::Old'))
      await repo.insertItems('OS::Old', 'property', [makeItem('b'), makeItem('B')], false)
      await repo.updateNamespace('OS::Old', makeNamespace('OS::New'))

      assert.deepEqual(await repo.listItems('OS::Old', 'property'), [])
      const moved = await repo.listItems('OS::New', 'property')
      assert.deepEqual(
        moved.map((item) => item.name),
        ['B', 'b'],
      )
      assert.deepEqual(moved[0]?.document, { type: 'string', title: 'B' })
    })

    it('rejects duplicate items atomically', async () => {
      await repo.insertNamespace(makeNamespace('OS::Dup'))
      await repo.insertItems('OS::Dup', 'tag', [makeItem('x')], false)
      await assert.rejects(
        repo.insertItems('OS::Dup', 'tag', [makeItem('y'), makeItem('x')], false),
        ConflictError,
      )
      assert.deepEqual(
        (await repo.listItems('OS::Dup', 'tag')).map((item) => item.name),
        ['x'],
      )
    })

    it('deletes the items of a deleted namespace', async () => {
      await repo.insertNamespace(makeNamespace('OS::Gone'))
      await repo.insertItems('OS::Gone', 'object', [makeItem('o')], false)
      await repo.deleteNamespace('OS::Gone')
      assert.equal(await repo.findNamespace('OS::Gone'), null)
      assert.deepEqual(await repo.listItems('OS::Gone', 'object'), [])
    })
  })
}

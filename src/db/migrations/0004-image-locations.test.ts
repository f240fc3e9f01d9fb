import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { sql } from 'kysely'
import { stopTestDatabases, testDatabases } from '../../../test/helpers/databases.js'
import { createMigrator, migrateToLatest } from '../connection.js'
import { SqlImageRepository } from '../image-repository.js'

after(stopTestDatabases)

for (const database of testDatabases) {
  describe(`migration 0004-image-locations on ${database.name}`, { skip: database.skip }, () => {
    it('moves the single location into the list', async () => {
      const db = await database.open()
      try {
        const step = await createMigrator(db).migrateTo('0003-import-tasks')
        assert.equal(step.error, undefined)
        const now = new Date().toISOString()
        for (const [id, store, key] of [
          ['with-data', 'file', 'with-data'],
          ['without-data', null, null],
        ]) {
          await sql`insert into images (id, status, visibility, protected, os_hidden, min_disk,
            min_ram, created_at, updated_at, location_store, location_key)
            values (${id}, 'active', 'private', 0, 0, 0, 0, ${now}, ${now}, ${store}, ${key})`.execute(
            db,
          )
        }

        await migrateToLatest(db)
        const repo = new SqlImageRepository(db)
        assert.deepEqual((await repo.get('with-data'))?.locations, [
          { store: 'file', key: 'with-data', url: null, metadata: {} },
        ])
        assert.deepEqual((await repo.get('without-data'))?.locations, [])
      } finally {
        await db.destroy()
      }
    })
  })
}

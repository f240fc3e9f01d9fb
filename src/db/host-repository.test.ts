import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Kysely } from 'kysely'
import { stopTestDatabases, testDatabases } from '../../test/helpers/databases.js'
import type { HostRecord } from '../cluster/host-registry.js'
import { migrateToLatest } from './connection.js'
import { SqlHostRepository } from './host-repository.js'
import type { Database } from './schema.js'

after(stopTestDatabases)

function makeHost(name: string, startedAt: string): HostRecord {
  return {
    name,
    imageUrl: `https://${name}:9292`,
    identityUrl: `https://${name}:5000`,
    version: '0.1.0',
    startedAt: new Date(startedAt),
    lastHeartbeat: new Date(startedAt),
    stoppedAt: null,
    stores: [{ id: 'file', totalBytes: 2 ** 40, freeBytes: 2 ** 33 }],
  }
}

for (const database of testDatabases) {
  describe(`host repository on ${database.name}`, { skip: database.skip }, () => {
    let db: Kysely<Database>
    let repo: SqlHostRepository

    before(async () => {
      db = await database.open()
      await migrateToLatest(db)
      repo = new SqlHostRepository(db)
    })

    after(async () => {
      await db?.destroy()
    })

    it('lists hosts by byte order of name', async () => {
      for (const name of ['host-b', 'host-B', 'host-a']) {
        await repo.register(makeHost(name, '2026-03-01T00:00:00.000Z'))
      }
      const names = (await repo.list()).map((host) => host.name)
      assert.deepEqual(names, ['host-B', 'host-a', 'host-b'])
    })

    it('records heartbeats, stops and a new start', async () => {
      await repo.register(makeHost('cycle', '2026-03-01T00:00:00.000Z'))
      const beat = new Date('2026-03-01T00:00:10.000Z')
      const stores = [{ id: 'file', totalBytes: 2 ** 40, freeBytes: 2 ** 32 + 1 }]
      await repo.heartbeat('cycle', beat, stores)
      await repo.markStopped('cycle', new Date('2026-03-01T00:01:00.000Z'))
      let host = (await repo.list()).find((record) => record.name === 'cycle')
      assert.equal(host?.lastHeartbeat.toISOString(), beat.toISOString())
      assert.deepEqual(host?.stores, stores)
      assert.equal(host?.stoppedAt?.toISOString(), '2026-03-01T00:01:00.000Z')

      await repo.register(makeHost('cycle', '2026-03-02T00:00:00.000Z'))
      host = (await repo.list()).find((record) => record.name === 'cycle')
      assert.equal(host?.stoppedAt, null)
      assert.equal(host?.startedAt.toISOString(), '2026-03-02T00:00:00.000Z')
    })

    it('creates one cluster secret for every host', async () => {
      const hosts = [1, 2, 3, 4].map(() => new SqlHostRepository(db))
      const secrets = await Promise.all(hosts.map((host) => host.clusterSecret()))
      assert.match(secrets[0]!, /^[0-9a-f]{64}$/)
      assert.deepEqual(new Set(secrets).size, 1)
      assert.equal(await repo.clusterSecret(), secrets[0])
    })
  })
}

import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Kysely } from 'kysely'
import { stopTestDatabases, testDatabases } from '../../test/helpers/databases.js'
import { ConflictError } from '../domain/errors.js'
import { migrateToLatest } from './connection.js'
import { IdentityRepository } from './identity-repository.js'
import type { Database } from './schema.js'

after(stopTestDatabases)

for (const database of testDatabases) {
  describe(`identity repository on ${database.name}`, { skip: database.skip }, () => {
    let db: Kysely<Database>
    let repo: IdentityRepository

    before(async () => {
      db = await database.open()
      await migrateToLatest(db)
      repo = new IdentityRepository(db)
      await repo.createDomain({ id: 'd1', name: 'D1', description: '', enabled: true })
    })

    after(async () => {
      await db?.destroy()
    })

    function project(id: string, name: string) {
      return { id, name, domainId: 'd1', description: '', enabled: true }
    }

    it('lists projects by byte order of name', async () => {
      for (const [id, name] of [
        ['p1', 'beta'],
        ['p2', 'Beta'],
        ['p3', 'alpha'],
        ['p4', 'Zulu'],
      ]) {
        await repo.createProject(project(id!, name!))
      }
      const names = (await repo.listProjects({ domainId: 'd1' })).map((p) => p.name)
      assert.deepEqual(names, ['Beta', 'Zulu', 'alpha', 'beta'])
    })

    it('rejects a second project of the same name', async () => {
      await repo.createProject(project('dup-1', 'twin'))
      await assert.rejects(repo.createProject(project('dup-2', 'twin')), ConflictError)
      assert.equal(await repo.getProject('dup-2'), null)
    })

    it('stores booleans and ignores a repeated assignment', async () => {
      await repo.createProject({ ...project('off', 'disabled'), enabled: false })
      assert.equal((await repo.getProject('off'))?.enabled, false)

      await repo.createUser({
        id: 'u1',
        name: 'user',
        domainId: 'd1',
        passwordHash: null,
        enabled: true,
        defaultProjectId: null,
        email: null,
      })
      await repo.createRole({ id: 'r1', name: 'member' })
      const assignment = { userId: 'u1', projectId: 'off', roleId: 'r1' }
      await repo.assignRole(assignment)
      await repo.assignRole(assignment)
      assert.deepEqual(await repo.listAssignments({ userId: 'u1' }), [assignment])
    })

    it('revokes and expires tokens', async () => {
      const issuedAt = new Date('2026-03-01T00:00:00.000Z')
      for (const [hash, hours] of [
        ['t-old', 1],
        ['t-new', 48],
      ] as const) {
        await repo.saveToken({
          tokenHash: hash,
          userId: 'u1',
          projectId: 'off',
          auditId: hash,
          issuedAt,
          expiresAt: new Date(issuedAt.getTime() + hours * 3600_000),
          revoked: false,
        })
      }
      assert.equal(await repo.revokeToken('t-new'), true)
      assert.equal(await repo.revokeToken('t-new'), false)
      assert.equal((await repo.getToken('t-new'))?.revoked, true)
      assert.equal(await repo.deleteExpiredTokens(new Date('2026-03-02T00:00:00.000Z')), 1)
      assert.equal(await repo.getToken('t-old'), null)
    })
  })
}

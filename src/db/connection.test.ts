import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { sql } from 'kysely'
import pg from 'pg'
import { postgresSkipReason, startPostgres, stopPostgres } from '../../test/helpers/postgres.js'
import { ConfigError } from '../config.js'
import { createMigrator, migrateToLatest, openDatabase, redactPassword } from './connection.js'

after(stopPostgres)

describe('database URL', () => {
  it('rejects an unsupported scheme', () => {
    assert.throws(
      () => openDatabase('mysql://admin:hunter2@db.example/images'),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError)
        assert.match(error.message, /mysql:\/\/admin:\*\*\*@db\.example\/images/)
        assert.match(error.message, /sqlite:\/\/\/absolute\/path/)
        assert.match(error.message, /postgresql:\/\/user:password@host:port\/database/)
        assert.doesNotMatch(error.message, /hunter2/)
        return true
      },
    )
  })

  it('rejects a malformed PostgreSQL URL', () => {
    assert.throws(
      () => openDatabase('postgresql://admin:hunter2@db.example:notaport/images'),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError)
        assert.match(error.message, /not a valid URL/)
        assert.doesNotMatch(error.message, /hunter2/)
        return true
      },
    )
  })

  it('redacts only the password', () => {
    const cases = [
      [
        'postgresql://admin:s3cret@127.0.0.1:5432/images',
        'postgresql://admin:***@127.0.0.1:5432/images',
      ],
      [
        'postgres://admin:p%40ss@db/images?sslmode=require',
        'postgres://admin:***@db/images?sslmode=require',
      ],
      ['postgresql://admin:a@b@db/images', 'postgresql://admin:***@db/images'],
      ['postgresql://admin@db:5432/images', 'postgresql://admin@db:5432/images'],
      ['postgresql://db:5432/images', 'postgresql://db:5432/images'],
      ['sqlite:///var/lib/image-library/db', 'sqlite:///var/lib/image-library/db'],
    ]
    for (const [url, expected] of cases) assert.equal(redactPassword(url!), expected, url)
  })

  it('opens SQLite by URL, bare path and :memory:', async () => {
    for (const url of ['sqlite://:memory:', ':memory:']) {
      const db = openDatabase(url)
      try {
        await migrateToLatest(db)
        assert.equal((await sql<{ n: number }>`select 1 as n`.execute(db)).rows[0]?.n, 1)
      } finally {
        await db.destroy()
      }
    }
  })
})

describe('PostgreSQL database', { skip: postgresSkipReason ?? false }, () => {
  let url: string

  before(async () => {
    url = await (await startPostgres()).createDatabase()
  })

  it('opens by postgresql:// and postgres:// URLs', async () => {
    for (const form of [url, url.replace(/^postgresql:/, 'postgres:')]) {
      const db = openDatabase(form)
      try {
        const result = await sql<{ n: number }>`select 1 as n`.execute(db)
        assert.equal(result.rows[0]?.n, 1)
      } finally {
        await db.destroy()
      }
    }
  })

  it('applies and lists every migration', async () => {
    const db = openDatabase(url)
    try {
      await migrateToLatest(db)
      const migrations = await createMigrator(db).getMigrations()
      assert.ok(migrations.length >= 4)
      for (const migration of migrations) {
        assert.notEqual(migration.executedAt, undefined, `${migration.name} not applied`)
      }
    } finally {
      await db.destroy()
    }
  })

  it('creates C-collated text and bigint sizes', async () => {
    const db = openDatabase(url)
    try {
      await migrateToLatest(db)
      const columns = await sql<{ table_name: string; column_name: string }>`
        select table_name, column_name from information_schema.columns
        where table_schema = 'public' and table_name not like 'kysely%'
          and data_type in ('text', 'character varying')
          and collation_name is distinct from 'C'`.execute(db)
      assert.deepEqual(columns.rows, [])

      const sizes = await sql<{ column_name: string; data_type: string }>`
        select column_name, data_type from information_schema.columns
        where table_name = 'images' and column_name in ('size', 'virtual_size')
        order by column_name`.execute(db)
      assert.deepEqual(sizes.rows, [
        { column_name: 'size', data_type: 'bigint' },
        { column_name: 'virtual_size', data_type: 'bigint' },
      ])
    } finally {
      await db.destroy()
    }
  })

  it('returns bigint results as numbers', async () => {
    const db = openDatabase(url)
    try {
      const result = await sql<{ big: unknown; counted: unknown; summed: unknown }>`
        select 6442450944::bigint as big, count(*) as counted,
          sum(value) as summed from (values (4294967296::bigint), (1::bigint)) as v(value)`.execute(
        db,
      )
      assert.deepEqual(result.rows[0], { big: 6442450944, counted: 2, summed: 4294967297 })
      assert.equal(pg.types.getTypeParser(20, 'text')('5'), '5', 'pg global parsers changed')
    } finally {
      await db.destroy()
    }
  })
})

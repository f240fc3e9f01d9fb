import type { Kysely } from 'kysely'
import { textType } from './text-type.js'

/**
 * The image library hosts that share this database, with their heartbeats, and which host
 * holds each upload and import in progress, so that another host can take over from one that
 * died.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see 0001-initial.ts
export async function up(db: Kysely<any>): Promise<void> {
  const text = textType(db)
  await db.schema
    .createTable('hosts')
    .addColumn('name', text('varchar(255)'), (c) => c.primaryKey())
    .addColumn('image_url', text('text'), (c) => c.notNull())
    .addColumn('identity_url', text('text'), (c) => c.notNull())
    .addColumn('version', text('varchar(64)'), (c) => c.notNull())
    .addColumn('started_at', text('varchar(30)'), (c) => c.notNull())
    .addColumn('last_heartbeat', text('varchar(30)'), (c) => c.notNull())
    .addColumn('stopped_at', text('varchar(30)'))
    .addColumn('stores', text('text'), (c) => c.notNull().defaultTo('[]'))
    .execute()
  await db.schema.alterTable('images').addColumn('data_host', text('varchar(255)')).execute()
  await db.schema.alterTable('tasks').addColumn('host', text('varchar(255)')).execute()
}

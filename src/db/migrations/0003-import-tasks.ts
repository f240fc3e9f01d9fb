import type { Kysely } from 'kysely'
import { textType } from './text-type.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see 0001-initial.ts
export async function up(db: Kysely<any>): Promise<void> {
  const text = textType(db)
  await db.schema
    .createTable('tasks')
    .addColumn('id', text('varchar(36)'), (c) => c.primaryKey())
    .addColumn('type', text('varchar(30)'), (c) => c.notNull())
    .addColumn('status', text('varchar(20)'), (c) => c.notNull())
    .addColumn('image_id', text('varchar(36)'), (c) => c.notNull())
    .addColumn('owner', text('varchar(255)'), (c) => c.notNull())
    .addColumn('user_id', text('varchar(64)'), (c) => c.notNull())
    .addColumn('request_id', text('varchar(64)'), (c) => c.notNull())
    .addColumn('input', text('text'), (c) => c.notNull())
    .addColumn('result', text('text'))
    .addColumn('message', text('text'), (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', text('varchar(30)'), (c) => c.notNull())
    .addColumn('updated_at', text('varchar(30)'), (c) => c.notNull())
    .execute()
  await db.schema
    .createIndex('tasks_image')
    .on('tasks')
    .columns(['image_id', 'created_at'])
    .execute()
}

import type { Kysely } from 'kysely'
import { textType } from './text-type.js'

/** Settings that every host of one library shares, such as the secret that signs peer calls. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see 0001-initial.ts
export async function up(db: Kysely<any>): Promise<void> {
  const text = textType(db)
  await db.schema
    .createTable('cluster_settings')
    .addColumn('name', text('varchar(64)'), (c) => c.primaryKey())
    .addColumn('value', text('text'), (c) => c.notNull())
    .execute()
}

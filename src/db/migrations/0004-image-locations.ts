import type { Kysely } from 'kysely'
import { textType } from './text-type.js'

/**
 * Moves each image's single data location into a list, so that an image can live in several
 * stores. The list is a JSON array in one column: it is always read and written whole.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see 0001-initial.ts
export async function up(db: Kysely<any>): Promise<void> {
  const text = textType(db)
  await db.schema
    .alterTable('images')
    .addColumn('locations', text('text'), (c) => c.notNull().defaultTo('[]'))
    .execute()
  const rows = await db
    .selectFrom('images')
    .select(['id', 'location_store', 'location_key'])
    .where('location_key', 'is not', null)
    .execute()
  for (const row of rows) {
    const location = { store: row.location_store, key: row.location_key, url: null, metadata: {} }
    await db
      .updateTable('images')
      .set({ locations: JSON.stringify([location]) })
      .where('id', '=', row.id)
      .execute()
  }
  await db.schema.alterTable('images').dropColumn('location_store').execute()
  await db.schema.alterTable('images').dropColumn('location_key').execute()
}

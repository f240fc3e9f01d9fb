import { sql, type Expression, type Kysely } from 'kysely'
import { isPostgres } from '../dialect.js'

export type TextType = `varchar(${number})` | 'text'

/**
 * Returns a function that gives the column type to create for a text type. On PostgreSQL it
 * adds the "C" collation, so that text compares and sorts by byte as under SQLite's default
 * BINARY collation, whatever locale the database was created with: listings then come in the
 * same order from both databases. On SQLite the type stays as it is.
 *
 * @example
 * const text = textType(db)
 * await db.schema.createTable('t').addColumn('name', text('varchar(255)')).execute()
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see 0001-initial.ts
export function textType(db: Kysely<any>): (type: TextType) => TextType | Expression<unknown> {
  if (!isPostgres(db)) return (type) => type
  return (type) => sql.raw(`${type} collate "C"`)
}

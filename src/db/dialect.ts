import { PostgresAdapter, type Kysely } from 'kysely'

/** Tells whether `db`, or a transaction on it, runs on PostgreSQL rather than SQLite. */
export function isPostgres<DB>(db: Kysely<DB>): boolean {
  // Kysely marks getExecutor() internal, but its own Migrator reads the adapter the same way.
  return db.getExecutor().adapter instanceof PostgresAdapter
}

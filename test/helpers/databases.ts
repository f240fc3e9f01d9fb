import { join } from 'node:path'
import type { Kysely } from 'kysely'
import { openDatabase } from '../../src/db/connection.js'
import type { Database } from '../../src/db/schema.js'
import { postgresSkipReason, startPostgres, stopPostgres } from './postgres.js'

/** A database that the repository suites run on. */
export interface TestDatabase {
  name: string
  /** Why the suite cannot run here, as node:test's `skip` option takes it, or `false`. */
  skip: string | false
  /** Opens a new, empty database without tables. */
  open(): Promise<Kysely<Database>>
}

/**
 * SQLite in memory and, when it is installed, PostgreSQL: a fresh database in this process's
 * throwaway cluster. A test file that uses them calls {@link stopTestDatabases} in `after`.
 */
export const testDatabases: readonly TestDatabase[] = [
  { name: 'SQLite', skip: false, open: async () => openDatabase(':memory:') },
  {
    name: 'PostgreSQL',
    skip: postgresSkipReason ?? false,
    open: async () => openDatabase(await (await startPostgres()).createDatabase()),
  },
]

/** A database that server processes share in the multi-host suites. */
export interface ServerDatabase {
  name: string
  /** Why the suite cannot run here, as node:test's `skip` option takes it, or `false`. */
  skip: string | false
  /** Returns the URL of a new, empty database; a SQLite one is a file in `dir`. */
  createUrl(dir: string): Promise<string>
}

/** A SQLite file, as processes on one machine can share, and a fresh PostgreSQL database. */
export const serverDatabases: readonly ServerDatabase[] = [
  { name: 'SQLite', skip: false, createUrl: async (dir) => `sqlite://${join(dir, 'library.db')}` },
  {
    name: 'PostgreSQL',
    skip: postgresSkipReason ?? false,
    createUrl: async () => (await startPostgres()).createDatabase(),
  },
]

/** Stops the PostgreSQL cluster if a suite started one. */
export function stopTestDatabases(): Promise<void> {
  return stopPostgres()
}

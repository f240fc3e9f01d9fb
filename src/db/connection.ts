import { Kysely, Migrator, type Migration, type MigrationResultSet } from 'kysely'
import * as initial from './migrations/0001-initial.js'
import * as importTasks from './migrations/0003-import-tasks.js'
import * as imageLocations from './migrations/0004-image-locations.js'
import * as hosts from './migrations/0005-hosts.js'
import * as clusterSettings from './migrations/0006-cluster-settings.js'
import * as metadefs from './migrations/0002-metadefs.js'
import type { Database } from './schema.js'
import { createSqliteDialect } from './sqlite/dialect.js'

/** Every migration, in order; both databases run the same set. */
const migrations: Record<string, Migration> = {
  '0001-initial': initial,
  '0002-metadefs': metadefs,
  '0003-import-tasks': importTasks,
  '0004-image-locations': imageLocations,
  '0005-hosts': hosts,
  '0006-cluster-settings': clusterSettings,
}

/** Opens the metadata database named by a `sqlite://` URL (or a bare path). */
export function openDatabase(url: string): Kysely<Database> {
  return new Kysely<Database>({ dialect: createSqliteDialect(sqlitePath(url)) })
}

function sqlitePath(url: string): string {
  if (url.startsWith('sqlite://')) return url.slice('sqlite://'.length)
  if (url.includes('://')) {
    throw new TypeError(
      `database.url ${url} is not supported: use sqlite:///absolute/path (PostgreSQL is not built yet)`,
    )
  }
  return url
}

export function createMigrator(db: Kysely<Database>): Migrator {
  return new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
  })
}

/** Applies pending migrations. Throws with the failing migration's name on error. */
export async function migrateToLatest(db: Kysely<Database>): Promise<MigrationResultSet> {
  const result = await createMigrator(db).migrateToLatest()
  if (result.error !== undefined) {
    const failed = result.results?.find((step) => step.status === 'Error')
    throw new Error(`database migration ${failed?.migrationName ?? '(unknown)'} failed`, {
      cause: result.error,
    })
  }
  return result
}

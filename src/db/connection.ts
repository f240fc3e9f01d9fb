import { Kysely, Migrator, type Migration, type MigrationResultSet } from 'kysely'
import type { Logger } from 'pino'
import { ConfigError } from '../config.js'
import * as initial from './migrations/0001-initial.js'
import * as importTasks from './migrations/0003-import-tasks.js'
import * as imageLocations from './migrations/0004-image-locations.js'
import * as hosts from './migrations/0005-hosts.js'
import * as clusterSettings from './migrations/0006-cluster-settings.js'
import * as cacheAgents from './migrations/0007-cache-agents.js'
import * as metadefs from './migrations/0002-metadefs.js'
import { createPostgresDialect } from './postgres/dialect.js'
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
  '0007-cache-agents': cacheAgents,
}

export interface DatabaseOptions {
  /** Receives warnings about broken PostgreSQL connections. */
  log?: Logger
}

const acceptedForms =
  'sqlite:///absolute/path, a file path, :memory: or postgresql://user:password@host:port/database'

/**
 * Opens the metadata database named by `url`: `sqlite:///path` (or a bare path, or `:memory:`)
 * for SQLite, `postgresql://…` or `postgres://…` for PostgreSQL. Throws `ConfigError` for any
 * other form. For PostgreSQL, the first query opens the connection pool.
 */
export function openDatabase(url: string, options: DatabaseOptions = {}): Kysely<Database> {
  if (url.startsWith('postgresql://') || url.startsWith('postgres://')) {
    if (!URL.canParse(url)) {
      throw new ConfigError(
        `database.url ${redactPassword(url)} is not a valid URL. Use ${acceptedForms}.`,
      )
    }
    return new Kysely<Database>({ dialect: createPostgresDialect(url, options.log ?? null) })
  }
  return new Kysely<Database>({ dialect: createSqliteDialect(sqlitePath(url)) })
}

function sqlitePath(url: string): string {
  if (url.startsWith('sqlite://')) return url.slice('sqlite://'.length)
  if (url.includes('://')) {
    throw new ConfigError(
      `database.url ${redactPassword(url)} is not supported. Use ${acceptedForms}.`,
    )
  }
  return url
}

/** Replaces the password of a URL with `***`, so that the URL can go into messages and logs. */
export function redactPassword(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@]*?:)[^/?#]*@/i, '$1***@')
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

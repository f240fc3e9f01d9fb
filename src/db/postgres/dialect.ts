import type { PoolConfig } from 'pg'
import { PostgresDialect } from 'kysely'
import type { Logger } from 'pino'

/** Type OIDs of int8 (bigint, and count(*)) and numeric (sum over bigint). */
const int8Oid = 20
const numericOid = 1700

/** Pool settings. Values in the URL's query string, such as `application_name`, override them. */
const poolDefaults = {
  application_name: 'image-library',
  max: 10,
  // Wait at most this long for a free connection or a new one.
  connectionTimeoutMillis: 10_000,
  idleTimeoutMillis: 30_000,
  keepAlive: true,
  // Metadata queries take milliseconds; these only stop a stuck query or a transaction that a
  // stalled process left open while it holds row locks.
  statement_timeout: 30_000,
  idle_in_transaction_session_timeout: 60_000,
} satisfies PoolConfig

/**
 * Connects to the PostgreSQL database of a `postgresql://` (or `postgres://`) URL through a pg
 * pool. pg is loaded, and the pool created, on the first query.
 */
export function createPostgresDialect(url: string, log: Logger | null): PostgresDialect {
  return new PostgresDialect({
    pool: async () => {
      const { default: pg } = await import('pg')
      const pool = new pg.Pool({
        ...poolDefaults,
        connectionString: url,
        types: { getTypeParser: numbersAsNumbers(pg.types.getTypeParser) },
      })
      // An idle connection that breaks, as when the server restarts, emits this event, which
      // would crash the process without a listener. The pool replaces the connection itself.
      pool.on('error', (error) => log?.warn({ err: error }, 'idle database connection failed'))
      return pool
    },
  })
}

type TypeParserLookup = (oid: number, format?: 'text' | 'binary') => unknown

/**
 * Wraps pg's type parser lookup so that bigint and numeric values arrive as JavaScript numbers
 * instead of strings. They are exact up to 2^53, which image sizes and their sums stay below.
 * The pool gets the wrapper, so pg's global parsers stay as they are for other code.
 */
function numbersAsNumbers<Lookup extends TypeParserLookup>(lookup: Lookup): Lookup {
  const wrapped = (oid: number, format?: 'text' | 'binary') => {
    if ((oid === int8Oid || oid === numericOid) && format !== 'binary') return Number
    return lookup(oid, format)
  }
  return wrapped as Lookup
}

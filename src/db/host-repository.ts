import { randomBytes } from 'node:crypto'
import type { Kysely, Selectable } from 'kysely'
import type { HostRecord, HostRepository, HostStore } from '../cluster/host-registry.js'
import type { Database, HostsTable } from './schema.js'

export class SqlHostRepository implements HostRepository {
  readonly #db: Kysely<Database>

  constructor(db: Kysely<Database>) {
    this.#db = db
  }

  async register(record: HostRecord): Promise<void> {
    const row = {
      name: record.name,
      image_url: record.imageUrl,
      identity_url: record.identityUrl,
      version: record.version,
      started_at: record.startedAt.toISOString(),
      last_heartbeat: record.lastHeartbeat.toISOString(),
      stopped_at: null,
      stores: JSON.stringify(record.stores),
    }
    await this.#db
      .insertInto('hosts')
      .values(row)
      .onConflict((conflict) => conflict.column('name').doUpdateSet(row))
      .execute()
  }

  async heartbeat(name: string, at: Date, stores: HostStore[]): Promise<void> {
    await this.#db
      .updateTable('hosts')
      .set({ last_heartbeat: at.toISOString(), stores: JSON.stringify(stores) })
      .where('name', '=', name)
      .execute()
  }

  async markStopped(name: string, at: Date): Promise<void> {
    await this.#db
      .updateTable('hosts')
      .set({ stopped_at: at.toISOString() })
      .where('name', '=', name)
      .execute()
  }

  /** Returns the secret that signs calls between hosts, creating it on first use. */
  async clusterSecret(): Promise<string> {
    await this.#db
      .insertInto('cluster_settings')
      .values({ name: 'peer_secret', value: randomBytes(32).toString('hex') })
      .onConflict((conflict) => conflict.column('name').doNothing())
      .execute()
    const row = await this.#db
      .selectFrom('cluster_settings')
      .select('value')
      .where('name', '=', 'peer_secret')
      .executeTakeFirstOrThrow()
    return row.value
  }

  async list(): Promise<HostRecord[]> {
    const rows = await this.#db.selectFrom('hosts').selectAll().orderBy('name').execute()
    return rows.map(rowToHost)
  }
}

function rowToHost(row: Selectable<HostsTable>): HostRecord {
  return {
    name: row.name,
    imageUrl: row.image_url,
    identityUrl: row.identity_url,
    version: row.version,
    startedAt: new Date(row.started_at),
    lastHeartbeat: new Date(row.last_heartbeat),
    stoppedAt: row.stopped_at === null ? null : new Date(row.stopped_at),
    stores: JSON.parse(row.stores) as HostStore[],
  }
}

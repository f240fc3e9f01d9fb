import type { Kysely, Selectable } from 'kysely'
import type {
  AgentCachedImage,
  AgentFailedImage,
  AgentSelection,
  CacheAgentRecord,
  CacheAgentReport,
  CacheAgentRepository,
  QueueOutcome,
} from '../cache/cache-agent-registry.js'
import { isPostgres } from './dialect.js'
import type { CacheAgentImagesTable, CacheAgentsTable, Database } from './schema.js'

/**
 * Rows per INSERT statement. A cached-image row takes 6 parameters, so a batch stays far below
 * SQLite's limit of 32766 parameters per statement and PostgreSQL's 65535.
 */
const insertBatchSize = 1000

export class SqlCacheAgentRepository implements CacheAgentRepository {
  readonly #db: Kysely<Database>
  readonly #postgres: boolean

  constructor(db: Kysely<Database>) {
    this.#db = db
    this.#postgres = isPostgres(db)
  }

  async saveReport(name: string, report: CacheAgentReport, at: Date): Promise<string[]> {
    // Upserting the agent's row first locks it on PostgreSQL, so two reports of one agent
    // write one after the other. SQLite runs one transaction at a time anyway.
    return this.#db.transaction().execute(async (trx) => {
      await upsertAgent(trx, name, report, at)
      await replaceCachedImages(trx, name, report.cachedImages)
      await saveFailures(trx, name, report.failedImages)
      await dequeueReported(trx, name, report.failedImages.length > 0)
      return selectFetchable(trx, name)
    })
  }

  async list(): Promise<CacheAgentRecord[]> {
    return this.#readSnapshot((trx) => loadAgents(trx, null))
  }

  async get(name: string): Promise<CacheAgentRecord | null> {
    const [agent] = await this.#readSnapshot((trx) => loadAgents(trx, name))
    return agent ?? null
  }

  async delete(name: string): Promise<boolean> {
    // The foreign keys of the other cache agent tables delete the agent's rows there too.
    const result = await this.#db
      .deleteFrom('cache_agents')
      .where('name', '=', name)
      .executeTakeFirst()
    return result.numDeletedRows > 0n
  }

  async queue(imageId: string, agents: AgentSelection, at: Date): Promise<QueueOutcome> {
    if (agents !== 'all' && agents.length === 0) return { kind: 'queued', agents: [] }
    return this.#db.transaction().execute(async (trx) => {
      const known = await trx
        .selectFrom('cache_agents')
        .select('name')
        .$if(agents !== 'all', (select) => select.where('name', 'in', [...agents]))
        .orderBy('name')
        .execute()
      const names = known.map((row) => row.name)
      if (agents !== 'all') {
        const unknown = [...new Set(agents)].filter((name) => !names.includes(name))
        if (unknown.length > 0) return { kind: 'unknown', names: unknown }
      }

      const queuedAt = at.toISOString()
      for (const batch of batches(names)) {
        await trx
          .insertInto('cache_agent_queue')
          .values(
            batch.map((name) => ({ agent_name: name, image_id: imageId, queued_at: queuedAt })),
          )
          .onConflict((conflict) => conflict.columns(['agent_name', 'image_id']).doNothing())
          .execute()
      }
      return { kind: 'queued', agents: names }
    })
  }

  async forgetImage(imageId: string): Promise<void> {
    await this.#db.deleteFrom('cache_agent_queue').where('image_id', '=', imageId).execute()
  }

  /**
   * Runs `read` on one snapshot, so that an agent and its lists come from the same committed
   * reports. A SQLite transaction reads one snapshot already. PostgreSQL needs REPEATABLE READ.
   */
  async #readSnapshot<T>(read: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    let transaction = this.#db.transaction()
    if (this.#postgres) {
      transaction = transaction.setIsolationLevel('repeatable read').setAccessMode('read only')
    }
    return transaction.execute(read)
  }
}

async function upsertAgent(
  trx: Kysely<Database>,
  name: string,
  report: CacheAgentReport,
  at: Date,
): Promise<void> {
  const row = {
    name,
    version: report.version,
    report_interval: report.reportIntervalSeconds,
    reported_at: at.toISOString(),
    max_bytes: report.cache.maxBytes,
    used_bytes: report.cache.usedBytes,
    free_disk_bytes: report.cache.freeDiskBytes,
    hits: report.stats.hits,
    misses: report.stats.misses,
    bytes_fetched: report.stats.bytesFetched,
    evictions: report.stats.evictions,
  }
  const failuresReportedAt =
    report.failedImages.length > 0 ? { failures_reported_at: row.reported_at } : {}
  await trx
    .insertInto('cache_agents')
    .values({ ...row, failures_reported_at: null, ...failuresReportedAt })
    .onConflict((conflict) =>
      conflict.column('name').doUpdateSet({ ...row, ...failuresReportedAt }),
    )
    .execute()
}

async function replaceCachedImages(
  trx: Kysely<Database>,
  name: string,
  images: readonly AgentCachedImage[],
): Promise<void> {
  await trx.deleteFrom('cache_agent_images').where('agent_name', '=', name).execute()
  for (const batch of batches(images)) {
    const rows = batch.map((image) => ({
      agent_name: name,
      image_id: image.imageId,
      size: image.size,
      hits: image.hits,
      last_used: image.lastUsed?.toISOString() ?? null,
      pinned: image.pinned ? 1 : 0,
    }))
    await trx.insertInto('cache_agent_images').values(rows).execute()
  }
}

/**
 * Replaces the agent's failures with those of a report that has any. After a report without
 * failures, the earlier ones stay, except for the images that the report lists as cached.
 */
async function saveFailures(
  trx: Kysely<Database>,
  name: string,
  failures: readonly AgentFailedImage[],
): Promise<void> {
  if (failures.length === 0) {
    await trx
      .deleteFrom('cache_agent_failures')
      .where('agent_name', '=', name)
      .where('image_id', 'in', cachedImageIds(trx, name))
      .execute()
    return
  }
  await trx.deleteFrom('cache_agent_failures').where('agent_name', '=', name).execute()
  for (const batch of batches(failures)) {
    const rows = batch.map((failure) => ({
      agent_name: name,
      image_id: failure.imageId,
      reason: failure.reason,
    }))
    await trx.insertInto('cache_agent_failures').values(rows).execute()
  }
}

/**
 * Removes the images of the saved report from the agent's queue: those it lists as cached and,
 * when it has failures, those it failed. Earlier failures stay out of this, so that an image
 * queued again after a failure stays queued.
 */
async function dequeueReported(
  trx: Kysely<Database>,
  name: string,
  reportHasFailures: boolean,
): Promise<void> {
  await trx
    .deleteFrom('cache_agent_queue')
    .where('agent_name', '=', name)
    .where('image_id', 'in', cachedImageIds(trx, name))
    .execute()
  if (!reportHasFailures) return
  await trx
    .deleteFrom('cache_agent_queue')
    .where('agent_name', '=', name)
    .where(
      'image_id',
      'in',
      trx.selectFrom('cache_agent_failures').select('image_id').where('agent_name', '=', name),
    )
    .execute()
}

function cachedImageIds(trx: Kysely<Database>, name: string) {
  return trx.selectFrom('cache_agent_images').select('image_id').where('agent_name', '=', name)
}

/**
 * Returns the agent's queued images that are active, oldest first, for the agent to fetch. A
 * deactivated image stays queued but is left out until it is active again. Deleted images are
 * left out too, in case an image was deleted without the queue clean-up running (after a crash
 * between the two, say).
 */
async function selectFetchable(trx: Kysely<Database>, name: string): Promise<string[]> {
  const rows = await trx
    .selectFrom('cache_agent_queue as queue')
    .innerJoin('images', 'images.id', 'queue.image_id')
    .select('queue.image_id')
    .where('queue.agent_name', '=', name)
    .where('images.deleted_at', 'is', null)
    .where('images.status', '=', 'active')
    .orderBy('queue.queued_at')
    .orderBy('queue.image_id')
    .execute()
  return rows.map((row) => row.image_id)
}

/** Loads every agent, or only the named one, with its lists. */
async function loadAgents(trx: Kysely<Database>, name: string | null): Promise<CacheAgentRecord[]> {
  const agents = await trx
    .selectFrom('cache_agents')
    .selectAll()
    .$if(name !== null, (select) => select.where('name', '=', name!))
    .orderBy('name')
    .execute()
  if (agents.length === 0) return []

  const cached = await trx
    .selectFrom('cache_agent_images')
    .selectAll()
    .$if(name !== null, (select) => select.where('agent_name', '=', name!))
    .orderBy('agent_name')
    .orderBy('image_id')
    .execute()
  const queued = await trx
    .selectFrom('cache_agent_queue as queue')
    .innerJoin('images', 'images.id', 'queue.image_id')
    .select(['queue.agent_name', 'queue.image_id'])
    .where('images.deleted_at', 'is', null)
    .$if(name !== null, (select) => select.where('queue.agent_name', '=', name!))
    .orderBy('queue.queued_at')
    .orderBy('queue.image_id')
    .execute()
  const failed = await trx
    .selectFrom('cache_agent_failures')
    .selectAll()
    .$if(name !== null, (select) => select.where('agent_name', '=', name!))
    .orderBy('agent_name')
    .orderBy('image_id')
    .execute()

  const cachedByAgent = groupBy(cached, rowToCachedImage)
  const queuedByAgent = groupBy(queued, (row) => row.image_id)
  const failedByAgent = groupBy(failed, (row) => ({ imageId: row.image_id, reason: row.reason }))
  return agents.map((row) =>
    rowToAgent(row, {
      cachedImages: cachedByAgent.get(row.name) ?? [],
      queuedImages: queuedByAgent.get(row.name) ?? [],
      failedImages: failedByAgent.get(row.name) ?? [],
    }),
  )
}

function rowToAgent(
  row: Selectable<CacheAgentsTable>,
  lists: Pick<CacheAgentRecord, 'cachedImages' | 'queuedImages' | 'failedImages'>,
): CacheAgentRecord {
  return {
    name: row.name,
    version: row.version,
    reportIntervalSeconds: row.report_interval,
    reportedAt: new Date(row.reported_at),
    cache: {
      maxBytes: row.max_bytes,
      usedBytes: row.used_bytes,
      freeDiskBytes: row.free_disk_bytes,
    },
    stats: {
      hits: row.hits,
      misses: row.misses,
      bytesFetched: row.bytes_fetched,
      evictions: row.evictions,
    },
    ...lists,
    failuresReportedAt:
      lists.failedImages.length === 0 || row.failures_reported_at === null
        ? null
        : new Date(row.failures_reported_at),
  }
}

function rowToCachedImage(row: Selectable<CacheAgentImagesTable>): AgentCachedImage {
  return {
    imageId: row.image_id,
    size: row.size,
    hits: row.hits,
    lastUsed: row.last_used === null ? null : new Date(row.last_used),
    pinned: row.pinned === 1,
  }
}

/** Groups rows by their `agent_name`, keeping their order, and converts each with `toItem`. */
function groupBy<Row extends { agent_name: string }, Item>(
  rows: readonly Row[],
  toItem: (row: Row) => Item,
): Map<string, Item[]> {
  const groups = new Map<string, Item[]>()
  for (const row of rows) {
    let group = groups.get(row.agent_name)
    if (group === undefined) groups.set(row.agent_name, (group = []))
    group.push(toItem(row))
  }
  return groups
}

function* batches<T>(items: readonly T[]): Generator<T[]> {
  for (let start = 0; start < items.length; start += insertBatchSize) {
    yield items.slice(start, start + insertBatchSize)
  }
}

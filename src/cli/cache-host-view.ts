import type { CacheAgentRecord } from './cache-agent-client.js'
import { LinesCell } from './cells.js'
import type { ListResult, ShowResult } from './output.js'

/** The columns of `cache host list`, and of `cache host list --long`. */
export const cacheHostListColumns = [
  'Name',
  'Status',
  'Images',
  'Used',
  'Hits',
  'Misses',
  'Last Report',
] as const
export const cacheHostLongListColumns = [
  'Name',
  'Status',
  'Version',
  'Images',
  'Queued',
  'Used',
  'Max Size',
  'Hits',
  'Misses',
  'Bytes Fetched',
  'Evictions',
  'Last Report',
] as const

/** Builds the rows of `cache host list`: one per cache agent, sizes in bytes. */
export function toCacheHostListResult(
  agents: readonly CacheAgentRecord[],
  long: boolean,
): ListResult {
  if (!long) {
    const rows = agents.map((agent) => [
      agent.name,
      agent.status,
      agent.cached_images.length,
      agent.cache.used_bytes,
      agent.stats.hits,
      agent.stats.misses,
      agent.reported_at,
    ])
    return { columns: cacheHostListColumns, rows }
  }

  const rows = agents.map((agent) => [
    agent.name,
    agent.status,
    agent.version,
    agent.cached_images.length,
    agent.queued_images.length,
    agent.cache.used_bytes,
    agent.cache.max_bytes,
    agent.stats.hits,
    agent.stats.misses,
    agent.stats.bytes_fetched,
    agent.stats.evictions,
    agent.reported_at,
  ])
  return { columns: cacheHostLongListColumns, rows }
}

/**
 * Builds the Field/Value rows of `cache host show`, sorted by field name: the agent's fields,
 * its cache and counters, and its cached, queued and failed images one per line.
 */
export function toCacheHostShowResult(agent: CacheAgentRecord): ShowResult {
  const cachedImages = agent.cached_images.map((image) => ({
    image_id: image.image_id,
    size: image.size,
    hits: image.hits,
    last_used: image.last_used,
    pinned: image.pinned,
  }))
  const failedImages = agent.failed_images.map((failure) => ({
    image_id: failure.image_id,
    reason: failure.reason,
    reported_at: failure.reported_at ?? null,
  }))
  const fields: ShowResult['fields'] = [
    ['bytes_fetched', agent.stats.bytes_fetched],
    ['cached_images', new LinesCell(cachedImages)],
    ['evictions', agent.stats.evictions],
    ['failed_images', new LinesCell(failedImages)],
    ['free_disk_bytes', agent.cache.free_disk_bytes],
    ['hits', agent.stats.hits],
    ['max_bytes', agent.cache.max_bytes],
    ['misses', agent.stats.misses],
    ['name', agent.name],
    ['queued_images', new LinesCell(agent.queued_images)],
    ['report_interval', agent.report_interval],
    ['reported_at', agent.reported_at],
    ['status', agent.status],
    ['used_bytes', agent.cache.used_bytes],
    ['version', agent.version],
  ]
  return { fields }
}

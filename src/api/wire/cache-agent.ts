import type {
  AgentCachedImage,
  AgentFailedImage,
  AgentSelection,
  CacheAgentReport,
  CacheAgentView,
} from '../../cache/cache-agent-registry.js'
import { InvalidInputError } from '../../domain/errors.js'
import { wireTime } from './image.js'

/** The maximum number of entries in a report's `cached_images`, and in its `failed_images`. */
export const maxReportedImages = 100_000

/** The maximum length of a stored failure reason, in characters. Longer reasons are truncated. */
export const maxReasonLength = 1000

const maxVersionLength = 64
const maxReportIntervalSeconds = 86_400

// The image id forms that the image API accepts: a UUID with or without dashes.
const imageIdPattern = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i
const timestampPattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/

type JsonObject = Record<string, unknown>

/**
 * Validates the body of `PUT /v2/cache/agents/{name}` and converts it. Fields that the report
 * does not define are ignored. Throws a 400 that names the first invalid field, such as
 * `cached_images[3].size`.
 */
export function parseAgentReport(body: unknown): CacheAgentReport {
  const report = requireObject(body, 'the request body')
  const cache = requireObject(report['cache'], 'cache')
  const stats = requireObject(report['stats'], 'stats')
  return {
    version: requireVersion(report['version']),
    reportIntervalSeconds: requireInterval(report['report_interval']),
    cache: {
      maxBytes: requireCount(cache['max_bytes'], 'cache.max_bytes'),
      usedBytes: requireCount(cache['used_bytes'], 'cache.used_bytes'),
      freeDiskBytes: requireCount(cache['free_disk_bytes'], 'cache.free_disk_bytes'),
    },
    stats: {
      hits: requireCount(stats['hits'], 'stats.hits'),
      misses: requireCount(stats['misses'], 'stats.misses'),
      bytesFetched: requireCount(stats['bytes_fetched'], 'stats.bytes_fetched'),
      evictions: requireCount(stats['evictions'], 'stats.evictions'),
    },
    cachedImages: parseEntries(report['cached_images'], 'cached_images', parseCachedImage),
    failedImages: parseEntries(report['failed_images'], 'failed_images', parseFailedImage),
  }
}

/** Parses a list of at most `maxReportedImages` entries, each with a distinct `image_id`. */
function parseEntries<Entry extends { imageId: string }>(
  value: unknown,
  field: string,
  parseEntry: (entry: JsonObject, field: string) => Entry,
): Entry[] {
  if (!Array.isArray(value)) throw invalid(field, 'must be an array')
  if (value.length > maxReportedImages) {
    throw invalid(field, `lists ${value.length} images; the maximum is ${maxReportedImages}`)
  }
  const seen = new Set<string>()
  return value.map((item, index) => {
    const entryField = `${field}[${index}]`
    const entry = parseEntry(requireObject(item, entryField), entryField)
    if (seen.has(entry.imageId)) {
      throw invalid(`${entryField}.image_id`, `repeats image ${entry.imageId}`)
    }
    seen.add(entry.imageId)
    return entry
  })
}

function parseCachedImage(entry: JsonObject, field: string): AgentCachedImage {
  const pinned = entry['pinned']
  if (typeof pinned !== 'boolean') throw invalid(`${field}.pinned`, 'must be true or false')
  return {
    imageId: requireImageId(entry['image_id'], `${field}.image_id`),
    size: requireCount(entry['size'], `${field}.size`),
    hits: requireCount(entry['hits'], `${field}.hits`),
    lastUsed: parseLastUsed(entry['last_used'], `${field}.last_used`),
    pinned,
  }
}

function parseFailedImage(entry: JsonObject, field: string): AgentFailedImage {
  const reason = entry['reason']
  if (typeof reason !== 'string') throw invalid(`${field}.reason`, 'must be a string')
  return {
    imageId: requireImageId(entry['image_id'], `${field}.image_id`),
    reason: reason.slice(0, maxReasonLength),
  }
}

/** Accepts `null` for a copy that no hypervisor has used yet. */
function parseLastUsed(value: unknown, field: string): Date | null {
  if (value === null) return null
  const time = typeof value === 'string' && timestampPattern.test(value) ? Date.parse(value) : NaN
  if (Number.isNaN(time) || !isCalendarDate((value as string).slice(0, 10))) {
    throw invalid(field, 'must be an ISO 8601 time with a time zone, such as 2026-12-04T21:00:00Z')
  }
  return new Date(time)
}

// Date.parse rolls days past the end of a month over, so 2026-02-30 would become March 2.
function isCalendarDate(text: string): boolean {
  const [year, month, day] = text.split('-').map(Number) as [number, number, number]
  const date = new Date(Date.UTC(year, month - 1, day))
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day
}

function requireObject(value: unknown, field: string): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(field, 'must be a JSON object')
  }
  return value as JsonObject
}

function requireCount(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(field, `must be an integer of 0 or more, up to ${Number.MAX_SAFE_INTEGER}`)
  }
  return value
}

function requireVersion(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxVersionLength) {
    throw invalid('version', `must be a string of 1 to ${maxVersionLength} characters`)
  }
  return value
}

function requireInterval(value: unknown): number {
  const isValid =
    typeof value === 'number' &&
    Number.isInteger(value) &&
    value >= 1 &&
    value <= maxReportIntervalSeconds
  if (!isValid) {
    throw invalid(
      'report_interval',
      `must be a whole number of seconds from 1 to ${maxReportIntervalSeconds}`,
    )
  }
  return value
}

/** Returns the id in lower case, as the image API stores ids. */
function requireImageId(value: unknown, field: string): string {
  if (typeof value !== 'string' || !imageIdPattern.test(value)) {
    throw invalid(field, 'must be an image id (a UUID)')
  }
  return value.toLowerCase()
}

function invalid(field: string, problem: string): InvalidInputError {
  return new InvalidInputError(`Invalid cache agent report: ${field} ${problem}.`)
}

/**
 * Parses the `agents` query parameter of `PUT /v2/cache/{image_id}`: `all`, or a
 * comma-separated list of agent names. A repeated parameter adds to the list. Throws a 400 for
 * an empty name.
 */
export function parseAgentSelection(value: string | readonly string[]): AgentSelection {
  const text = typeof value === 'string' ? value : value.join(',')
  if (text === 'all') return 'all'
  const names = text.split(',').map((name) => name.trim())
  if (names.some((name) => name === '')) {
    throw new InvalidInputError(
      `Invalid agents parameter ${JSON.stringify(text)}: give all, or agent names separated by commas.`,
    )
  }
  return [...new Set(names)]
}

/** Converts an agent to its form in `GET /v2/cache/agents`, in snake_case like the rest of the API. */
export function cacheAgentToWire(agent: CacheAgentView): Record<string, unknown> {
  const failuresReportedAt =
    agent.failuresReportedAt === null ? null : wireTime(agent.failuresReportedAt)
  return {
    name: agent.name,
    status: agent.status,
    version: agent.version,
    reported_at: wireTime(agent.reportedAt),
    report_interval: agent.reportIntervalSeconds,
    cache: {
      max_bytes: agent.cache.maxBytes,
      used_bytes: agent.cache.usedBytes,
      free_disk_bytes: agent.cache.freeDiskBytes,
    },
    stats: {
      hits: agent.stats.hits,
      misses: agent.stats.misses,
      bytes_fetched: agent.stats.bytesFetched,
      evictions: agent.stats.evictions,
    },
    cached_images: agent.cachedImages.map((image) => ({
      image_id: image.imageId,
      size: image.size,
      hits: image.hits,
      last_used: image.lastUsed === null ? null : wireTime(image.lastUsed),
      pinned: image.pinned,
    })),
    queued_images: agent.queuedImages,
    failed_images: agent.failedImages.map((failure) => ({
      image_id: failure.imageId,
      reason: failure.reason,
      reported_at: failuresReportedAt,
    })),
  }
}

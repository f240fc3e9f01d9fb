import type { Logger } from 'pino'
import { ConflictError, InvalidInputError, NotFoundError } from '../domain/errors.js'
import type { Image } from '../domain/image.js'

/** The cache size and free disk space that an agent reports, in bytes. */
export interface AgentCacheUsage {
  maxBytes: number
  usedBytes: number
  freeDiskBytes: number
}

/** An agent's counters since it started. */
export interface AgentCacheStats {
  hits: number
  misses: number
  bytesFetched: number
  evictions: number
}

/** One image in an agent's cache. */
export interface AgentCachedImage {
  imageId: string
  size: number
  hits: number
  /** When a hypervisor last used the copy; `null` when none has yet. */
  lastUsed: Date | null
  /** A pinned copy is never evicted. */
  pinned: boolean
}

/** An image that an agent failed to fetch or verify. */
export interface AgentFailedImage {
  imageId: string
  reason: string
}

/** One report of a hypervisor's cache agent, validated. */
export interface CacheAgentReport {
  version: string
  /** Seconds until the agent's next report. */
  reportIntervalSeconds: number
  cache: AgentCacheUsage
  stats: AgentCacheStats
  cachedImages: AgentCachedImage[]
  failedImages: AgentFailedImage[]
}

/** An agent as the library records it: its last report, its queue and its last failures. */
export interface CacheAgentRecord extends CacheAgentReport {
  name: string
  /** When the last report arrived, by the clock of the library host that received it. */
  reportedAt: Date
  /** Queued images that still exist, oldest first; deactivated images included. */
  queuedImages: string[]
  /** When the report that carried `failedImages` arrived; `null` while there are none. */
  failuresReportedAt: Date | null
}

export type CacheAgentStatus = 'up' | 'stale'

export interface CacheAgentView extends CacheAgentRecord {
  status: CacheAgentStatus
}

/** The agents to queue an image on: every known agent, or the named ones. */
export type AgentSelection = 'all' | readonly string[]

/** The result of `CacheAgentRepository.queue`: the agents queued on, or the unknown names. */
export type QueueOutcome =
  { kind: 'queued'; agents: string[] } | { kind: 'unknown'; names: string[] }

/**
 * Cache agent records in the database that every library host shares. Each method runs in one
 * transaction, so a reader never sees half of a report.
 */
export interface CacheAgentRepository {
  /**
   * Creates or updates the agent from `report`, received at `at`. It replaces the agent's
   * cached images, and removes every image that the report lists as cached or failed from the
   * agent's queue. A report with failures replaces the earlier failures. A report without any
   * keeps them, except for images it lists as cached. Returns the agent's queued images that
   * are still active, oldest first.
   */
  saveReport(name: string, report: CacheAgentReport, at: Date): Promise<string[]>

  /** Lists every agent by byte order of name. */
  list(): Promise<CacheAgentRecord[]>

  /** Returns the agent, or `null` when no agent of that name has reported. */
  get(name: string): Promise<CacheAgentRecord | null>

  /** Deletes the agent with its cached images, queue and failures; `false` when unknown. */
  delete(name: string): Promise<boolean>

  /**
   * Queues the image on the selected agents at `at`; an agent that has it queued already keeps
   * its first time. When a named agent is unknown, nothing is queued and the outcome lists the
   * unknown names. With `all` and no agents, the outcome lists no agents.
   */
  queue(imageId: string, agents: AgentSelection, at: Date): Promise<QueueOutcome>

  /** Removes the image from every agent's queue, for an image that was deleted. */
  forgetImage(imageId: string): Promise<void>
}

export interface CacheAgentRegistryOptions {
  /** The clock that stamps reports and judges staleness; the system clock by default. */
  now?: () => Date
}

const agentNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/

/** An agent whose last report is older than this many report intervals is `stale`. */
const staleAfterIntervals = 3

/** Returns true for 1 to 255 characters of `A-Za-z0-9._-` that start with a letter or digit. */
export function isValidAgentName(name: string): boolean {
  return agentNamePattern.test(name)
}

/** Checks an agent name against the pattern that every cache agent call uses; 400 otherwise. */
export function validateAgentName(name: string): string {
  if (!isValidAgentName(name)) {
    throw new InvalidInputError(
      `Invalid cache agent name ${JSON.stringify(name)}: use 1 to 255 letters, digits, dots, ` +
        'underscores and hyphens, starting with a letter or a digit.',
    )
  }
  return name
}

/**
 * The hypervisors' image cache agents as the library records them. Agents report their cache
 * regularly, and each report's response lists the images that admins queued for the agent to
 * fetch. An agent whose last report is older than three of its report intervals is `stale`.
 */
export class CacheAgentRegistry {
  readonly #repo: CacheAgentRepository
  readonly #now: () => Date
  readonly #log: Logger

  constructor(repo: CacheAgentRepository, options: CacheAgentRegistryOptions, log: Logger) {
    this.#repo = repo
    this.#now = options.now ?? (() => new Date())
    this.#log = log.child({ component: 'cache-agents' })
  }

  /** Records an agent's report and returns the images queued for it, oldest first. */
  async report(name: string, report: CacheAgentReport): Promise<string[]> {
    validateAgentName(name)
    const queued = await this.#repo.saveReport(name, report, this.#now())
    if (this.#log.isLevelEnabled('debug')) {
      const fields = { agent: name, cached: report.cachedImages.length, queued: queued.length }
      this.#log.debug(fields, 'cache agent reported')
    }
    return queued
  }

  /** Lists every agent by byte order of name, with its status now. */
  async list(): Promise<CacheAgentView[]> {
    const now = this.#now().getTime()
    return (await this.#repo.list()).map((agent) => withStatus(agent, now))
  }

  /** Returns one agent with its status now; 404 when unknown. */
  async get(name: string): Promise<CacheAgentView> {
    validateAgentName(name)
    const agent = await this.#repo.get(name)
    if (agent === null) throw agentNotFound([name])
    return withStatus(agent, this.#now().getTime())
  }

  /** Forgets an agent, its cached images, queue and failures; 404 when unknown. */
  async remove(name: string): Promise<void> {
    validateAgentName(name)
    if (!(await this.#repo.delete(name))) throw agentNotFound([name])
    this.#log.info({ agent: name }, 'cache agent removed')
  }

  /**
   * Queues an active image for pre-caching on the selected agents and returns their names.
   * Throws 409 for an image that is not active or when `all` finds no agent, and 404 naming
   * every unknown agent, in which case nothing is queued.
   */
  async queue(image: Image, selection: AgentSelection): Promise<string[]> {
    if (image.status !== 'active') {
      throw new ConflictError(
        `Image ${image.id} is ${image.status}; only active images can be queued for caching.`,
        'IMAGE_STATE_CONFLICT',
      )
    }
    if (selection !== 'all') selection.forEach(validateAgentName)

    const outcome = await this.#repo.queue(image.id, selection, this.#now())
    if (outcome.kind === 'unknown') throw agentNotFound(outcome.names)
    if (outcome.agents.length === 0) {
      throw new ConflictError(
        'No cache agent has reported yet, so there is no agent to queue the image on.',
      )
    }
    this.#log.info({ imageId: image.id, agents: outcome.agents }, 'image queued on cache agents')
    return outcome.agents
  }

  /** Removes a deleted image from every agent's queue. */
  async forgetImage(imageId: string): Promise<void> {
    await this.#repo.forgetImage(imageId)
  }
}

/**
 * Adds the status. The age is measured against this host's clock, while `reportedAt` comes from
 * the clock of whichever host received the report, so with several hosts the status is only as
 * good as the agreement of their clocks.
 */
function withStatus(agent: CacheAgentRecord, now: number): CacheAgentView {
  const limitMs = staleAfterIntervals * agent.reportIntervalSeconds * 1000
  const status = now - agent.reportedAt.getTime() > limitMs ? 'stale' : 'up'
  return { ...agent, status }
}

function agentNotFound(names: readonly string[]): NotFoundError {
  const label = names.length === 1 ? 'cache agent' : 'cache agents'
  return new NotFoundError(
    `No ${label} named ${names.join(', ')}; an agent is known once it has reported.`,
    'CACHE_AGENT_NOT_FOUND',
  )
}

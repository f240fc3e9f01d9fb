import type { Logger } from 'pino'
import { HttpError } from '../cli/errors.js'
import { AgentError } from './agent-error.js'
import type { ImageAgent } from './image-agent.js'

export interface ReporterConfig {
  /** The agent's name in the library: the hypervisor's host name by default. */
  name: string
  intervalMs: number
  version: string
}

/** An image the agent could not pre-cache, in the wire form of a report. */
interface ReporterFailure {
  image_id: string
  reason: string
}

interface ReportAnswer {
  queued_images?: string[]
}

/**
 * Reports the agent's cache to the library (`PUT /v2/cache/agents/{name}`) every interval, and
 * pre-caches the images the library queued for it in the response: one at a time, in the
 * background, at the pre-cache rate. An image that cannot be fetched is reported as failed, so
 * the library drops it from the queue and shows why.
 */
export class LibraryReporter {
  readonly #agent: ImageAgent
  readonly #config: ReporterConfig
  readonly #log: Logger
  readonly #queue = new Set<string>()
  #failed: ReporterFailure[] = []
  #timer: NodeJS.Timeout | undefined
  #working: Promise<void> | undefined
  #reporting: Promise<void> | undefined
  #warnedUnsupported = false
  #stopped = false

  constructor(agent: ImageAgent, config: ReporterConfig, log: Logger) {
    this.#agent = agent
    this.#config = Object.freeze({ ...config })
    this.#log = log
  }

  start(): void {
    this.#schedule(0)
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    await this.#reporting
    await this.#working?.catch(() => {})
  }

  /** Sends one report now and queues the images the library returns. Resolves when sent. */
  report(): Promise<void> {
    this.#reporting ??= this.#send().finally(() => (this.#reporting = undefined))
    return this.#reporting
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return
    this.#timer = setTimeout(() => {
      this.report()
        .catch((error: unknown) =>
          this.#log.warn({ op: 'report', err: error }, 'report to the library failed'),
        )
        .finally(() => this.#schedule(this.#config.intervalMs))
    }, delayMs)
    this.#timer.unref()
  }

  async #send(): Promise<void> {
    // A copy: failures recorded while the report is on its way stay for the next report.
    const failed = [...this.#failed]
    const body = await this.#body(failed)
    let answer: ReportAnswer | undefined
    try {
      answer = await this.#agent.library.sendJson<ReportAnswer>(
        'PUT',
        `/v2/cache/agents/${encodeURIComponent(this.#config.name)}`,
        body,
      )
    } catch (error) {
      if (error instanceof HttpError && error.status === 404 && !this.#warnedUnsupported) {
        this.#warnedUnsupported = true
        this.#log.warn({ op: 'report' }, 'the library does not take cache agent reports')
        return
      }
      throw error
    }
    this.#failed = this.#failed.filter((entry) => !failed.includes(entry))
    // The response may predate a failure, which the next report sends to the library.
    const unreported = new Set(this.#failed.map((entry) => entry.image_id))
    for (const imageId of answer?.queued_images ?? []) {
      if (!unreported.has(imageId)) this.#queue.add(imageId)
    }
    if (this.#queue.size > 0)
      this.#working ??= this.#drain().finally(() => (this.#working = undefined))
  }

  async #body(failed: ReporterFailure[]): Promise<Record<string, unknown>> {
    const agent = this.#agent
    const { pinned } = await agent.heldImages()
    const metrics = agent.metrics
    return {
      version: this.#config.version,
      report_interval: Math.max(1, Math.round(this.#config.intervalMs / 1000)),
      cache: {
        max_bytes: await agent.maxBytes(),
        used_bytes: agent.directory.usedBytes(),
        free_disk_bytes: await agent.freeDiskBytes(),
      },
      stats: {
        hits: metrics.get('image_agent_cache_hits_total'),
        misses: metrics.get('image_agent_cache_misses_total'),
        bytes_fetched: metrics.get('image_agent_bytes_fetched_total'),
        evictions: metrics.get('image_agent_evictions_total'),
      },
      cached_images: agent.directory.list().map((entry) => ({
        image_id: entry.imageId,
        size: entry.size,
        hits: entry.hits,
        last_used: new Date(entry.lastUsed).toISOString(),
        pinned: pinned.has(entry.imageId),
      })),
      failed_images: failed,
    }
  }

  async #drain(): Promise<void> {
    for (const imageId of this.#queue) {
      if (this.#stopped) return
      try {
        await this.#agent.fetch(imageId, { background: true })
      } catch (error) {
        const reason = error instanceof AgentError ? error.message : String(error)
        // The library rejects a report that lists an image twice.
        this.#failed = this.#failed.filter((entry) => entry.image_id !== imageId)
        this.#failed.push({ image_id: imageId, reason })
      }
      this.#queue.delete(imageId)
    }
    // Tell the library at once, so the image leaves the queue without waiting an interval.
    await this.report().catch((error: unknown) =>
      this.#log.warn({ op: 'report', err: error }, 'report to the library failed'),
    )
  }
}

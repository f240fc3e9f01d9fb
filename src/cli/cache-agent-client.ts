import { CliError } from './errors.js'
import type { Session } from './session.js'

/** One cached image of a cache agent, as `GET /v2/cache/agents` returns it. */
export interface CachedImageRecord {
  image_id: string
  size: number
  hits: number
  last_used: string | null
  pinned: boolean
}

/** A hypervisor's cache agent, as `GET /v2/cache/agents/{name}` returns it. */
export interface CacheAgentRecord {
  name: string
  status: string
  version: string
  reported_at: string
  report_interval: number
  cache: { max_bytes: number; used_bytes: number; free_disk_bytes: number }
  stats: { hits: number; misses: number; bytes_fetched: number; evictions: number }
  cached_images: CachedImageRecord[]
  queued_images: string[]
  failed_images: { image_id: string; reason: string; reported_at?: string | null }[]
}

/** Calls the library's cache agent API (`/v2/cache/agents`), which requires the admin role. */
export class CacheAgentClient {
  readonly #session: Session

  constructor(session: Session) {
    this.#session = session
  }

  /** Lists every cache agent, sorted by name. */
  async listAgents(): Promise<CacheAgentRecord[]> {
    const response = await this.#session.sendJson<{ agents?: CacheAgentRecord[] }>({
      method: 'GET',
      url: this.#url('/v2/cache/agents'),
    })
    return response.body?.agents ?? []
  }

  /** Fetches one cache agent. Throws an HttpError with status 404 when there is none. */
  async getAgent(name: string): Promise<CacheAgentRecord> {
    const path = `/v2/cache/agents/${encodeURIComponent(name)}`
    const response = await this.#session.sendJson<CacheAgentRecord>({
      method: 'GET',
      url: this.#url(path),
    })
    if (response.body === undefined) throw new CliError(`The response to GET ${path} is empty.`)
    return response.body
  }

  /**
   * Queues an image for pre-caching on every cache agent (`all`) or the named ones, and returns
   * the names of the agents it was queued on.
   */
  async queueImage(imageId: string, agents: 'all' | readonly string[]): Promise<string[]> {
    const selection = agents === 'all' ? 'all' : agents.join(',')
    const query = new URLSearchParams({ agents: selection })
    const response = await this.#session.sendJson<{ queued_on?: string[] }>({
      method: 'PUT',
      url: this.#url(`/v2/cache/${encodeURIComponent(imageId)}?${query}`),
    })
    return response.body?.queued_on ?? []
  }

  #url(path: string): string {
    return `${this.#session.imageEndpoint}${path}`
  }
}

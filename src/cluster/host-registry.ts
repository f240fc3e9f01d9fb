import type { Logger } from 'pino'

/** A store of one host, with its capacity when the host last reported it. */
export interface HostStore {
  id: string
  totalBytes: number
  freeBytes: number
}

/** One image library host as the shared database records it. */
export interface HostRecord {
  name: string
  imageUrl: string
  identityUrl: string
  version: string
  startedAt: Date
  lastHeartbeat: Date
  /** Set when the host stopped cleanly; `null` while it runs or after a crash. */
  stoppedAt: Date | null
  stores: HostStore[]
}

export type HostStatus = 'healthy' | 'unhealthy' | 'stopped'

export interface HostView extends HostRecord {
  status: HostStatus
}

/** Host records in the database that every host shares. */
export interface HostRepository {
  /** Inserts or replaces the record of `record.name`. */
  register(record: HostRecord): Promise<void>
  heartbeat(name: string, at: Date, stores: HostStore[]): Promise<void>
  markStopped(name: string, at: Date): Promise<void>
  list(): Promise<HostRecord[]>
}

export interface HostRegistryConfig {
  heartbeatIntervalMs: number
  /** A host whose last heartbeat is older than this is unhealthy. */
  heartbeatTimeoutMs: number
}

/** Takes over the work that a host which is no longer healthy left unfinished. */
export type HostDownHandler = (host: string) => Promise<void>

/**
 * Registers this host in the shared database, sends heartbeats with its store capacities, and
 * keeps the list of healthy hosts: those whose last heartbeat is recent and that did not stop.
 * The identity catalog lists the healthy hosts, so clients can fail over to another one. At
 * each heartbeat, the work of hosts that are no longer healthy goes to `onHostDown`.
 * NOTE: a host that is alive but cannot reach the database for longer than the heartbeat
 * timeout loses its imports to another host, and both may then run them.
 */
export class HostRegistry {
  readonly #repo: HostRepository
  readonly #self: Omit<HostRecord, 'lastHeartbeat' | 'stoppedAt' | 'stores' | 'startedAt'>
  readonly #stores: () => Promise<HostStore[]>
  readonly #config: HostRegistryConfig
  readonly #log: Logger
  readonly #onHostDown: HostDownHandler
  #timer: NodeJS.Timeout | null = null
  #healthy: HostRecord[] = []

  constructor(
    repo: HostRepository,
    self: { name: string; imageUrl: string; identityUrl: string; version: string },
    stores: () => Promise<HostStore[]>,
    config: HostRegistryConfig,
    onHostDown: HostDownHandler,
    log: Logger,
  ) {
    this.#onHostDown = onHostDown
    this.#repo = repo
    this.#self = { ...self }
    this.#stores = stores
    this.#config = Object.freeze({ ...config })
    this.#log = log.child({ component: 'cluster' })
  }

  get name(): string {
    return this.#self.name
  }

  /** The healthy hosts as of the last heartbeat, this host first. */
  get healthy(): readonly HostRecord[] {
    return this.#healthy
  }

  async start(): Promise<void> {
    const now = new Date()
    await this.#repo.register({
      ...this.#self,
      startedAt: now,
      lastHeartbeat: now,
      stoppedAt: null,
      stores: await this.#stores(),
    })
    await this.#refresh()
    this.#timer = setInterval(() => {
      this.#beat().catch((error: unknown) =>
        this.#log.error({ err: error }, 'heartbeat failed; other hosts may think this one is down'),
      )
    }, this.#config.heartbeatIntervalMs)
    this.#timer.unref()
    this.#log.info({ host: this.#self.name }, 'host registered')
  }

  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer)
    await this.#repo.markStopped(this.#self.name, new Date())
  }

  /** Lists every host recorded in the database, with its status now. */
  async list(): Promise<HostView[]> {
    const now = Date.now()
    return (await this.#repo.list()).map((host) => ({ ...host, status: this.#statusOf(host, now) }))
  }

  async #beat(): Promise<void> {
    await this.#repo.heartbeat(this.#self.name, new Date(), await this.#stores())
    await this.#refresh()
  }

  async #refresh(): Promise<void> {
    const now = Date.now()
    const all = await this.#repo.list()
    for (const host of all) {
      if (host.name === this.#self.name || this.#statusOf(host, now) === 'healthy') continue
      await this.#onHostDown(host.name).catch((error: unknown) =>
        this.#log.error({ err: error, host: host.name }, 'taking over from a lost host failed'),
      )
    }
    const hosts = all.filter((host) => this.#statusOf(host, now) === 'healthy')
    // This host first: a client that takes the first endpoint stays on the host it asked.
    this.#healthy = hosts.sort(
      (a, b) => Number(b.name === this.#self.name) - Number(a.name === this.#self.name),
    )
  }

  #statusOf(host: HostRecord, now: number): HostStatus {
    return hostStatus(host, now, this.#config.heartbeatTimeoutMs)
  }
}

/** Returns `stopped` after a clean stop, else `healthy` while heartbeats are recent. */
export function hostStatus(host: HostRecord, now: number, timeoutMs: number): HostStatus {
  if (host.stoppedAt !== null) return 'stopped'
  return now - host.lastHeartbeat.getTime() <= timeoutMs ? 'healthy' : 'unhealthy'
}

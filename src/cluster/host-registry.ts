import { connect } from 'node:net'
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
  /** Per host, its last heartbeat value and when, by this host's clock, it last changed. */
  readonly #seen = new Map<string, { value: number; changedAt: number }>()
  /** When this host last read the registry; `0` after a failed read. */
  #lastRead = 0

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

  /**
   * Registers this host. A record of the same name that is not stopped and whose heartbeat
   * still advances belongs to another running process: then this throws, naming the setting.
   */
  async start(): Promise<void> {
    await this.#checkNameFree()
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
      this.#beat().catch((error: unknown) => {
        this.#lastRead = 0
        this.#log.error({ err: error }, 'heartbeat failed; other hosts may think this one is down')
      })
    }, this.#config.heartbeatIntervalMs)
    this.#timer.unref()
    this.#log.info({ host: this.#self.name }, 'host registered')
  }

  async #checkNameFree(): Promise<void> {
    const before = (await this.#repo.list()).find((host) => host.name === this.#self.name)
    if (before === undefined || before.stoppedAt !== null) return
    if (before.imageUrl === this.#self.imageUrl) return
    // A crashed process of this host left a record behind, but a running one accepts connections.
    if (await isListening(before.imageUrl)) {
      throw new HostNameInUseError(this.#self.name, before.imageUrl)
    }
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
    // After a failed or late read (the database was down, say), every host gets a fresh
    // timeout before it can count as down: the others could not beat either.
    const fresh = now - this.#lastRead > 2 * this.#config.heartbeatIntervalMs
    for (const host of all) {
      const value = host.lastHeartbeat.getTime()
      const seen = this.#seen.get(host.name)
      if (seen === undefined || seen.value !== value || fresh) {
        this.#seen.set(host.name, { value, changedAt: now })
      }
    }
    this.#lastRead = now
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

  /**
   * A host is down when its heartbeat has not changed for the timeout, measured by this host's
   * clock, so that clocks that disagree cannot make a live host look dead.
   */
  #statusOf(host: HostRecord, now: number): HostStatus {
    if (host.stoppedAt !== null) return 'stopped'
    if (host.name === this.#self.name) return 'healthy'
    const seen = this.#seen.get(host.name)
    if (seen === undefined) return hostStatus(host, now, this.#config.heartbeatTimeoutMs)
    return now - seen.changedAt <= this.#config.heartbeatTimeoutMs ? 'healthy' : 'unhealthy'
  }
}

/** Error for a host name that another running process is recorded under. */
export class HostNameInUseError extends Error {
  constructor(hostName: string, imageUrl: string) {
    super(
      `another running host already uses the host name ${hostName} (${imageUrl}); ` +
        'stop it first, or give each host its own data directory and [cluster] host_name',
    )
    this.name = 'HostNameInUseError'
  }
}

/**
 * Throws HostNameInUseError when the record of `hostName` belongs to a process that has not
 * stopped and still accepts connections at its image URL. Call it before this process listens,
 * so that such a listener cannot be this process. Start-up recovery resets the `saving` uploads
 * of its host name, which would break the uploads of the other process.
 */
export async function assertHostNameFree(repo: HostRepository, hostName: string): Promise<void> {
  const record = (await repo.list()).find((host) => host.name === hostName)
  if (record === undefined || record.stoppedAt !== null) return
  if (await isListening(record.imageUrl)) throw new HostNameInUseError(hostName, record.imageUrl)
}

/** Checks whether something accepts connections at the URL's host and port within two seconds. */
function isListening(url: string): Promise<boolean> {
  const { hostname, port, protocol } = new URL(url)
  const target = {
    host: hostname.replace(/^\[|\]$/g, ''),
    port: Number(port) || (protocol === 'https:' ? 443 : 80),
  }
  return new Promise((resolve) => {
    const socket = connect(target)
    const done = (result: boolean) => {
      socket.destroy()
      resolve(result)
    }
    socket.setTimeout(2000, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

/**
 * Returns `stopped` after a clean stop, else `healthy` while the recorded heartbeat is recent
 * by this machine's clock; for a one-off look, such as `admin host list`.
 */
export function hostStatus(host: HostRecord, now: number, timeoutMs: number): HostStatus {
  if (host.stoppedAt !== null) return 'stopped'
  return now - host.lastHeartbeat.getTime() <= timeoutMs ? 'healthy' : 'unhealthy'
}

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import pino from 'pino'
import {
  HostRegistry,
  type HostRecord,
  type HostRepository,
  type HostStore,
} from './host-registry.js'

/** Host records in memory; `failing` makes every call throw, as a database outage would. */
class MemoryHosts implements HostRepository {
  readonly rows = new Map<string, HostRecord>()
  failing = false

  async register(record: HostRecord): Promise<void> {
    this.#check()
    this.rows.set(record.name, { ...record })
  }

  async heartbeat(name: string, at: Date, stores: HostStore[]): Promise<void> {
    this.#check()
    const row = this.rows.get(name)
    if (row !== undefined) this.rows.set(name, { ...row, lastHeartbeat: at, stores })
  }

  async markStopped(name: string, at: Date): Promise<void> {
    const row = this.rows.get(name)
    if (row !== undefined) this.rows.set(name, { ...row, stoppedAt: at })
  }

  async list(): Promise<HostRecord[]> {
    this.#check()
    return [...this.rows.values()]
  }

  #check(): void {
    if (this.failing) throw new Error('database unavailable')
  }
}

const intervalMs = 50
const timeoutMs = 200
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function peer(name: string, lastHeartbeat: Date): HostRecord {
  return {
    name,
    imageUrl: `https://${name}.invalid:9292`,
    identityUrl: `https://${name}.invalid:5000/v3`,
    version: '0',
    startedAt: lastHeartbeat,
    lastHeartbeat,
    stoppedAt: null,
    stores: [],
  }
}

async function startRegistry(repo: MemoryHosts, down: string[]): Promise<HostRegistry> {
  const registry = new HostRegistry(
    repo,
    { name: 'self', imageUrl: 'https://self.invalid:9292', identityUrl: 'x', version: '0' },
    async () => [],
    { heartbeatIntervalMs: intervalMs, heartbeatTimeoutMs: timeoutMs },
    async (host) => {
      down.push(host)
    },
    pino({ level: 'silent' }),
  )
  await registry.start()
  return registry
}

describe('host liveness', () => {
  it('keeps a peer whose clock lags far behind healthy while it beats', async () => {
    const repo = new MemoryHosts()
    const lagging = peer('lagging', new Date(Date.now() - 3600_000))
    repo.rows.set(lagging.name, lagging)
    const down: string[] = []
    const registry = await startRegistry(repo, down)
    try {
      for (let i = 0; i < 10; i++) {
        await sleep(intervalMs)
        const row = repo.rows.get('lagging')!
        repo.rows.set('lagging', {
          ...row,
          lastHeartbeat: new Date(row.lastHeartbeat.getTime() + intervalMs),
        })
      }
      assert.deepEqual(down, [])
      assert.deepEqual(registry.healthy.map((host) => host.name).sort(), ['lagging', 'self'])
    } finally {
      await registry.stop()
    }
  })

  it('declares a peer down once its heartbeat stops changing for the timeout', async () => {
    const repo = new MemoryHosts()
    repo.rows.set('silent', peer('silent', new Date()))
    const down: string[] = []
    const registry = await startRegistry(repo, down)
    try {
      await sleep(timeoutMs / 2)
      assert.equal(down.length, 0, 'declared down before the timeout')
      await sleep(timeoutMs + 2 * intervalMs)
      assert.ok(down.includes('silent'))
      assert.deepEqual(
        registry.healthy.map((host) => host.name),
        ['self'],
      )
    } finally {
      await registry.stop()
    }
  })

  it('gives every peer a new timeout after a database outage', async () => {
    const repo = new MemoryHosts()
    repo.rows.set('quiet', peer('quiet', new Date()))
    const down: string[] = []
    const registry = await startRegistry(repo, down)
    try {
      repo.failing = true
      await sleep(timeoutMs * 2)
      repo.failing = false
      await sleep(intervalMs * 2)
      assert.deepEqual(down, [], 'a peer was declared down right after the outage')
    } finally {
      await registry.stop()
    }
  })
})

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import pino from 'pino'
import type { Image } from '../domain/image.js'
import {
  CacheAgentRegistry,
  validateAgentName,
  type CacheAgentRecord,
  type CacheAgentRepository,
  type QueueOutcome,
} from './cache-agent-registry.js'

const reportedAt = new Date('2026-12-04T21:00:00.000Z')

function makeAgent(name: string): CacheAgentRecord {
  return {
    name,
    version: '0.1.0',
    reportIntervalSeconds: 10,
    cache: { maxBytes: 1, usedBytes: 0, freeDiskBytes: 1 },
    stats: { hits: 0, misses: 0, bytesFetched: 0, evictions: 0 },
    cachedImages: [],
    failedImages: [],
    reportedAt,
    queuedImages: [],
    failuresReportedAt: null,
  }
}

/** A repository with one agent, `hv-1`, whose queue calls return `outcome`. */
function fakeRepository(outcome: QueueOutcome): CacheAgentRepository & { queued: number } {
  return {
    queued: 0,
    saveReport: async () => [],
    list: async () => [makeAgent('hv-1')],
    get: async (name) => (name === 'hv-1' ? makeAgent(name) : null),
    delete: async (name) => name === 'hv-1',
    async queue() {
      this.queued++
      return outcome
    },
    forgetImage: async () => undefined,
  }
}

function registryAt(time: number, outcome: QueueOutcome = { kind: 'queued', agents: [] }) {
  const repo = fakeRepository(outcome)
  const log = pino({ level: 'silent' })
  return { repo, registry: new CacheAgentRegistry(repo, { now: () => new Date(time) }, log) }
}

const image = { id: 'img-1', status: 'active' } as Image

describe('cache agent status', () => {
  it('stays up for exactly three report intervals', async () => {
    const { registry } = registryAt(reportedAt.getTime() + 30_000)
    assert.equal((await registry.get('hv-1')).status, 'up')
  })

  it('turns stale after three report intervals', async () => {
    const { registry } = registryAt(reportedAt.getTime() + 30_001)
    assert.equal((await registry.get('hv-1')).status, 'stale')
    assert.equal((await registry.list())[0]?.status, 'stale')
  })
})

describe('CacheAgentRegistry', () => {
  it('rejects unknown agents with 404', async () => {
    const { registry } = registryAt(0)
    await assert.rejects(registry.get('hv-2'), { status: 404, code: 'CACHE_AGENT_NOT_FOUND' })
    await assert.rejects(registry.remove('hv-2'), { status: 404 })
  })

  it('names every unknown agent when queuing', async () => {
    const { registry } = registryAt(0, { kind: 'unknown', names: ['x', 'y'] })
    await assert.rejects(registry.queue(image, ['x', 'y']), /No cache agents named x, y/)
  })

  it('rejects all without agents with 409', async () => {
    const { registry } = registryAt(0)
    await assert.rejects(registry.queue(image, 'all'), { status: 409, code: 'CONFLICT' })
  })

  it('rejects an inactive image before the repository', async () => {
    const { registry, repo } = registryAt(0)
    const queued = { ...image, status: 'queued' } as Image
    await assert.rejects(registry.queue(queued, 'all'), { code: 'IMAGE_STATE_CONFLICT' })
    assert.equal(repo.queued, 0)
  })

  it('rejects an invalid name before the repository', async () => {
    const { registry, repo } = registryAt(0)
    await assert.rejects(registry.queue(image, ['ok', '_bad']), { status: 400 })
    assert.equal(repo.queued, 0)
  })
})

describe('validateAgentName', () => {
  it('accepts 1 to 255 allowed characters', () => {
    for (const name of ['a', '9', 'hv-1.rack_2', `a${'b'.repeat(254)}`]) {
      assert.equal(validateAgentName(name), name)
    }
  })

  it('rejects other names', () => {
    for (const name of ['', '-a', '.a', '_a', 'a b', 'a/b', `a${'b'.repeat(255)}`, 'hv:1']) {
      assert.throws(() => validateAgentName(name), { status: 400 }, name)
    }
  })
})

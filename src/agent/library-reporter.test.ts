import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import pino from 'pino'
import { AgentError } from './agent-error.js'
import type { ImageAgent } from './image-agent.js'
import { LibraryReporter } from './library-reporter.js'
import { MetricsRegistry } from './metrics.js'

const log = pino({ level: 'silent' })

/** Returns a promise with its resolve and reject functions, for the test to settle. */
function deferred<T>() {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((resolveWith, rejectWith) => {
    resolve = resolveWith
    reject = rejectWith
  })
  return { promise, resolve, reject }
}

type Body = { failed_images: { image_id: string; reason: string }[] }

/** Returns an agent whose reports and fetches wait until the test settles them. */
function fakeAgent() {
  const reports: { body: Body; answer: ReturnType<typeof deferred<unknown>> }[] = []
  const fetches: { image: string; result: ReturnType<typeof deferred<unknown>> }[] = []
  const metrics = new MetricsRegistry()
  for (const name of ['hits', 'misses', 'bytes_fetched', 'evictions']) {
    metrics.declare(`image_agent_cache_${name}_total`, 'counter', name)
    metrics.declare(`image_agent_${name}_total`, 'counter', name)
  }
  const agent = {
    metrics,
    heldImages: async () => ({ pinned: new Set<string>(), busy: new Set<string>() }),
    maxBytes: async () => 1000,
    freeDiskBytes: async () => 1000,
    directory: { usedBytes: () => 0, list: () => [] },
    library: {
      sendJson: (_method: string, _path: string, body: Body) => {
        const answer = deferred<unknown>()
        reports.push({ body, answer })
        return answer.promise
      },
    },
    fetch: (image: string) => {
      const result = deferred<unknown>()
      fetches.push({ image, result })
      return result.promise
    },
  }
  return { agent: agent as unknown as ImageAgent, reports, fetches }
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve))
}

const first = '11111111-1111-4111-8111-111111111111'
const second = '22222222-2222-4222-8222-222222222222'

describe('LibraryReporter failures', () => {
  it('keeps a failure made during a report', async () => {
    const { agent, reports, fetches } = fakeAgent()
    const config = { name: 'hv-1', intervalMs: 60_000, version: '1' }
    const reporter = new LibraryReporter(agent, config, log)

    const initial = reporter.report()
    await until(() => reports.length === 1)
    reports[0]!.answer.resolve({ queued_images: [first, second] })
    await initial
    await until(() => fetches.length === 1)
    // A report is on its way when the first image fails, so its response still queues that image.
    const overlapping = reporter.report()
    await until(() => reports.length === 2)
    fetches[0]!.result.reject(new AgentError('CACHE_FULL', 'The image does not fit.'))
    await until(() => fetches.length === 2)
    reports[1]!.answer.resolve({ queued_images: [first, second] })
    await overlapping
    fetches[1]!.result.resolve({})
    await until(() => reports.length === 3 || fetches.length === 3)

    assert.deepEqual(
      fetches.map((fetch) => fetch.image),
      [first, second],
    )
    const failed = reports[2]!.body.failed_images
    assert.deepEqual(
      failed.map((entry) => entry.image_id),
      [first],
    )
    assert.equal(failed[0]!.reason, 'The image does not fit.')
    reports[2]!.answer.resolve({ queued_images: [] })
    await reporter.stop()
  })
})

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import { after, describe, it } from 'node:test'
import { promisify } from 'node:util'
import pino from 'pino'
import { CheckedStore } from '../base.js'
import { runStoreConformance } from '../conformance.js'
import { StoreUnavailable } from '../errors.js'
import { cephSkipReason, startCephCluster, type CephCluster } from '../testing/ceph-cluster.js'
import type { RbdStore } from './driver.js'
import { createRbdStore } from './index.js'

const run = promisify(execFile)
const log = pino({ level: 'silent' })
const skip = cephSkipReason()

let started: Promise<CephCluster> | undefined
/**
 * Starts one cluster for this file on the first call, with a user `client.glance` that has only
 * the capabilities that the README asks for.
 */
function cluster(): Promise<CephCluster> {
  started ??= startCephCluster().then(async (ceph) => {
    const caps = ['mon', 'profile rbd', 'osd', `profile rbd pool=${ceph.pool}`]
    const args = ['--conf', ceph.cephConf, 'auth', 'get-or-create', 'client.glance', ...caps]
    const { stdout } = await run('ceph', [...args, '--out-file', glanceKeyring(ceph)])
    assert.equal(stdout, '')
    return ceph
  })
  return started
}

function glanceKeyring(ceph: CephCluster): string {
  return join(ceph.directory, 'glance.keyring')
}
after(async () => {
  if (started !== undefined) await (await started).stop()
})

/** Opens the store as client.glance. */
function openStore(ceph: CephCluster, timeoutSeconds?: number): RbdStore {
  return createRbdStore({
    pool: ceph.pool,
    cephConf: ceph.cephConf,
    client: 'glance',
    keyring: glanceKeyring(ceph),
    log,
    ...(timeoutSeconds === undefined ? {} : { timeoutSeconds }),
  })
}

/** Lists every image in the pool, temporary ones included, with the rbd command. */
async function listImages(ceph: CephCluster): Promise<string[]> {
  const args = ['--conf', ceph.cephConf, '--id', 'admin', 'ls', '--format', 'json', ceph.pool]
  const { stdout } = await run('rbd', args)
  return (JSON.parse(stdout) as string[]).sort()
}

/** Lists rbd processes that this process started and that still exist, zombies too. */
async function rbdChildren(): Promise<number[]> {
  const pids: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '')
    const [, name, rest] = /^\d+ \((.*)\) (.*)$/.exec(stat) ?? []
    const parent = Number(rest?.split(' ')[1])
    if (name === 'rbd' && parent === process.pid) pids.push(Number(entry))
  }
  return pids
}

function endlessSource(): Readable {
  const source = new Readable({ read() {} })
  source.push(randomBytes(6 * 1024 * 1024))
  return source
}

runStoreConformance(
  'rbd',
  async () => {
    const ceph = await cluster()
    return {
      store: new CheckedStore(openStore(ceph), log),
      listResidue: () => listImages(ceph),
      async close() {},
    }
  },
  skip === undefined ? {} : { skip },
)

describe('rbd store without the rbd command', () => {
  it('reports StoreUnavailable naming the command', async () => {
    const store = createRbdStore({
      pool: 'rbd',
      cephConf: '/nonexistent/ceph.conf',
      client: 'admin',
      keyring: null,
      log,
    })
    const path = process.env.PATH
    process.env.PATH = '/nonexistent'
    try {
      await assert.rejects(store.ping(), /rbd ls could not run/)
      await assert.rejects(store.capacity(), /ceph df could not run/)
      const writing = store.write('x', Readable.from([Buffer.from('x')]))
      await assert.rejects(writing, StoreUnavailable)
    } finally {
      process.env.PATH = path
    }
    assert.deepEqual(await rbdChildren(), [])
  })
})

describe('rbd store on a running cluster', { skip: skip ?? false }, () => {
  it('removes the temporary image when a write is aborted', async () => {
    const ceph = await cluster()
    const store = openStore(ceph)
    const controller = new AbortController()
    const writing = store.write('aborted-late', endlessSource(), controller.signal)
    // Abort only once rbd has created the temporary image, so that removing it is tested.
    while (!(await listImages(ceph)).some((name) => name.includes('aborted-late'))) {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    controller.abort(new Error('upload cancelled'))

    await assert.rejects(writing)
    assert.deepEqual(await listImages(ceph), [])
    assert.deepEqual(await rbdChildren(), [])
  })

  it('removes the temporary image when the source fails mid-write', async () => {
    const ceph = await cluster()
    const store = openStore(ceph)
    const failure = new Error('client went away')
    const source = Readable.from(
      (async function* () {
        yield randomBytes(5 * 1024 * 1024)
        await new Promise((resolve) => setTimeout(resolve, 200))
        throw failure
      })(),
    )

    await assert.rejects(store.write('failed-late', source), (error) => error === failure)
    assert.deepEqual(await listImages(ceph), [])
  })

  it('reads ranges across the 4 MiB object boundary', async () => {
    const ceph = await cluster()
    const store = openStore(ceph)
    const data = randomBytes(9 * 1024 * 1024 + 5)
    await store.write('ranges', Readable.from([data]))
    const boundary = 4 * 1024 * 1024

    const cases = [
      { start: 0, end: 0 },
      { start: boundary - 3, end: boundary + 2 },
      { start: boundary + 1, end: 2 * boundary + 10 },
      { start: data.length - 1, end: data.length - 1 },
    ]
    for (const range of cases) {
      const back = await buffer(await store.read('ranges', range))
      assert.ok(back.equals(data.subarray(range.start, range.end + 1)), JSON.stringify(range))
    }
    const past = await buffer(await store.read('ranges', { start: data.length - 2, end: 1e12 }))
    assert.ok(past.equals(data.subarray(data.length - 2)), 'a range past the end')
    assert.equal(await store.delete('ranges'), true)
  })

  it('ends rbd export when a reader stops early', async () => {
    const ceph = await cluster()
    const store = openStore(ceph)
    await store.write('early-stop', Readable.from([randomBytes(12 * 1024 * 1024)]))

    const stream = await store.read('early-stop')
    await new Promise((resolve) => stream.once('data', resolve))
    stream.destroy()
    const deadline = Date.now() + 10_000
    while ((await rbdChildren()).length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    assert.deepEqual(await rbdChildren(), [])
    assert.equal(await store.delete('early-stop'), true)
  })

  it('removes leftovers of a crashed write by key and by age', async () => {
    const ceph = await cluster()
    const store = openStore(ceph)
    // A write whose process died: its temporary image stays behind, closed.
    const leftover = 'incomplete~crashed~0123456789ab'
    const identity = ['--conf', ceph.cephConf, '--id', 'admin']
    await run('rbd', [...identity, 'create', '--size', '1M', `${ceph.pool}/${leftover}`])
    await store.write('finished', Readable.from([Buffer.from('kept')]))

    assert.equal(await store.removeIncomplete({ key: 'other' }), 0)
    assert.equal(await store.removeIncomplete({ olderThanMs: 3_600_000 }), 0)
    assert.equal(await store.removeIncomplete({ key: 'crashed', olderThanMs: 0 }), 1)
    assert.deepEqual(await listImages(ceph), ['finished'])
    await store.delete('finished')
  })

  // Runs last: it stops this file's cluster.
  it('reports StoreUnavailable once the cluster is down', async () => {
    const ceph = await cluster()
    const store = openStore(ceph, 1)
    await ceph.stop()

    await assert.rejects(store.ping(), StoreUnavailable)
    await assert.rejects(store.stat('anything'), StoreUnavailable)
    await assert.rejects(store.capacity(), StoreUnavailable)
    await assert.rejects(store.write('lost', Readable.from([Buffer.from('x')])), StoreUnavailable)
    await assert.rejects(store.read('lost'), StoreUnavailable)
    assert.deepEqual(await rbdChildren(), [])
  })
})

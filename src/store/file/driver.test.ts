import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import pino from 'pino'
import { CheckedStore } from '../base.js'
import { runStoreConformance } from '../conformance.js'
import { createFileStore } from './index.js'

runStoreConformance('file', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'file-store-'))
  const driver = await createFileStore({ directory })
  return {
    store: new CheckedStore(driver, pino({ level: 'silent' })),
    async listResidue() {
      const finished = (await readdir(directory)).filter((name) => name !== '.incomplete')
      const incomplete = await readdir(join(directory, '.incomplete'))
      return [...finished, ...incomplete.map((name) => `.incomplete/${name}`)]
    },
    async close() {
      await rm(directory, { recursive: true, force: true })
    },
  }
})

describe('file store leftovers', () => {
  it('removes the leftovers of one key, or only stale ones', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'file-store-'))
    try {
      const store = await createFileStore({ directory })
      const incomplete = join(directory, '.incomplete')
      for (const name of ['a.0001', 'a.0002', 'ab.0003', 'b.0004']) {
        await writeFile(join(incomplete, name), 'partial')
      }
      const hourAgo = new Date(Date.now() - 3600_000)
      await utimes(join(incomplete, 'b.0004'), hourAgo, hourAgo)

      assert.equal(await store.removeIncomplete({ key: 'a' }), 2)
      assert.deepEqual((await readdir(incomplete)).sort(), ['ab.0003', 'b.0004'])
      assert.equal(await store.removeIncomplete({ olderThanMs: 600_000 }), 1)
      assert.deepEqual(await readdir(incomplete), ['ab.0003'])
      assert.equal(await store.removeIncomplete(), 1)
      assert.deepEqual(await readdir(incomplete), [])
    } finally {
      await rm(directory, { recursive: true, force: true })
    }
  })
})

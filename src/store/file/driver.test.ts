import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
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

import { isAbsolute } from 'node:path'
import { FileStore, type FileStoreConfig } from './driver.js'

/** Validates the file store's settings and returns a ready store. */
export async function createFileStore(config: FileStoreConfig): Promise<FileStore> {
  if (!isAbsolute(config.directory)) {
    throw new TypeError(`a file store directory must be an absolute path, got ${config.directory}`)
  }
  const store = new FileStore(config)
  await store.init()
  return store
}

import { randomBytes } from 'node:crypto'
import { open, rename, stat } from 'node:fs/promises'
import { join } from 'node:path'

const mebibyte = 1024 * 1024
const blockBytes = 64 * mebibyte

/** A generated input file and its size in bytes. */
export interface InputFile {
  path: string
  size: number
}

/**
 * Generates `<workDir>/input-<N>MiB.bin` unless a file of the right size is already there, and
 * returns its path and size. The data is one random 64 MiB block repeated, which is quick to
 * write and does not compress. The file is fsynced so that its writeback does not overlap the
 * measurements, and its pages stay in the page cache.
 */
export async function ensureInputFile(workDir: string, sizeMiB: number): Promise<InputFile> {
  const path = join(workDir, `input-${sizeMiB}MiB.bin`)
  const size = sizeMiB * mebibyte
  if (await hasSize(path, size)) return { path, size }

  const temp = `${path}.partial`
  const handle = await open(temp, 'w')
  try {
    const block = randomBytes(Math.min(blockBytes, size))
    for (let written = 0; written < size;) {
      const length = Math.min(block.length, size - written)
      const { bytesWritten } = await handle.write(block, 0, length, written)
      written += bytesWritten
    }
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(temp, path)
  return { path, size }
}

async function hasSize(path: string, size: number): Promise<boolean> {
  try {
    return (await stat(path)).size === size
  } catch {
    return false
  }
}

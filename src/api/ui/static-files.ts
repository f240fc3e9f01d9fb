import { readdir, readFile } from 'node:fs/promises'
import { extname, join, relative, sep } from 'node:path'

/** One file of the built web UI, held in memory. */
export interface StaticFile {
  body: Buffer
  contentType: string
  /** True for Vite's content-hashed assets, which never change under the same name. */
  immutable: boolean
}

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
}

/**
 * Reads every file under `directory` (the output of `vite build`) into a map keyed by its path
 * relative to that directory, with `/` separators. Only these files are ever served, so no
 * request path reaches the file system. Returns `null` when the directory does not exist.
 */
export async function loadStaticFiles(directory: string): Promise<Map<string, StaticFile> | null> {
  const paths = await listFiles(directory).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null
    throw error
  })
  if (paths === null) return null

  const files = new Map<string, StaticFile>()
  for (const path of paths) {
    const name = relative(directory, path).split(sep).join('/')
    files.set(name, {
      body: await readFile(path),
      contentType: contentTypes[extname(name)] ?? 'application/octet-stream',
      immutable: name.startsWith('assets/'),
    })
  }
  return files
}

async function listFiles(directory: string): Promise<string[]> {
  const found: string[] = []
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name)
    if (entry.isDirectory()) found.push(...(await listFiles(path)))
    else if (entry.isFile()) found.push(path)
  }
  return found
}

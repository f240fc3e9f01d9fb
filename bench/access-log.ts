import { readFile } from 'node:fs/promises'

/**
 * The messages of the service's access lines. A download that the client dropped gets the
 * second one, and its `bytesOut` still counts bytes that left the service.
 */
const accessMessages: ReadonlySet<unknown> = new Set([
  'request completed',
  'request aborted by client',
])
const downloadRoute = '/v2/images/:id/file'

/** The image data that the service's access log records as sent for one image. */
export interface BytesServed {
  /** Access lines of `GET /v2/images/{id}/file` for the image, ranged ones included. */
  downloads: number
  /** The sum of their `bytesOut`. */
  bytes: number
}

/**
 * Reads the service's JSON-lines log and sums the downloads of one image. Only a service that
 * logs at info level writes access lines. A last line without its newline is still being
 * written, so it is left for the next read.
 */
export async function readBytesServed(logFile: string, imageId: string): Promise<BytesServed> {
  const lines = (await readFile(logFile, 'utf8')).split('\n').slice(0, -1)
  const served: BytesServed = { downloads: 0, bytes: 0 }
  for (const line of lines) {
    if (!line.startsWith('{') || !line.includes(imageId)) continue

    const entry = JSON.parse(line) as Record<string, unknown>
    const isDownload = entry['method'] === 'GET' && entry['route'] === downloadRoute
    if (!isDownload || !accessMessages.has(entry['msg']) || entry['imageId'] !== imageId) continue
    served.downloads++
    served.bytes += Number(entry['bytesOut'] ?? 0)
  }
  return served
}

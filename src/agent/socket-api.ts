import { chmod, lstat, rm } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { connect } from 'node:net'
import type { Logger } from 'pino'
import { AgentError } from './agent-error.js'
import { vmDiskFormats, type VmDiskFormat } from './disk-registry.js'
import type { ImageAgent } from './image-agent.js'
import { createVmDisk, deleteVmDisk } from './vm-disks.js'

/** Largest request body the socket API reads. */
const maxBodyBytes = 64 * 1024

type Handler = (agent: ImageAgent, body: Record<string, unknown>, log: Logger) => Promise<unknown>

/**
 * The agent's API on its Unix socket: HTTP with JSON bodies, for the hypervisor's tools and
 * the `image-library agent` commands. Errors return the AgentError's status and
 * `{"error": {"code", "message"}}`.
 *
 * - `POST /v1/fetch` `{"image", "verify"?}`: returns the path of a verified local copy.
 * - `POST /v1/precache` `{"image"}`: starts a background fetch at the pre-cache rate.
 * - `GET /v1/images`: the cached copies.
 * - `POST /v1/disks` `{"image", "size", "path", "format"?}`: makes a VM disk.
 * - `GET /v1/disks`, `DELETE /v1/disks` `{"path"}`: lists or deletes VM disks.
 * - `GET /v1/status`: the cache directory, limits and counters.
 * - `GET /metrics`: Prometheus metrics.
 */
export const routes: Readonly<Record<string, Handler>> = {
  'POST /v1/fetch': async (agent, body) => {
    const fetched = await agent.fetch(requireText(body, 'image'), {
      verify: body['verify'] === true,
    })
    return {
      image_id: fetched.image.id,
      path: fetched.path,
      size: fetched.image.size,
      disk_format: fetched.image.diskFormat,
      virtual_size: fetched.image.virtualSize,
      result: fetched.result,
    }
  },
  'POST /v1/precache': async (agent, body, log) => {
    const image = requireText(body, 'image')
    // The response waits for the image lookup, so an unknown image fails here. Only the download
    // runs in the background.
    await new Promise<void>((found, failed) => {
      agent.fetch(image, { background: true, check: () => found() }).catch((error: unknown) => {
        failed(error)
        log.warn({ op: 'precache', image, err: error }, 'pre-cache failed')
      })
    })
    return { queued: image }
  },
  'GET /v1/images': async (agent) => ({ images: await listImages(agent) }),
  'POST /v1/disks': async (agent, body, log) => {
    const format = (body['format'] ?? agent.defaultDiskFormat) as VmDiskFormat
    if (!vmDiskFormats.includes(format)) {
      throw new AgentError('BAD_REQUEST', `format must be qcow2 or raw, got ${String(format)}.`)
    }
    const size = body['size']
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size <= 0) {
      throw new AgentError('BAD_REQUEST', 'size must be a positive number of bytes.')
    }
    const request = {
      image: requireText(body, 'image'),
      path: requireText(body, 'path'),
      size,
      format,
    }
    return diskToWire(await createVmDisk(agent, request, log))
  },
  'GET /v1/disks': async (agent) => ({ disks: (await agent.disks.list()).map(diskToWire) }),
  'DELETE /v1/disks': async (agent, body, log) => {
    await deleteVmDisk(agent, requireText(body, 'path'), log)
    return { deleted: body['path'] }
  },
  'GET /v1/status': async (agent) => ({
    cache_dir: agent.directory.root,
    images_dir: agent.directory.imagesDir,
    max_bytes: await agent.maxBytes(),
    used_bytes: agent.directory.usedBytes(),
    free_disk_bytes: await agent.freeDiskBytes(),
    cached_images: agent.directory.list().length,
    default_disk_format: agent.defaultDiskFormat,
  }),
}

async function listImages(agent: ImageAgent): Promise<unknown[]> {
  const { pinned } = await agent.heldImages()
  return agent.directory.list().map((entry) => ({
    image_id: entry.imageId,
    path: agent.directory.dataPath(entry.imageId),
    size: entry.size,
    disk_format: entry.diskFormat,
    hits: entry.hits,
    last_used: new Date(entry.lastUsed).toISOString(),
    verified_at: new Date(entry.verifiedAt).toISOString(),
    pinned: pinned.has(entry.imageId),
  }))
}

function diskToWire(disk: {
  path: string
  imageId: string
  format: string
  backingFile: string | null
}) {
  return {
    path: disk.path,
    image_id: disk.imageId,
    format: disk.format,
    backing_file: disk.backingFile,
  }
}

function requireText(body: Record<string, unknown>, field: string): string {
  const value = body[field]
  if (typeof value !== 'string' || value === '') {
    throw new AgentError('BAD_REQUEST', `The request needs "${field}" as a non-empty string.`)
  }
  return value
}

/**
 * Listens on a Unix socket (mode 0660, so the hypervisor's group may use it). Fails to start
 * when another agent listens on the same path, or when the path is not a socket; a stale socket
 * file is replaced.
 */
export async function listenOnSocket(
  agent: ImageAgent,
  path: string,
  log: Logger,
): Promise<Server> {
  if (await isAnswering(path)) {
    throw new Error(
      `Another agent is listening on ${path}; stop it first or choose another --socket.`,
    )
  }
  const existing = await lstat(path).catch(() => undefined)
  if (existing !== undefined && !existing.isSocket()) {
    throw new Error(
      `${path} exists and is not a socket, so the agent leaves it alone. Choose another --socket.`,
    )
  }
  await rm(path, { force: true })
  const server = createServer((request, response) => {
    void handle(agent, request, response, log)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(path, () => resolve())
  })
  await chmod(path, 0o660)
  return server
}

async function handle(
  agent: ImageAgent,
  request: IncomingMessage,
  response: ServerResponse,
  log: Logger,
): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://agent')
  try {
    if (request.method === 'GET' && url.pathname === '/metrics') {
      const text = await agent.renderMetrics()
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
      response.end(text)
      return
    }
    const handler = routes[`${request.method} ${url.pathname}`]
    if (handler === undefined) throw unknownCall(request.method ?? '', url.pathname, response)
    const result = await handler(agent, await readJson(request), log)
    sendJson(response, 200, result)
  } catch (error) {
    const failure =
      error instanceof AgentError
        ? error
        : new AgentError('INTERNAL', `The agent failed: ${(error as Error).message}`, {
            cause: error,
          })
    if (failure.code === 'INTERNAL')
      log.error({ err: error, op: url.pathname }, 'agent call failed')
    // Unread body bytes would be taken for the next request on a kept-alive connection.
    if (!request.complete) response.setHeader('connection', 'close')
    sendJson(response, failure.status, { error: { code: failure.code, message: failure.message } })
  }
}

/** Returns the error for a call that no route takes: 405 with `Allow` for a known path, else 404. */
function unknownCall(method: string, path: string, response: ServerResponse): AgentError {
  const allowed = Object.keys(routes)
    .filter((route) => route.endsWith(` ${path}`))
    .map((route) => route.split(' ')[0]!)
  if (path === '/metrics') allowed.push('GET')
  if (allowed.length === 0) {
    return new AgentError(
      'CALL_NOT_FOUND',
      `The agent has no call ${path}. The calls are /v1/fetch, /v1/precache, /v1/images, ` +
        '/v1/disks, /v1/status and /metrics.',
    )
  }
  response.setHeader('allow', allowed.join(', '))
  return new AgentError(
    'METHOD_NOT_ALLOWED',
    `${path} does not take ${method}; use ${allowed.join(' or ')}.`,
  )
}

async function readJson(request: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = []
  let length = 0
  for await (const chunk of request as AsyncIterable<Buffer>) {
    length += chunk.length
    if (length > maxBodyBytes) throw new AgentError('BAD_REQUEST', 'The request body is too large.')
    chunks.push(chunk)
  }
  if (length === 0) return {}
  try {
    const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
      return body as Record<string, unknown>
    }
  } catch {
    // Answered below.
  }
  throw new AgentError('BAD_REQUEST', 'The request body must be a JSON object.')
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' })
  response.end(`${JSON.stringify(body)}\n`)
}

function isAnswering(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path)
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

import { createReadStream } from 'node:fs'
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http'
import { Agent, request } from 'node:https'
import type { TLSSocket } from 'node:tls'
import { pipeline } from 'node:stream/promises'

/** An HTTPS origin on loopback and the CA certificate that its server certificate chains to. */
export interface Target {
  origin: string
  ca: Buffer
  /** A keep-alive agent; each request opens its own connection when absent. */
  agent?: Agent
}

export interface JsonResponse {
  status: number
  headers: IncomingMessage['headers']
  body: unknown
}

/** Timing and connection facts of one bulk transfer. */
export interface Transfer {
  bytes: number
  seconds: number
  /** Negotiated TLS version and cipher, e.g. `TLSv1.3 TLS_AES_256_GCM_SHA384`. */
  tls: string
}

/** Creates a keep-alive agent that trusts `ca` and keeps at most `sockets` connections open. */
export function keepAliveAgent(ca: Buffer, sockets: number): Agent {
  return new Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets, ca })
}

/** Sends one request and resolves with the response, its body read as text. */
export function send(
  target: Target,
  method: string,
  path: string,
  headers: OutgoingHttpHeaders,
  body?: string,
): Promise<{ response: IncomingMessage; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(requestOptions(target, method, path, headers), (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => resolve({ response, text: Buffer.concat(chunks).toString('utf8') }))
      response.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** Sends a request with an optional JSON body and parses a JSON response body, if any. */
export async function sendJson(
  target: Target,
  method: string,
  path: string,
  token: string | null,
  body?: unknown,
): Promise<JsonResponse> {
  const headers: OutgoingHttpHeaders = { accept: 'application/json' }
  if (token !== null) headers['x-auth-token'] = token
  if (body !== undefined) headers['content-type'] = 'application/json'

  const payload = body === undefined ? undefined : JSON.stringify(body)
  const { response, text } = await send(target, method, path, headers, payload)
  const isJson = (response.headers['content-type'] ?? '').includes('json') && text !== ''
  return {
    status: response.statusCode ?? 0,
    headers: response.headers,
    body: isJson ? JSON.parse(text) : text,
  }
}

/**
 * Streams `file` as the body of a `PUT` and resolves once the response has ended. Throws when
 * the status is not `expectedStatus`, with the response body in the message.
 */
export async function uploadFile(
  target: Target,
  path: string,
  headers: OutgoingHttpHeaders,
  file: { path: string; size: number },
  expectedStatus: number,
): Promise<Transfer> {
  const started = process.hrtime.bigint()
  const allHeaders = { ...headers, 'content-length': String(file.size) }
  const req = request(requestOptions(target, 'PUT', path, allHeaders))
  const responded = responseOf(req)

  // A 1 MiB read size keeps the client's share of the work small; TLS still frames 16 KiB records.
  const source = createReadStream(file.path, { highWaterMark: 1024 * 1024 })
  // A server that rejects the upload early responds before the body is sent, and then the status
  // explains the failure better than the write error does.
  const sent = pipeline(source, req).then(
    () => null,
    (error: unknown) => error,
  )
  const response = await responded
  const tls = describeTls(response)
  const text = await readText(response)
  const seconds = secondsSince(started)
  const sendError = await sent

  if (response.statusCode !== expectedStatus) {
    throw new Error(
      `PUT ${path} returned ${response.statusCode}, expected ${expectedStatus}: ${text}`,
    )
  }
  if (sendError !== null) throw sendError
  return { bytes: file.size, seconds, tls }
}

/**
 * Downloads `path` and discards the data, counting bytes. The same code serves the image API
 * and the reference server, so both pay the same client cost.
 */
export function downloadDiscard(
  target: Target,
  path: string,
  headers: OutgoingHttpHeaders,
): Promise<Transfer> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint()
    const req = request(requestOptions(target, 'GET', path, headers), (response) => {
      if (response.statusCode !== 200) {
        readText(response).then(
          (text) =>
            reject(
              new Error(`GET ${target.origin}${path} returned ${response.statusCode}: ${text}`),
            ),
          reject,
        )
        return
      }
      const tls = describeTls(response)
      let bytes = 0
      response.on('data', (chunk: Buffer) => (bytes += chunk.length))
      response.on('end', () => resolve({ bytes, seconds: secondsSince(started), tls }))
      response.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

/** Sends a `GET`, drains the body, and resolves with the status; for request-rate loops. */
export function getStatus(
  target: Target,
  path: string,
  headers: OutgoingHttpHeaders,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(requestOptions(target, 'GET', path, headers), (response) => {
      response.resume()
      response.on('end', () => resolve(response.statusCode ?? 0))
      response.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

export function secondsSince(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9
}

function requestOptions(
  target: Target,
  method: string,
  path: string,
  headers: OutgoingHttpHeaders,
) {
  const url = new URL(path, target.origin)
  return {
    method,
    hostname: url.hostname,
    port: url.port,
    path: url.pathname + url.search,
    headers,
    ca: target.ca,
    agent: target.agent ?? false,
  }
}

function responseOf(req: ReturnType<typeof request>): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    req.once('response', resolve)
    req.once('error', reject)
  })
}

async function readText(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of response) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

function describeTls(response: IncomingMessage): string {
  const socket = response.socket as TLSSocket
  const cipher = socket.getCipher?.()
  return cipher === undefined ? 'unknown' : `${socket.getProtocol()} ${cipher.standardName}`
}

import { readFile } from 'node:fs/promises'
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import https from 'node:https'
import { Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { CliError, HttpError } from './errors.js'
import { pcdctlVersion } from './version.js'

/** Settings for the TLS connections of one pcdctl run. */
export interface HttpClientOptions {
  caFile: string | undefined
  insecure: boolean
  /** Receives one line per request and response when --debug is given. */
  debug: ((line: string) => void) | undefined
}

/** One HTTP request. A stream body is sent with `contentLength`, or chunked without it. */
export interface HttpRequest {
  method: string
  url: string
  headers?: Record<string, string>
  body?: string | Buffer | Readable
  contentLength?: number
  /** Called with the total bytes of a stream body sent so far. */
  onProgress?: (bytesSent: number) => void
  /** Opens a stream body again, so that the request can be retried on another host. */
  reopenBody?: () => Readable
}

/** A response whose body has not been read yet. */
export interface HttpResponse {
  status: number
  headers: IncomingHttpHeaders
  body: IncomingMessage
}

/** A response with a parsed JSON body (undefined when the body is empty). */
export interface JsonResponse<T> {
  status: number
  headers: IncomingHttpHeaders
  body: T | undefined
}

// A JSON body larger than this is not an API response that pcdctl expects.
const maxJsonBodyBytes = 64 * 1024 * 1024

const userAgent = `pcdctl/${pcdctlVersion}`

/**
 * Sends HTTP requests over node:http and node:https with keep-alive, using the CA file or the
 * --insecure setting for every TLS connection. Call close() when done.
 */
export class HttpClient {
  readonly #httpAgent: http.Agent
  readonly #httpsAgent: https.Agent
  readonly #debug: ((line: string) => void) | undefined

  private constructor(ca: Buffer | undefined, options: HttpClientOptions) {
    this.#httpAgent = new http.Agent({ keepAlive: true })
    this.#httpsAgent = new https.Agent({
      keepAlive: true,
      ...(ca === undefined ? {} : { ca }),
      rejectUnauthorized: !options.insecure,
    })
    this.#debug = options.debug
  }

  /** Creates a client, reading the CA file first. */
  static async create(options: HttpClientOptions): Promise<HttpClient> {
    if (options.caFile === undefined || options.insecure) return new HttpClient(undefined, options)

    try {
      return new HttpClient(await readFile(options.caFile), options)
    } catch (error) {
      throw new CliError(
        `Cannot read the CA file '${options.caFile}' (OS_CACERT or --os-cacert): ` +
          `${describeError(error)}.`,
        { cause: error },
      )
    }
  }

  /** Closes the idle keep-alive connections. */
  close(): void {
    this.#httpAgent.destroy()
    this.#httpsAgent.destroy()
  }

  /**
   * Sends a request and resolves once the response headers arrive, whatever the status.
   * Rejects with a CliError when the connection or the TLS handshake fails.
   */
  send(request: HttpRequest): Promise<HttpResponse> {
    const url = new URL(request.url)
    const isHttps = url.protocol === 'https:'
    this.#debug?.(`REQ: ${request.method} ${url.href}`)

    return new Promise((resolve, reject) => {
      const outgoing = (isHttps ? https : http).request(url, {
        method: request.method,
        headers: buildHeaders(request),
        agent: isHttps ? this.#httpsAgent : this.#httpAgent,
      })
      let sourceError: CliError | undefined

      outgoing.on('response', (response) => {
        this.#debug?.(`RESP: ${response.statusCode ?? 0} ${request.method} ${url.href}`)
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: response })
      })
      outgoing.on('error', (error) => {
        reject(sourceError ?? connectionError(error, url))
      })
      writeBody(outgoing, request, (error) => (sourceError = error))
    })
  }

  /**
   * Sends a request with an optional JSON body and parses the JSON response.
   * Throws an HttpError for a status of 400 or more.
   */
  async sendJson<T>(
    request: Omit<HttpRequest, 'body'> & { json?: unknown; contentType?: string },
  ): Promise<JsonResponse<T>> {
    const headers = { ...request.headers }
    let body: string | undefined
    if (request.json !== undefined) {
      body = JSON.stringify(request.json)
      headers['Content-Type'] = request.contentType ?? 'application/json'
    }

    const response = await this.send({
      ...request,
      headers,
      ...(body === undefined ? {} : { body }),
    })
    await throwIfError(response)
    const text = (await readBody(response.body, maxJsonBodyBytes)).toString('utf8')
    return { status: response.status, headers: response.headers, body: parseJson<T>(text, request) }
  }
}

function buildHeaders(request: HttpRequest): Record<string, string> {
  const headers: Record<string, string> = {
    'User-Agent': userAgent,
    Accept: 'application/json',
    ...request.headers,
  }
  if (request.contentLength !== undefined) {
    headers['Content-Length'] = String(request.contentLength)
  }
  return headers
}

function writeBody(
  outgoing: http.ClientRequest,
  request: HttpRequest,
  onSourceError: (error: CliError) => void,
): void {
  const body = request.body
  if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) {
    outgoing.end(body)
    return
  }

  // A failing source destroys the request, so the request's 'error' event must report the
  // source's error rather than a connection failure.
  body.once('error', (error) => {
    onSourceError(
      new CliError(`Reading the upload failed: ${describeError(error)}.`, { cause: error }),
    )
  })
  // A server that rejects an upload may respond and close before the whole body is sent.
  // The 'response' event has settled the promise then, so the pipeline's error is ignored.
  pipeline(body, createByteCounter(request.onProgress), outgoing).catch(() => undefined)
}

function parseJson<T>(text: string, request: { method: string; url: string }): T | undefined {
  if (text.trim() === '') return undefined
  try {
    return JSON.parse(text) as T
  } catch (error) {
    throw new CliError(
      `The response to ${request.method} ${request.url} is not valid JSON: ${describeError(error)}`,
    )
  }
}

function createByteCounter(onProgress: ((bytesSent: number) => void) | undefined): Transform {
  let bytesSent = 0
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytesSent += chunk.length
      onProgress?.(bytesSent)
      callback(null, chunk)
    },
  })
}

/** Reads a whole response body, failing when it exceeds `maxBytes`. */
export async function readBody(body: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let length = 0
  for await (const chunk of body) {
    const buffer = chunk as Buffer
    length += buffer.length
    if (length > maxBytes) {
      body.destroy()
      throw new CliError(`The response body exceeds ${maxBytes} bytes.`)
    }
    chunks.push(buffer)
  }
  return Buffer.concat(chunks)
}

/** Throws an HttpError with the server's cleaned message when the status is 400 or more. */
export async function throwIfError(response: HttpResponse): Promise<void> {
  if (response.status < 400) return

  const body = await readBody(response.body, maxJsonBodyBytes).catch(() => Buffer.alloc(0))
  const requestIdHeader = response.headers['x-openstack-request-id']
  const requestId = Array.isArray(requestIdHeader) ? requestIdHeader[0] : requestIdHeader
  const message = extractErrorMessage(body.toString('utf8'), response.status)
  throw new HttpError(response.status, message, requestId)
}

/**
 * Extracts the human-readable message from an error body: Glance's JSON
 * (`{"message", "code", "title"}`), Keystone's JSON (`{"error": {"message"}}`), or HTML and
 * plain text. Glance's `<br />` markup becomes spaces.
 */
export function extractErrorMessage(body: string, status: number): string {
  const fromJson = extractJsonMessage(body)
  const text = fromJson ?? stripHtml(body)
  const cleaned = text
    .replace(/<br\s*\/?>/gi, ' ')
    .replace(/\s+/g, ' ')
    .trim()
  return cleaned === '' ? `${status} ${http.STATUS_CODES[status] ?? 'Error'}` : cleaned
}

function extractJsonMessage(body: string): string | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    return undefined
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined

  const record = parsed as { message?: unknown; title?: unknown; error?: unknown }
  const inner = (typeof record.error === 'object' ? record.error : undefined) as
    { message?: unknown; title?: unknown } | undefined
  const candidates = [record.message, inner?.message, record.title, inner?.title]
  return candidates.find((candidate): candidate is string => typeof candidate === 'string')
}

function stripHtml(body: string): string {
  return body
    .replace(/<head>[\s\S]*?<\/head>/i, ' ')
    .replace(/<br\s*\/?>/gi, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
}

const certificateErrorPattern = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/

function connectionError(error: Error, url: URL): CliError {
  const code = (error as NodeJS.ErrnoException).code ?? ''
  if (certificateErrorPattern.test(code)) {
    return new CliError(
      `TLS certificate verification failed for ${url.origin}: ${error.message} (${code}). ` +
        'Pass --os-cacert FILE (or set OS_CACERT) with the CA certificate that signed the ' +
        "server's certificate, or pass --insecure to skip verification.",
      { cause: error },
    )
  }
  if (code.startsWith('ERR_SSL') || code === 'EPROTO') {
    return new CliError(
      `TLS handshake with ${url.origin} failed: ${error.message}. ` +
        'Check that the server speaks HTTPS on that port, or use an http:// URL.',
      { cause: error },
    )
  }
  return new CliError(`Cannot connect to ${url.origin}: ${describeError(error)}.`, {
    cause: error,
  })
}

/** Returns an error's message, or its code when the message is empty. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  const code = (error as NodeJS.ErrnoException).code
  if (error.message !== '') return error.message
  return code ?? error.name
}

import { lookup as dnsLookup } from 'node:dns'
import type { LookupAddress } from 'node:dns'
import { STATUS_CODES } from 'node:http'
import type { IncomingMessage } from 'node:http'
import type { LookupFunction } from 'node:net'
import type { Readable } from 'node:stream'
import { InvalidInputError } from '../domain/errors.js'
import { ResponseBody } from './web-fetch-body.js'
import {
  connectTimeoutError,
  redactUrl,
  totalTimeoutError,
  WebFetchError,
} from './web-fetch-errors.js'
import { AddressPolicy, type CheckedAddress } from './web-fetch-policy.js'
import {
  type ByteRange,
  effectivePort,
  lookupAll,
  type Method,
  sendRequest,
  withTimeout,
} from './web-fetch-request.js'

export { redactUrl, WebFetchError } from './web-fetch-errors.js'
export type { WebFetchFailure } from './web-fetch-errors.js'
export type { ByteRange } from './web-fetch-request.js'

/** Settings of a {@link WebFetcher}. Times are in milliseconds and sizes in bytes. */
export interface WebFetchConfig {
  /**
   * Hosts that may be fetched. An empty list allows every host. An entry is a host name
   * (`images.example.com`, case-insensitive), `host:port`, an IP address (`10.1.2.3`,
   * `[fd00::5]:8080`) or a CIDR range (`10.1.0.0/16`, `fd00::/8`). Because the list is checked
   * before DNS, address and range entries match only URLs whose host is an IP address. They also
   * exempt the addresses they match from the private-address check. Host name entries do not,
   * because a name entry trusts the name, not whatever its DNS returns.
   */
  allowedHosts: string[]
  /** Allows private, loopback, link-local and other non-public addresses for every host. */
  allowPrivate: boolean
  /** Maximum number of redirects followed for one fetch. With 0, every redirect is an error. */
  maxRedirects: number
  /** Time limit for resolving the host and opening the TCP (and TLS) connection. */
  connectTimeoutMs: number
  /** Time limit on waiting for the server, both for the response headers and between body bytes. */
  idleTimeoutMs: number
  /** Time limit on the whole fetch, from `open` until the body ends, redirects included. */
  totalTimeoutMs: number
  /** Maximum size of a response body. */
  maxBytes: number
  /** URL schemes that may be fetched. */
  allowedSchemes: ('http' | 'https')[]
}

/**
 * Defaults: any public host, no private addresses. `maxBytes` equals the default
 * `[images] max_size` (1 TiB), so callers pass their configured maximum image size instead.
 */
export const defaultWebFetchConfig: Readonly<WebFetchConfig> = Object.freeze({
  allowedHosts: frozen<string>([]),
  allowPrivate: false,
  maxRedirects: 5,
  connectTimeoutMs: 30_000,
  idleTimeoutMs: 60_000,
  // Large images on slow links take hours; the idle timeout catches a stalled server sooner.
  totalTimeoutMs: 24 * 3600_000,
  maxBytes: 1024 ** 4,
  allowedSchemes: frozen<'http' | 'https'>(['http', 'https']),
})

export interface WebFetchOpenOptions {
  /** Aborts the fetch: the promise rejects, or the stream fails, with the signal's reason. */
  signal?: AbortSignal
  /** Requests only these bytes. The server must respond 206 with a matching `Content-Range`. */
  range?: ByteRange
}

export interface WebFetchResponse {
  /** The response body. It fails with a `WebFetchError` when a time or size limit trips. */
  stream: Readable
  /** Length of the body from `Content-Length` (or the range), or null when it is unknown. */
  size: number | null
  /** The URL after redirects. It may contain a signed query string, so do not log it. */
  finalUrl: string
}

export interface WebFetcherOptions {
  /** Resolver for host names, called with `{ all: true }`. Defaults to `dns.lookup`. */
  lookup?: LookupFunction
}

const redirectStatuses = new Set([301, 302, 303, 307, 308])

/**
 * Fetches image data over HTTP(S) for the `web-download` import method and for http image
 * locations, with guards against server-side request forgery.
 *
 * Every URL, including each redirect target, must use an allowed scheme, carry no user info,
 * match the allow-list and resolve only to addresses that pass the private-address check. The
 * host is resolved once per request and the connection goes to the first checked address, so a
 * DNS answer that changes between check and connect cannot move the request elsewhere.
 *
 * A rejected URL throws `InvalidInputError`. Failures of the server or network reject, or destroy
 * the stream, with `WebFetchError`.
 *
 * @example
 * const fetcher = new WebFetcher({ ...defaultWebFetchConfig, maxBytes: maxImageSize })
 * fetcher.check(url) // at request time, before any DNS lookup
 * const { stream, size } = await fetcher.open(url, { signal })
 */
export class WebFetcher {
  readonly #config: Readonly<WebFetchConfig>
  readonly #policy: AddressPolicy
  readonly #lookup: LookupFunction

  constructor(config: WebFetchConfig, options: WebFetcherOptions = {}) {
    validateConfig(config)
    this.#config = Object.freeze({
      ...config,
      allowedHosts: frozen([...config.allowedHosts]),
      allowedSchemes: frozen([...config.allowedSchemes]),
    })
    this.#policy = new AddressPolicy(config.allowedHosts, config.allowPrivate)
    this.#lookup = options.lookup ?? dnsLookup
  }

  /**
   * Checks `url` without resolving it: scheme, user info, the allow-list, and the address when
   * the host is an IP address. Throws `InvalidInputError` naming what is wrong.
   */
  check(url: string): void {
    this.#checkUrl(url)
  }

  /**
   * Sends a GET request for `url`, following redirects, and resolves once a 2xx response
   * arrives. Rejects with `InvalidInputError` when a URL is rejected, and with `WebFetchError`
   * when the server fails, responds with another status, or announces a body over `maxBytes`.
   * The caller must consume or destroy the returned stream.
   */
  async open(url: string, options: WebFetchOpenOptions = {}): Promise<WebFetchResponse> {
    if (options.range !== undefined) validateRange(options.range)
    const first = this.#checkUrl(url)
    const lifetime = new FetchLifetime(this.#config.totalTimeoutMs, first, options.signal)

    try {
      const { response, url: finalUrl } = await this.#follow(first, 'GET', options.range, lifetime)
      const size = this.#checkBodyResponse(response, finalUrl, options.range)
      const stream = new ResponseBody(response, {
        url: redactUrl(finalUrl.href),
        idleTimeoutMs: this.#config.idleTimeoutMs,
        maxBytes: this.#config.maxBytes,
        expectedBytes: size,
        release: () => lifetime.end(),
      })
      lifetime.signal.addEventListener('abort', () => stream.destroy(lifetime.signal.reason), {
        once: true,
      })
      return { stream, size, finalUrl: finalUrl.href }
    } catch (error) {
      lifetime.end()
      throw error
    }
  }

  /**
   * Sends a HEAD request for `url`, following redirects, and returns its `Content-Length`, or
   * null when the server sends none. Rejects like {@link WebFetcher.open}, except that a size
   * over `maxBytes` is returned, not rejected.
   */
  async size(url: string, options: { signal?: AbortSignal } = {}): Promise<number | null> {
    const first = this.#checkUrl(url)
    const lifetime = new FetchLifetime(this.#config.totalTimeoutMs, first, options.signal)

    try {
      const { response, url: finalUrl } = await this.#follow(first, 'HEAD', undefined, lifetime)
      response.destroy()
      checkStatus(response, finalUrl)
      return contentLength(response)
    } finally {
      lifetime.end()
    }
  }

  #checkUrl(text: string): URL {
    let url: URL
    try {
      url = new URL(text)
    } catch {
      throw new InvalidInputError(
        'The web-download URL is invalid: expected an absolute URL such as ' +
          'https://images.example.com/disk.qcow2.',
      )
    }

    const scheme = url.protocol.slice(0, -1)
    const allowed = this.#config.allowedSchemes
    if (!(allowed as string[]).includes(scheme)) {
      throw new InvalidInputError(
        `URL scheme ${scheme} is not allowed for web-download; use ${allowed.join(' or ')}.`,
      )
    }
    if (url.username !== '' || url.password !== '') {
      throw new InvalidInputError(
        `The URL for host ${url.host} contains credentials (user:password@). ` +
          'web-download does not accept them, so use a URL that needs none.',
      )
    }

    this.#policy.checkHost(url.hostname, effectivePort(url), url.host)
    return url
  }

  async #follow(first: URL, method: Method, range: ByteRange | undefined, life: FetchLifetime) {
    let url = first
    for (let redirects = 0; ; redirects += 1) {
      const response = await this.#request(url, method, range, life.signal)
      if (!redirectStatuses.has(response.statusCode ?? 0)) return { response, url }

      response.destroy()
      if (redirects === this.#config.maxRedirects) {
        throw new WebFetchError(
          'too-many-redirects',
          redactUrl(first.href),
          `Download from ${redactUrl(first.href)} failed: it redirected more than ` +
            `${this.#config.maxRedirects} times (web-download redirect limit).`,
        )
      }
      url = this.#checkRedirect(url, response)
    }
  }

  #checkRedirect(from: URL, response: IncomingMessage): URL {
    const source = redactUrl(from.href)
    const target = parseLocation(response.headers.location, from)
    if (target === null) {
      const status = response.statusCode ?? 0
      throw new WebFetchError(
        'http-status',
        source,
        `Download from ${source} failed: HTTP ${status} came with a missing or invalid Location header.`,
        { status },
      )
    }

    try {
      return this.#checkUrl(target.href)
    } catch (error) {
      if (!(error instanceof InvalidInputError)) throw error
      throw new InvalidInputError(`The redirect from ${source} was rejected. ${error.message}`)
    }
  }

  async #request(url: URL, method: Method, range: ByteRange | undefined, signal: AbortSignal) {
    const started = Date.now()
    const { connectTimeoutMs, idleTimeoutMs } = this.#config
    const address = await withTimeout(this.#resolve(url), connectTimeoutMs, signal, () =>
      connectTimeoutError(url, connectTimeoutMs),
    )

    const connectBudgetMs = Math.max(1, connectTimeoutMs - (Date.now() - started))
    const target = { url, address, method, range, signal }
    return sendRequest(target, { connectTimeoutMs, idleTimeoutMs }, connectBudgetMs)
  }

  /** Resolves the URL's host once, checks every address and returns the one to connect to. */
  async #resolve(url: URL): Promise<CheckedAddress> {
    const port = effectivePort(url)
    const literal = this.#policy.literalAddress(url.hostname)
    if (literal !== null) return literal

    let answers: LookupAddress[]
    try {
      answers = await lookupAll(this.#lookup, url.hostname)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message
      throw new WebFetchError(
        'dns',
        redactUrl(url.href),
        `Host ${url.hostname} could not be resolved (${code}); check the URL's host name.`,
        { cause: error },
      )
    }
    if (answers.length === 0) {
      throw new WebFetchError(
        'dns',
        redactUrl(url.href),
        `Host ${url.hostname} could not be resolved: the DNS lookup returned no addresses.`,
      )
    }

    const checked = answers.map((answer) =>
      this.#policy.checkResolvedAddress(url.hostname, answer.address, port),
    )
    return checked[0]!
  }

  /** Checks status, range and size of a GET response, and destroys the response when they fail. */
  #checkBodyResponse(response: IncomingMessage, url: URL, range: ByteRange | undefined) {
    try {
      checkStatus(response, url)
      if (range !== undefined) checkRangeResponse(response, url, range)

      // A validated Content-Range fixes the length even when Content-Length is missing.
      const size = range === undefined ? contentLength(response) : range.end - range.start + 1
      if (size !== null && size > this.#config.maxBytes) {
        const redacted = redactUrl(url.href)
        throw new WebFetchError(
          'too-large',
          redacted,
          `Download from ${redacted} is ${size} bytes, ` +
            `over the web-download limit of ${this.#config.maxBytes} bytes.`,
        )
      }
      return size
    } catch (error) {
      response.destroy()
      throw error
    }
  }
}

/** Freezes `items` but keeps the mutable array type that `WebFetchConfig` declares. */
function frozen<T>(items: T[]): T[] {
  Object.freeze(items)
  return items
}

function validateConfig(config: WebFetchConfig): void {
  // setTimeout fires at once for delays over 2^31 - 1 ms.
  const maxDelayMs = 2 ** 31 - 1
  const integers: [keyof WebFetchConfig, number, number][] = [
    ['maxRedirects', 0, 100],
    ['connectTimeoutMs', 1, maxDelayMs],
    ['idleTimeoutMs', 1, maxDelayMs],
    ['totalTimeoutMs', 1, maxDelayMs],
    ['maxBytes', 1, Number.MAX_SAFE_INTEGER],
  ]
  for (const [key, min, max] of integers) {
    const value = config[key]
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new TypeError(
        `WebFetchConfig.${key} must be an integer from ${min} to ${max}, got ${String(value)}.`,
      )
    }
  }

  const schemes = config.allowedSchemes
  if (schemes.length === 0 || schemes.some((scheme) => scheme !== 'http' && scheme !== 'https')) {
    throw new TypeError(
      `WebFetchConfig.allowedSchemes must list http, https or both, got ${JSON.stringify(schemes)}.`,
    )
  }
}

function validateRange(range: ByteRange): void {
  const { start, end } = range
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new TypeError(
      `range must have integers 0 <= start <= end, got start ${start} and end ${end}.`,
    )
  }
}

function parseLocation(location: string | undefined, base: URL): URL | null {
  if (location === undefined) return null
  try {
    return new URL(location, base)
  } catch {
    return null
  }
}

function checkStatus(response: IncomingMessage, url: URL): void {
  const status = response.statusCode ?? 0
  if (status >= 200 && status < 300) return

  const redacted = redactUrl(url.href)
  const text = STATUS_CODES[status] ?? 'unknown status'
  throw new WebFetchError(
    'http-status',
    redacted,
    `Download from ${redacted} failed: the server returned HTTP ${status} ${text}.`,
    { status },
  )
}

function checkRangeResponse(response: IncomingMessage, url: URL, range: ByteRange): void {
  const status = response.statusCode ?? 0
  const header = response.headers['content-range']
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header ?? '')
  const matches =
    status === 206 &&
    match !== null &&
    Number(match[1]) === range.start &&
    Number(match[2]) === range.end
  const length = contentLength(response)
  if (matches && (length === null || length === range.end - range.start + 1)) return

  const redacted = redactUrl(url.href)
  throw new WebFetchError(
    'bad-range',
    redacted,
    `Range request for bytes ${range.start}-${range.end} of ${redacted} failed: ` +
      `expected HTTP 206 with that Content-Range, got HTTP ${status} ` +
      `with Content-Range ${header ?? '(none)'} and Content-Length ${length ?? '(none)'}.`,
    { status },
  )
}

function contentLength(response: IncomingMessage): number | null {
  const header = response.headers['content-length']
  if (header === undefined || !/^\d+$/.test(header)) return null
  return Number(header)
}

/**
 * Aborts its signal when the total time limit passes or the caller's signal aborts, whichever
 * comes first. `end` stops both.
 */
class FetchLifetime {
  readonly #controller = new AbortController()
  readonly #timer: NodeJS.Timeout
  readonly #external: AbortSignal | undefined
  readonly #onExternalAbort = () => this.#controller.abort(this.#external?.reason)

  constructor(totalTimeoutMs: number, url: URL, external: AbortSignal | undefined) {
    this.#timer = setTimeout(() => {
      this.#controller.abort(totalTimeoutError(url, totalTimeoutMs))
    }, totalTimeoutMs)

    this.#external = external
    if (external?.aborted === true) this.#onExternalAbort()
    else external?.addEventListener('abort', this.#onExternalAbort, { once: true })
  }

  get signal(): AbortSignal {
    return this.#controller.signal
  }

  end(): void {
    clearTimeout(this.#timer)
    this.#external?.removeEventListener('abort', this.#onExternalAbort)
  }
}

import type { LookupAddress } from 'node:dns'
import { request as httpRequest } from 'node:http'
import type { ClientRequest, IncomingMessage, RequestOptions } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { isIP } from 'node:net'
import type { LookupFunction, Socket } from 'node:net'
import type { CheckedAddress } from './web-fetch-policy.js'
import { connectTimeoutError, idleTimeoutError, networkError } from './web-fetch-errors.js'

export type Method = 'GET' | 'HEAD'

/** A byte range of the resource; `end` is inclusive, as in the HTTP `Range` header. */
export interface ByteRange {
  start: number
  end: number
}

/** Returns the port a URL connects to, filling in the scheme's default. */
export function effectivePort(url: URL): number {
  if (url.port !== '') return Number(url.port)
  return url.protocol === 'https:' ? 443 : 80
}

/** Resolves `hostname` to all its addresses with `lookup`. */
export function lookupAll(lookup: LookupFunction, hostname: string): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => {
    lookup(hostname, { all: true }, (error, address, family) => {
      if (error !== null) reject(error)
      else if (typeof address === 'string') resolve([{ address, family: family ?? isIP(address) }])
      else resolve(address)
    })
  })
}

/** Settles like `promise`, or rejects on timeout or abort. A late result is ignored. */
export function withTimeout<T>(
  promise: Promise<T>,
  timeoutMs: number,
  signal: AbortSignal,
  timeoutError: () => Error,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = () => settle(() => reject(signal.reason))
    const timer = setTimeout(() => settle(() => reject(timeoutError())), timeoutMs)

    function settle(action: () => void): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      action()
    }
    // Handlers go on first, so a rejection after a timeout or abort is not left unhandled.
    promise.then(
      (value) => settle(() => resolve(value)),
      (error: unknown) => settle(() => reject(error)),
    )
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
  })
}

export interface RequestTarget {
  url: URL
  /** The checked address to connect to, whatever the URL's host resolves to by now. */
  address: CheckedAddress
  method: Method
  range: ByteRange | undefined
  signal: AbortSignal
}

export interface RequestLimits {
  connectTimeoutMs: number
  idleTimeoutMs: number
}

/**
 * Sends one request to the checked address and resolves with the response headers. The connect
 * timer covers TCP and TLS set-up and gets `connectBudgetMs`, the part of the connect timeout
 * that the DNS lookup left. Then the idle timer covers the wait for the headers.
 */
export function sendRequest(
  target: RequestTarget,
  limits: RequestLimits,
  connectBudgetMs: number,
): Promise<IncomingMessage> {
  const { url, signal } = target
  if (signal.aborted) return Promise.reject(signal.reason)

  return new Promise((resolve, reject) => {
    const request = createRequest(target)
    const onAbort = () => fail(signal.reason)
    let timer = setTimeout(
      () => fail(connectTimeoutError(url, limits.connectTimeoutMs)),
      connectBudgetMs,
    )

    function fail(error: unknown): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      request.destroy()
      reject(error)
    }

    signal.addEventListener('abort', onAbort, { once: true })
    request.once('socket', (socket: Socket) => {
      const connected = url.protocol === 'https:' ? 'secureConnect' : 'connect'
      socket.once(connected, () => {
        clearTimeout(timer)
        timer = setTimeout(
          () => fail(idleTimeoutError(url, limits.idleTimeoutMs)),
          limits.idleTimeoutMs,
        )
      })
    })
    request.once('response', (response) => {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      resolve(response)
    })
    // Stays attached after the response, so a late socket error is never unhandled. The body
    // stream reports that error through the response.
    request.on('error', (error) => fail(networkError(url, error)))
    request.end()
  })
}

function createRequest(target: RequestTarget): ClientRequest {
  const { url, address, method, range } = target
  const hostname = stripBrackets(url.hostname)
  const headers: Record<string, string> = {
    host: url.host,
    accept: '*/*',
    'user-agent': 'image-library-web-download',
  }
  if (range !== undefined) headers.range = `bytes=${range.start}-${range.end}`

  const options: RequestOptions = {
    hostname,
    port: effectivePort(url),
    path: `${url.pathname}${url.search}`,
    method,
    headers,
    // A fresh connection per request, because a pooled socket may have passed other rules.
    agent: false,
    lookup: pinnedLookup(address),
  }
  if (url.protocol === 'http:') return httpRequest(options)
  // SNI carries host names only, so an empty servername turns it off for IP-address hosts.
  return httpsRequest({ ...options, servername: isIP(hostname) === 0 ? hostname : '' })
}

/** A lookup that returns only the address already checked, whatever name it is asked for. */
function pinnedLookup(checked: CheckedAddress): LookupFunction {
  return function lookupCheckedAddress(_hostname, options, callback) {
    if (options.all === true) {
      callback(null, [{ address: checked.address, family: checked.family }])
    } else {
      callback(null, checked.address, checked.family)
    }
  }
}

function stripBrackets(hostname: string): string {
  return hostname.startsWith('[') ? hostname.slice(1, -1) : hostname
}

/** The cause of a {@link WebFetchError}. */
export type WebFetchFailure =
  | 'dns'
  | 'connect-timeout'
  | 'idle-timeout'
  | 'total-timeout'
  | 'too-large'
  | 'too-many-redirects'
  | 'http-status'
  | 'bad-range'
  | 'network'

/**
 * A failure of the remote server or of the network while fetching. The message names the URL
 * (without query string) and the limit or status involved, so it can be shown as the reason an
 * import failed.
 */
export class WebFetchError extends Error {
  readonly reason: WebFetchFailure
  /** The URL that failed, without user info, query string or fragment. */
  readonly url: string
  /** HTTP status of the response for `http-status` and `bad-range`, otherwise null. */
  readonly status: number | null

  constructor(
    reason: WebFetchFailure,
    url: string,
    message: string,
    options: { status?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'WebFetchError'
    this.reason = reason
    this.url = url
    this.status = options.status ?? null
  }
}

/**
 * Returns `url` without user info, query string and fragment, for messages and logs. Returns a
 * placeholder for text that is not a URL, because such text may still contain a secret.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`
  } catch {
    return '(invalid URL)'
  }
}

/** Builds the error for a host that did not connect within the connect timeout. */
export function connectTimeoutError(url: URL, timeoutMs: number): WebFetchError {
  const redacted = redactUrl(url.href)
  return new WebFetchError(
    'connect-timeout',
    redacted,
    `Connecting to ${url.host} for ${redacted} timed out after ` +
      `${formatDuration(timeoutMs)} (web-download connect timeout).`,
  )
}

/** Builds the error for a server that sent nothing within the idle timeout. */
export function idleTimeoutError(url: URL | string, timeoutMs: number): WebFetchError {
  const redacted = typeof url === 'string' ? url : redactUrl(url.href)
  return new WebFetchError(
    'idle-timeout',
    redacted,
    `Download from ${redacted} stalled: no data for ${formatDuration(timeoutMs)} (web-download idle timeout).`,
  )
}

/** Builds the error for a fetch that did not finish within the total time limit. */
export function totalTimeoutError(url: URL, timeoutMs: number): WebFetchError {
  const redacted = redactUrl(url.href)
  return new WebFetchError(
    'total-timeout',
    redacted,
    `Download from ${redacted} timed out: it took longer than ` +
      `${formatDuration(timeoutMs)} (web-download total time limit).`,
  )
}

/** Wraps a socket, TLS or HTTP parser error. */
export function networkError(url: URL | string, error: Error): WebFetchError {
  const redacted = typeof url === 'string' ? url : redactUrl(url.href)
  const code = (error as NodeJS.ErrnoException).code
  const detail =
    error.message === 'aborted' || code === 'ECONNRESET'
      ? 'the connection was closed before the response was complete'
      : error.message
  return new WebFetchError('network', redacted, `Download from ${redacted} failed: ${detail}.`, {
    cause: error,
  })
}

function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`
  if (ms < 120_000) return `${ms / 1000} s`
  if (ms < 2 * 3600_000) return `${Math.round(ms / 6000) / 10} min`
  return `${Math.round(ms / 360_000) / 10} h`
}

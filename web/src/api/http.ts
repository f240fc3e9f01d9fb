import { describeApiError } from '../lib/api-error.js'

/** A failed call to the image or identity API, with the message to show the user. */
export class ApiError extends Error {
  readonly status: number

  constructor(message: string, status: number) {
    super(message)
    this.name = 'ApiError'
    this.status = status
  }
}

let unauthorizedListener: ((token: string) => void) | null = null

/** Sets the function called with the token that the server rejected with 401. */
export function setUnauthorizedListener(listener: ((token: string) => void) | null): void {
  unauthorizedListener = listener
}

/** Reports a 401 to a request that carried a token: that token's session is over. */
export function reportUnauthorized(status: number, token: string | undefined): void {
  if (status === 401 && token !== undefined) unauthorizedListener?.(token)
}

/** Number of `send` calls still running, by the token they carry. */
const runningRequests = new Map<string, number>()

function countRequest(token: string | undefined, change: 1 | -1): void {
  if (token === undefined) return
  const count = (runningRequests.get(token) ?? 0) + change
  if (count === 0) runningRequests.delete(token)
  else runningRequests.set(token, count)
}

const settleTimeoutMs = 30_000

/**
 * Resolves when no request with `token` is running, or after 30 s. It first yields one task,
 * so that requests started in the current task are counted.
 */
export async function requestsSettled(token: string): Promise<void> {
  const deadline = Date.now() + settleTimeoutMs
  await new Promise((resolve) => setTimeout(resolve, 0))
  while (runningRequests.has(token) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

export interface CallOptions {
  token?: string
  body?: unknown
  /** Defaults to application/json when there is a body. */
  contentType?: string
  headers?: Record<string, string>
}

/** Sends one request to this origin and returns the response; throws ApiError unless 2xx. */
export async function send(method: string, path: string, options: CallOptions = {}) {
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers }
  if (options.token !== undefined) headers['x-auth-token'] = options.token
  const init: RequestInit = { method, headers, credentials: 'omit', cache: 'no-store' }
  if (options.body !== undefined) {
    headers['content-type'] = options.contentType ?? 'application/json'
    init.body = JSON.stringify(options.body)
  }

  countRequest(options.token, 1)
  try {
    return await fetchChecked(path, init, options.token)
  } finally {
    countRequest(options.token, -1)
  }
}

async function fetchChecked(path: string, init: RequestInit, token: string | undefined) {
  let response: Response
  try {
    response = await fetch(path, init)
  } catch {
    throw new ApiError('The service cannot be reached. Check the network and try again.', 0)
  }
  if (!response.ok) {
    const error = await errorOf(response)
    reportUnauthorized(response.status, token)
    throw error
  }
  return response
}

/** Sends a request and parses the JSON response; `null` for a response without a body. */
export async function sendJson<T>(method: string, path: string, options: CallOptions = {}) {
  const response = await send(method, path, options)
  if (response.status === 204) return null
  const text = await response.text()
  return text === '' ? null : (JSON.parse(text) as T)
}

async function errorOf(response: Response): Promise<ApiError> {
  const message = describeApiError(
    response.status,
    await response.text(),
    response.headers.get('content-type'),
    response.headers.get('x-openstack-request-id'),
  )
  return new ApiError(message, response.status)
}

import type { ConnectionConfig, DomainReference, EndpointInterface } from './connection-config.js'
import { Readable } from 'node:stream'
import { CliError, HttpError } from './errors.js'
import {
  HttpClient,
  type HttpRequest,
  type HttpResponse,
  type JsonResponse,
} from './http-client.js'

/** One service of a Keystone v3 token's catalog. */
export interface CatalogService {
  type: string
  name?: string
  endpoints: CatalogEndpoint[]
}

export interface CatalogEndpoint {
  interface: string
  url: string
  region?: string | null
  region_id?: string | null
}

interface TokenBody {
  token?: {
    catalog?: CatalogService[]
    project?: { id: string; name?: string }
    user?: { id: string; name?: string }
  }
}

/** Methods that may be sent again without changing the result; Glance's PATCH is not one. */
const idempotentMethods = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS'])

/**
 * An authenticated connection: a project-scoped Keystone token and the image endpoints from its
 * catalog. Requests sent through it carry the token. When an image library host fails (no
 * connection, or a 5xx), an idempotent request or a file upload is sent again to the next
 * endpoint of the catalog, which then stays the one in use.
 */
export class Session {
  readonly projectId: string
  readonly identityEndpoint: string
  readonly #imageEndpoints: readonly string[]
  #current = 0
  readonly #http: HttpClient
  readonly #token: string
  readonly #warn: (line: string) => void

  constructor(options: {
    http: HttpClient
    token: string
    projectId: string
    /** The image endpoints in the catalog's order; the first is used until it fails. */
    imageEndpoints: readonly string[]
    identityEndpoint: string
    /** Receives the notice that a request moved to another host. */
    warn: (line: string) => void
  }) {
    this.#http = options.http
    this.#token = options.token
    this.projectId = options.projectId
    this.#imageEndpoints = options.imageEndpoints
    this.identityEndpoint = options.identityEndpoint
    this.#warn = options.warn
  }

  /** The base URL of the image service in use. */
  get imageEndpoint(): string {
    return this.#imageEndpoints[this.#current]!
  }

  /** Sends a request with the token and resolves with the response, whatever its status. */
  send(request: HttpRequest): Promise<HttpResponse> {
    return this.#withFailover(request, async (attempt) => {
      const response = await this.#http.send({
        ...attempt,
        headers: this.#withToken(attempt.headers),
      })
      return { response, status: response.status, discard: () => response.body.resume() }
    })
  }

  /** Sends a JSON request with the token. Throws an HttpError for a status of 400 or more. */
  sendJson<T>(
    request: Omit<HttpRequest, 'body'> & { json?: unknown; contentType?: string },
  ): Promise<JsonResponse<T>> {
    return this.#withFailover(request, async (attempt) => {
      const response = await this.#http.sendJson<T>({
        ...attempt,
        headers: this.#withToken(attempt.headers),
      })
      return { response, status: response.status, discard: () => {} }
    })
  }

  /**
   * Runs `send` and, for a retryable request to the image service, tries the next endpoint
   * after a connection failure or a 5xx, until one responds or every endpoint failed once.
   */
  async #withFailover<R extends { url: string; method: string; body?: unknown }, T>(
    request: R & { reopenBody?: () => Readable },
    send: (attempt: R) => Promise<{ response: T; status: number; discard(): void }>,
  ): Promise<T> {
    const canResend =
      request.body instanceof Readable
        ? request.reopenBody !== undefined
        : idempotentMethods.has(request.method.toUpperCase())
    const failover = this.#imageEndpoints.length > 1 && request.url.startsWith(this.imageEndpoint)
    let attempt: R = request
    for (let tries = 1; ; tries++) {
      const last = !failover || tries >= this.#imageEndpoints.length
      let reason: string
      try {
        const result = await send(attempt)
        if (result.status < 500 || last || !canResend) return result.response
        result.discard()
        reason = `HTTP ${result.status}`
      } catch (error) {
        // A refused connection never reached the server, so any request may go elsewhere.
        const refused = isRefused(error) && (!(request.body instanceof Readable) || canResend)
        const serverFailed =
          canResend &&
          ((error instanceof HttpError && error.status >= 500) ||
            (!(error instanceof HttpError) && error instanceof CliError))
        if (last || !(refused || serverFailed)) throw error
        reason = (error as Error).message
      }
      attempt = this.#moveOn(attempt, request, reason)
    }
  }

  /**
   * Moves to the next image endpoint after a failure that the caller handles itself, such as a
   * download cut off mid-body. Returns `false` when there is no other endpoint.
   */
  failOver(reason: string): boolean {
    if (this.#imageEndpoints.length < 2) return false
    const failed = this.imageEndpoint
    this.#current = (this.#current + 1) % this.#imageEndpoints.length
    this.#warn(`pcdctl: ${failed} failed (${reason}); retrying on ${this.imageEndpoint}`)
    return true
  }

  #moveOn<R extends { url: string }>(
    attempt: R,
    request: R & { reopenBody?: () => Readable },
    reason: string,
  ): R {
    const failed = this.imageEndpoint
    this.failOver(reason)
    const moved = { ...attempt, url: this.imageEndpoint + attempt.url.slice(failed.length) }
    return request.reopenBody === undefined ? moved : { ...moved, body: request.reopenBody() }
  }

  /** Closes the idle connections. */
  close(): void {
    this.#http.close()
  }

  #withToken(headers: Record<string, string> | undefined): Record<string, string> {
    return { ...headers, 'X-Auth-Token': this.#token }
  }
}

/**
 * Authenticates with the password method against Keystone v3 and picks the image endpoint from
 * the token's catalog. On failure, throws a CliError that explains what to fix.
 */
export async function openSession(
  config: ConnectionConfig,
  debug: ((line: string) => void) | undefined,
  warn: (line: string) => void,
): Promise<Session> {
  const http = await HttpClient.create({ caFile: config.caFile, insecure: config.insecure, debug })
  try {
    const { token, body } = await requestToken(http, config)
    const catalog = body.token?.catalog ?? []
    return new Session({
      http,
      token,
      projectId: body.token?.project?.id ?? '',
      imageEndpoints: selectImageEndpoints(catalog, config.endpointInterface, config.regionName),
      identityEndpoint: config.authUrl,
      warn,
    })
  } catch (error) {
    http.close()
    throw error
  }
}

async function requestToken(
  http: HttpClient,
  config: ConnectionConfig,
): Promise<{ token: string; body: TokenBody }> {
  const url = `${config.authUrl}/auth/tokens`
  let response: JsonResponse<TokenBody>
  try {
    response = await http.sendJson<TokenBody>({
      method: 'POST',
      url,
      json: buildPasswordAuthRequest(config),
    })
  } catch (error) {
    throw describeAuthFailure(error, url)
  }

  const token = response.headers['x-subject-token']
  if (typeof token !== 'string' || token === '') {
    throw new CliError(`The response from ${url} has no X-Subject-Token header. Check OS_AUTH_URL.`)
  }
  return { token, body: response.body ?? {} }
}

function describeAuthFailure(error: unknown, url: string): unknown {
  if (!(error instanceof HttpError)) return error

  if (error.status === 401) {
    return new CliError(
      `Authentication failed at ${url}: ${error.message}\n` +
        'The user name, password, project or domain is wrong. Check OS_USERNAME, OS_PASSWORD, ' +
        'OS_PROJECT_NAME or OS_PROJECT_ID, and the domain variables.',
      { cause: error },
    )
  }
  return new CliError(
    `Authentication request to ${url} failed: ${error.message}. Check OS_AUTH_URL.`,
    { cause: error },
  )
}

/** Builds the body of `POST /v3/auth/tokens` for the password method, scoped to the project. */
export function buildPasswordAuthRequest(config: ConnectionConfig): unknown {
  const user =
    'id' in config.user
      ? { id: config.user.id, password: config.password }
      : {
          name: config.user.name,
          domain: domainBody(config.user.domain),
          password: config.password,
        }
  const project =
    'id' in config.project
      ? { id: config.project.id }
      : { name: config.project.name, domain: domainBody(config.project.domain) }

  return {
    auth: {
      identity: { methods: ['password'], password: { user } },
      scope: { project },
    },
  }
}

function domainBody(domain: DomainReference): DomainReference {
  return 'id' in domain ? { id: domain.id } : { name: domain.name }
}

/**
 * Returns the base URLs of the image service in the catalog for the interface and, if given,
 * the region, without a trailing `/v2`, in the catalog's order. Throws a CliError that lists
 * the image endpoints that exist when none matches.
 */
export function selectImageEndpoints(
  catalog: readonly CatalogService[],
  endpointInterface: EndpointInterface,
  regionName: string | undefined,
): string[] {
  const endpoints = catalog
    .filter((service) => service.type === 'image')
    .flatMap((service) => service.endpoints)
  const matches = endpoints.filter(
    (endpoint) =>
      endpoint.interface === endpointInterface &&
      (regionName === undefined ||
        endpoint.region_id === regionName ||
        endpoint.region === regionName),
  )

  if (matches.length === 0) {
    throw noEndpointError(catalog, endpoints, endpointInterface, regionName)
  }
  const urls = matches.map((endpoint) =>
    endpoint.url.replace(/\/+$/, '').replace(/\/v2(\.\d+)?$/, ''),
  )
  return [...new Set(urls)]
}

function isRefused(error: unknown): boolean {
  const cause =
    error instanceof Error ? (error.cause as NodeJS.ErrnoException | undefined) : undefined
  return cause?.code === 'ECONNREFUSED' || cause?.code === 'EHOSTUNREACH'
}

function noEndpointError(
  catalog: readonly CatalogService[],
  imageEndpoints: readonly CatalogEndpoint[],
  endpointInterface: EndpointInterface,
  regionName: string | undefined,
): CliError {
  const requested =
    regionName === undefined
      ? `interface '${endpointInterface}'`
      : `interface '${endpointInterface}' in region '${regionName}'`

  if (imageEndpoints.length === 0) {
    const types = catalog.map((service) => service.type).join(', ') || 'none'
    return new CliError(
      `The service catalog has no image service. Service types in the catalog: ${types}.`,
    )
  }
  const available = imageEndpoints.map(
    (endpoint) =>
      `  ${endpoint.interface} in region ${endpoint.region_id ?? endpoint.region ?? '(none)'}: ` +
      endpoint.url,
  )
  return new CliError(
    [
      `The service catalog has no image endpoint for ${requested}. Image endpoints in the catalog:`,
      ...available,
      'Set OS_INTERFACE or OS_REGION_NAME (or --os-interface, --os-region-name) to one of them.',
    ].join('\n'),
  )
}

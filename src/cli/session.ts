import type { ConnectionConfig, DomainReference, EndpointInterface } from './connection-config.js'
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

/**
 * An authenticated connection: a project-scoped Keystone token and the image endpoint from its
 * catalog. Requests sent through it carry the token.
 */
export class Session {
  readonly projectId: string
  readonly imageEndpoint: string
  readonly identityEndpoint: string
  readonly #http: HttpClient
  readonly #token: string

  constructor(options: {
    http: HttpClient
    token: string
    projectId: string
    imageEndpoint: string
    identityEndpoint: string
  }) {
    this.#http = options.http
    this.#token = options.token
    this.projectId = options.projectId
    this.imageEndpoint = options.imageEndpoint
    this.identityEndpoint = options.identityEndpoint
  }

  /** Sends a request with the token and resolves with the response, whatever its status. */
  send(request: HttpRequest): Promise<HttpResponse> {
    return this.#http.send({ ...request, headers: this.#withToken(request.headers) })
  }

  /** Sends a JSON request with the token. Throws an HttpError for a status of 400 or more. */
  sendJson<T>(
    request: Omit<HttpRequest, 'body'> & { json?: unknown; contentType?: string },
  ): Promise<JsonResponse<T>> {
    return this.#http.sendJson<T>({ ...request, headers: this.#withToken(request.headers) })
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
): Promise<Session> {
  const http = await HttpClient.create({ caFile: config.caFile, insecure: config.insecure, debug })
  try {
    const { token, body } = await requestToken(http, config)
    const catalog = body.token?.catalog ?? []
    return new Session({
      http,
      token,
      projectId: body.token?.project?.id ?? '',
      imageEndpoint: selectImageEndpoint(catalog, config.endpointInterface, config.regionName),
      identityEndpoint: config.authUrl,
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
 * Returns the base URL of the image service in the catalog for the interface and, if given, the
 * region, without a trailing `/v2`. Throws a CliError that lists the image endpoints that exist.
 */
export function selectImageEndpoint(
  catalog: readonly CatalogService[],
  endpointInterface: EndpointInterface,
  regionName: string | undefined,
): string {
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

  // TODO: pcdctl uses only the first matching endpoint. Trying the next one after a connection
  // failure or a 5xx would let it survive the loss of one image library host.
  const selected = matches[0]
  if (selected === undefined) {
    throw noEndpointError(catalog, endpoints, endpointInterface, regionName)
  }
  return selected.url.replace(/\/+$/, '').replace(/\/v2(\.\d+)?$/, '')
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

import { request as httpsRequest } from 'node:https'
import type { IncomingHttpHeaders } from 'node:http'
import { Readable } from 'node:stream'
import type { RunningServer } from './server.js'

export interface Response {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
  /** The body parsed as JSON; throws when it is not JSON. */
  json(): any // eslint-disable-line @typescript-eslint/no-explicit-any -- test convenience
  text(): string
}

export interface RequestOptions {
  token?: string
  headers?: Record<string, string>
  /** A JSON value (sent as application/json unless the headers set another type), a Buffer or a stream. */
  body?: unknown
}

/** Sends one HTTPS request to the test server, trusting its CA. */
export function call(
  server: RunningServer,
  baseUrl: string,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers }
  if (options.token !== undefined) headers['x-auth-token'] = options.token
  let payload: Buffer | Readable | undefined
  if (Buffer.isBuffer(options.body) || options.body instanceof Readable) {
    payload = options.body
  } else if (options.body !== undefined) {
    payload = Buffer.from(JSON.stringify(options.body))
    headers['content-type'] ??= 'application/json'
  }
  if (Buffer.isBuffer(payload)) headers['content-length'] = String(payload.length)

  return new Promise((resolve, reject) => {
    const req = httpsRequest(new URL(path, baseUrl), { method, headers, ca: server.ca }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', reject)
      res.on('end', () => {
        const body = Buffer.concat(chunks)
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          json: () => JSON.parse(body.toString()),
          text: () => body.toString(),
        })
      })
    })
    req.on('error', reject)
    if (payload instanceof Readable) payload.pipe(req)
    else req.end(payload)
  })
}

export interface Credentials {
  username: string
  password: string
  project: string
}

/** Builds the body of a password login scoped to a project, all in domain Default. */
export function passwordAuthBody({ username, password, project }: Credentials) {
  return {
    auth: {
      identity: {
        methods: ['password'],
        password: { user: { name: username, domain: { name: 'Default' }, password } },
      },
      scope: { project: { name: project, domain: { name: 'Default' } } },
    },
  }
}

/** Issues a project-scoped token through the identity API. */
export async function issueToken(
  server: RunningServer,
  credentials?: Credentials,
): Promise<string> {
  const { username, password, project } = credentials ?? {
    username: server.env.OS_USERNAME!,
    password: server.env.OS_PASSWORD!,
    project: server.env.OS_PROJECT_NAME!,
  }
  const response = await call(server, server.identityUrl, 'POST', '/v3/auth/tokens', {
    body: passwordAuthBody({ username, password, project }),
  })
  if (response.status !== 201) {
    throw new Error(`token request for ${username} failed: ${response.status} ${response.text()}`)
  }
  return response.headers['x-subject-token'] as string
}

/** A client bound to one server and token, for terse tests of the image API. */
export function imageClient(server: RunningServer, token: string) {
  return (method: string, path: string, options: Omit<RequestOptions, 'token'> = {}) =>
    call(server, server.imageUrl, method, path, { ...options, token })
}

import { createHash, randomUUID } from 'node:crypto'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import type { CacheAgentRecord } from '../cache-agent-client.js'

/**
 * An in-memory Keystone v3 and Image API v2 on a loopback port, for pcdctl's unit tests. It
 * implements the calls pcdctl sends, with Glance's field names, error bodies and `next` links,
 * and records every request. It is a test double, not a reference for the API.
 */
export interface FakeCloud {
  /** The OS_* variables of a valid RC file for this cloud. */
  env: NodeJS.ProcessEnv
  origin: string
  images: Map<string, FakeImage>
  members: Map<string, FakeMember[]>
  requests: RecordedRequest[]
  /** Page size of `GET /v2/images` when the client sends no limit. */
  pageSize: number
  /** Makes downloads send other bytes than the stored data, to test checksum checks. */
  corruptDownloads: boolean
  /** Image endpoints listed before this cloud's own in the catalog, such as a dead host. */
  imageEndpointsBefore: string[]
  /** Status and message to fail the next upload with, after reading the body. */
  failNextUpload: { status: number; message: string } | undefined
  /** The cache agents of `/v2/cache/agents`, by name. */
  cacheAgents: Map<string, CacheAgentRecord>
  /** Adds an image with `data` already uploaded and returns it. */
  addImage(fields: Partial<FakeImage> & { name: string }, data?: Buffer): FakeImage
  stop(): Promise<void>
}

export interface FakeImage {
  id: string
  name: string | null
  status: string
  visibility: string
  protected: boolean
  os_hidden: boolean
  owner: string
  disk_format: string | null
  container_format: string | null
  min_disk: number
  min_ram: number
  size: number | null
  virtual_size: number | null
  checksum: string | null
  os_hash_algo: string | null
  os_hash_value: string | null
  tags: string[]
  created_at: string
  updated_at: string
  data?: Buffer
  [property: string]: unknown
}

export interface FakeMember {
  image_id: string
  member_id: string
  status: string
  created_at: string
  updated_at: string
  schema: string
}

export interface RecordedRequest {
  method: string
  path: string
  headers: http.IncomingHttpHeaders
  body: Buffer
}

export const fakeProjectId = '6a8c0c8e4f0a4b7f9d3e2c1b0a9f8e7d'
export const otherProjectId = '0b5a8e3c9f6d4a1e8c2b7d9f4e6a1c3b'
export const fakePassword = 'correct horse'
const fakeToken = 'fake-token-0123456789'

/** Starts the fake cloud over HTTP, or over HTTPS with the given key and certificate. */
export async function startFakeCloud(tls?: { key: string; cert: string }): Promise<FakeCloud> {
  const state = createState()
  const handler = (request: IncomingMessage, response: ServerResponse) => {
    void handleRequest(state, request, response)
  }
  const server = tls === undefined ? http.createServer(handler) : https.createServer(tls, handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))

  const { port } = server.address() as AddressInfo
  state.origin = `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`
  state.env = {
    OS_AUTH_URL: `${state.origin}/identity`,
    OS_USERNAME: 'demo',
    OS_PASSWORD: fakePassword,
    OS_PROJECT_NAME: 'demo',
    OS_USER_DOMAIN_NAME: 'Default',
    OS_PROJECT_DOMAIN_NAME: 'Default',
    OS_REGION_NAME: 'RegionOne',
    OS_INTERFACE: 'public',
  }
  state.stop = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  return state
}

function createState(): FakeCloud {
  const state: FakeCloud = {
    env: {},
    origin: '',
    images: new Map(),
    members: new Map(),
    requests: [],
    pageSize: 25,
    corruptDownloads: false,
    imageEndpointsBefore: [],
    failNextUpload: undefined,
    cacheAgents: new Map(),
    addImage: (fields, data) => {
      const image = newImage(fields)
      if (data !== undefined) storeData(image, data)
      state.images.set(image.id, image)
      return image
    },
    stop: async () => undefined,
  }
  return state
}

function newImage(fields: Partial<FakeImage>): FakeImage {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
  return {
    id: randomUUID(),
    name: null,
    status: 'queued',
    visibility: 'shared',
    protected: false,
    os_hidden: false,
    owner: fakeProjectId,
    disk_format: null,
    container_format: null,
    min_disk: 0,
    min_ram: 0,
    size: null,
    virtual_size: null,
    checksum: null,
    os_hash_algo: null,
    os_hash_value: null,
    tags: [],
    created_at: now,
    updated_at: now,
    ...fields,
  }
}

function storeData(image: FakeImage, data: Buffer): void {
  image.data = data
  image.size = data.length
  image.checksum = createHash('md5').update(data).digest('hex')
  image.os_hash_algo = 'sha512'
  image.os_hash_value = createHash('sha512').update(data).digest('hex')
  image.status = 'active'
}

function toWire(image: FakeImage): Record<string, unknown> {
  const { data: _data, ...fields } = image
  return {
    ...fields,
    self: `/v2/images/${image.id}`,
    file: `/v2/images/${image.id}/file`,
    schema: '/v2/schemas/image',
  }
}

async function handleRequest(
  state: FakeCloud,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const chunks: Buffer[] = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  const body = Buffer.concat(chunks)
  const url = new URL(request.url ?? '/', state.origin)
  state.requests.push({
    method: request.method ?? '',
    path: url.pathname + url.search,
    headers: request.headers,
    body,
  })

  try {
    route(state, request.method ?? '', url, request.headers, body, response)
  } catch (error) {
    sendError(response, 500, `fake cloud failure: ${String(error)}`)
  }
}

function route(
  state: FakeCloud,
  method: string,
  url: URL,
  headers: http.IncomingHttpHeaders,
  body: Buffer,
  response: ServerResponse,
): void {
  const path = url.pathname
  if (method === 'POST' && path === '/identity/v3/auth/tokens')
    return issueToken(state, body, response)
  if (path.startsWith('/identity/v3/projects')) return serveProjects(url, response)
  if (headers['x-auth-token'] !== fakeToken)
    return sendError(response, 401, 'Authentication required')

  if (path.startsWith('/v2/cache/')) return serveCache(state, method, url, response)

  const match = /^\/v2\/images(?:\/([^/]+))?(?:\/(file|members|actions)(?:\/([^/]+))?)?$/.exec(path)
  if (match === null) return sendError(response, 404, `No route for ${path}`)
  const [, imageId, sub, subId] = match
  if (imageId === undefined) {
    if (method === 'POST') return createImage(state, body, response)
    return listImages(state, url, response)
  }

  const image = state.images.get(decodeURIComponent(imageId))
  if (image === undefined) return sendError(response, 404, `No image found with ID ${imageId}`)
  if (sub === 'file') return serveFile(state, image, method, headers, body, response)
  if (sub === 'members') return serveMembers(state, image, method, subId, body, response)
  if (sub === 'actions') return changeActivation(image, subId, response)
  return serveImage(state, image, method, headers, body, response)
}

function issueToken(state: FakeCloud, body: Buffer, response: ServerResponse): void {
  const request = JSON.parse(body.toString()) as {
    auth: { identity: { password: { user: { name: string; password: string } } } }
  }
  if (request.auth.identity.password.user.password !== fakePassword) {
    response.writeHead(401, { 'Content-Type': 'application/json' })
    response.end(
      JSON.stringify({
        error: {
          code: 401,
          title: 'Unauthorized',
          message: 'The request you have made requires authentication.',
        },
      }),
    )
    return
  }

  const catalog = buildCatalog(state.origin, state.imageEndpointsBefore)
  response.writeHead(201, { 'Content-Type': 'application/json', 'X-Subject-Token': fakeToken })
  response.end(
    JSON.stringify({
      token: {
        catalog,
        project: { id: fakeProjectId, name: 'demo' },
        user: { id: 'u1', name: 'demo' },
      },
    }),
  )
}

function buildCatalog(origin: string, imageEndpointsBefore: string[]): unknown[] {
  const endpoint = (endpointInterface: string, region: string) => ({
    id: randomUUID(),
    interface: endpointInterface,
    region,
    region_id: region,
    url: origin,
  })
  return [
    {
      type: 'image',
      name: 'glance',
      endpoints: [
        ...imageEndpointsBefore.map((url) => ({ ...endpoint('public', 'RegionOne'), url })),
        endpoint('public', 'RegionOne'),
        endpoint('internal', 'RegionOne'),
      ],
    },
    {
      type: 'identity',
      name: 'keystone',
      endpoints: [{ ...endpoint('public', 'RegionOne'), url: `${origin}/identity/v3` }],
    },
  ]
}

function serveProjects(url: URL, response: ServerResponse): void {
  const projects = [
    { id: fakeProjectId, name: 'demo', domain_id: 'default' },
    { id: otherProjectId, name: 'other', domain_id: 'default' },
  ]
  const byId = /^\/identity\/v3\/projects\/(.+)$/.exec(url.pathname)
  if (byId !== null) {
    const project = projects.find((candidate) => candidate.id === byId[1])
    if (project === undefined) return sendError(response, 404, 'Could not find project')
    return sendJson(response, 200, { project })
  }
  const name = url.searchParams.get('name')
  sendJson(response, 200, { projects: projects.filter((project) => project.name === name) })
}

function createImage(state: FakeCloud, body: Buffer, response: ServerResponse): void {
  const fields = JSON.parse(body.toString()) as Partial<FakeImage>
  if (fields.id !== undefined && state.images.has(fields.id)) {
    return sendError(response, 409, `Image with identifier ${fields.id} already exists!`)
  }
  const image = newImage({ ...fields, owner: fields.owner ?? fakeProjectId })
  state.images.set(image.id, image)
  sendJson(response, 201, toWire(image))
}

// Query parameters that are not property filters.
const reservedListParameters = new Set([
  'limit',
  'marker',
  'sort',
  'visibility',
  'name',
  'status',
  'tag',
  'member_status',
  'os_hidden',
  'owner',
])

function listImages(state: FakeCloud, url: URL, response: ServerResponse): void {
  const query = url.searchParams
  let images = [...state.images.values()]
    .filter((image) => matchesQuery(image, query))
    .sort(
      (left, right) =>
        right.created_at.localeCompare(left.created_at) || left.id.localeCompare(right.id),
    )

  const marker = query.get('marker')
  if (marker !== null) images = images.slice(images.findIndex((image) => image.id === marker) + 1)
  const limit = Number(query.get('limit') ?? state.pageSize)
  const page = images.slice(0, limit)
  const result: Record<string, unknown> = {
    images: page.map(toWire),
    first: '/v2/images',
    schema: '/v2/schemas/images',
  }

  const last = page[page.length - 1]
  if (images.length > limit && last !== undefined) {
    const next = new URLSearchParams(query)
    next.set('marker', last.id)
    next.set('limit', String(limit))
    result['next'] = `/v2/images?${next}`
  }
  sendJson(response, 200, result)
}

function matchesQuery(image: FakeImage, query: URLSearchParams): boolean {
  const visibility = query.get('visibility')
  if (query.has('name') && image.name !== query.get('name')) return false
  if (query.has('status') && image.status !== query.get('status')) return false
  if (visibility !== null && visibility !== 'all' && image.visibility !== visibility) return false
  if (query.has('owner') && image.owner !== query.get('owner')) return false
  if (image.os_hidden !== (query.get('os_hidden') === 'true')) return false
  if (!query.getAll('tag').every((tag) => image.tags.includes(tag))) return false

  for (const [key, value] of query) {
    if (!reservedListParameters.has(key) && String(image[key]) !== value) return false
  }
  return true
}

function serveImage(
  state: FakeCloud,
  image: FakeImage,
  method: string,
  headers: http.IncomingHttpHeaders,
  body: Buffer,
  response: ServerResponse,
): void {
  if (method === 'GET') return sendJson(response, 200, toWire(image))
  if (method === 'DELETE') {
    if (image.protected)
      return sendError(response, 403, `Image ${image.id} is protected and cannot be deleted.`)
    state.images.delete(image.id)
    response.writeHead(204).end()
    return
  }
  if (method !== 'PATCH') return sendError(response, 405, 'Method not allowed')
  if (headers['content-type'] !== 'application/openstack-images-v2.1-json-patch') {
    return sendError(response, 415, `Unsupported Content-Type ${String(headers['content-type'])}`)
  }

  const operations = JSON.parse(body.toString()) as Array<{
    op: string
    path: string
    value?: unknown
  }>
  for (const operation of operations) {
    const field = operation.path.slice(1).replace(/~1/g, '/').replace(/~0/g, '~')
    if (operation.op === 'remove') delete image[field]
    else image[field] = operation.value
  }
  sendJson(response, 200, toWire(image))
}

function serveFile(
  state: FakeCloud,
  image: FakeImage,
  method: string,
  headers: http.IncomingHttpHeaders,
  body: Buffer,
  response: ServerResponse,
): void {
  if (method === 'PUT') {
    if (headers['content-type'] !== 'application/octet-stream') {
      return sendError(response, 415, 'Unsupported Content-Type')
    }
    const failure = state.failNextUpload
    if (failure !== undefined) {
      state.failNextUpload = undefined
      return sendError(response, failure.status, failure.message)
    }
    storeData(image, body)
    response.writeHead(204).end()
    return
  }
  if (image.data === undefined) {
    response.writeHead(204).end()
    return
  }
  const data = state.corruptDownloads ? Buffer.alloc(image.data.length, 0x5a) : image.data
  const range = /^bytes=(\d+)-$/.exec(headers.range ?? '')
  if (range !== null) {
    const start = Number(range[1])
    response.writeHead(206, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': data.length - start,
      'Content-Range': `bytes ${start}-${data.length - 1}/${data.length}`,
    })
    response.end(data.subarray(start))
    return
  }
  response.writeHead(200, {
    'Content-Type': 'application/octet-stream',
    'Content-Length': data.length,
  })
  response.end(data)
}

function serveMembers(
  state: FakeCloud,
  image: FakeImage,
  method: string,
  memberId: string | undefined,
  body: Buffer,
  response: ServerResponse,
): void {
  const members = state.members.get(image.id) ?? []
  state.members.set(image.id, members)
  if (memberId === undefined && method === 'GET') {
    return sendJson(response, 200, { members, schema: '/v2/schemas/members' })
  }
  if (memberId === undefined && method === 'POST') {
    const { member } = JSON.parse(body.toString()) as { member: string }
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
    const record = {
      image_id: image.id,
      member_id: member,
      status: 'pending',
      created_at: now,
      updated_at: now,
      schema: '/v2/schemas/member',
    }
    members.push(record)
    return sendJson(response, 200, record)
  }

  const record = members.find((candidate) => candidate.member_id === memberId)
  if (record === undefined)
    return sendError(response, 404, `${memberId} is not a member of image ${image.id}`)
  if (method === 'DELETE') {
    members.splice(members.indexOf(record), 1)
    response.writeHead(204).end()
    return
  }
  record.status = (JSON.parse(body.toString()) as { status: string }).status
  sendJson(response, 200, record)
}

function changeActivation(
  image: FakeImage,
  action: string | undefined,
  response: ServerResponse,
): void {
  image.status = action === 'deactivate' ? 'deactivated' : 'active'
  response.writeHead(204).end()
}

// The cache agent calls: list and show agents, and queue an image with `?agents=`.
function serveCache(state: FakeCloud, method: string, url: URL, response: ServerResponse): void {
  const agentName = /^\/v2\/cache\/agents\/([^/]+)$/.exec(url.pathname)?.[1]
  if (method === 'GET' && url.pathname === '/v2/cache/agents') {
    return sendJson(response, 200, { agents: [...state.cacheAgents.values()] })
  }
  if (method === 'GET' && agentName !== undefined) {
    const agent = state.cacheAgents.get(decodeURIComponent(agentName))
    if (agent === undefined) return sendError(response, 404, `No cache agent named ${agentName}`)
    return sendJson(response, 200, agent)
  }

  const imageId = /^\/v2\/cache\/([^/]+)$/.exec(url.pathname)?.[1]
  const image = imageId === undefined ? undefined : state.images.get(imageId)
  const selection = url.searchParams.get('agents')
  if (method !== 'PUT' || image === undefined || selection === null) {
    return sendError(response, 404, `No route for ${method} ${url.pathname}${url.search}`)
  }
  const known = [...state.cacheAgents.keys()].sort()
  const names = selection === 'all' ? known : selection.split(',')
  const unknown = names.filter((name) => !known.includes(name))
  if (unknown.length > 0) return sendError(response, 404, `No cache agents named ${unknown}`)
  for (const name of names) state.cacheAgents.get(name)!.queued_images.push(image.id)
  sendJson(response, 202, { queued_on: names })
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'Content-Type': 'application/json' })
  response.end(JSON.stringify(body))
}

// Glance's JSON error body, as WebOb renders it for `Accept: application/json`.
function sendError(response: ServerResponse, status: number, message: string): void {
  const statusLine = `${status} ${http.STATUS_CODES[status] ?? 'Error'}`
  response.writeHead(status, {
    'Content-Type': 'application/json',
    'x-openstack-request-id': 'req-fake-0001',
  })
  response.end(
    JSON.stringify({
      message: `${message}<br /><br />\n\n\n`,
      code: statusLine,
      title: http.STATUS_CODES[status] ?? 'Error',
    }),
  )
}

import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { registerJsonParser, serverOptions } from '../api/app.js'
import { registerAccessLog } from '../api/middleware/access-log.js'
import { toServiceError } from '../api/middleware/errors.js'
import { InvalidInputError, ServiceError } from '../domain/errors.js'
import type { CatalogService } from './catalog.js'
import type { Directory } from './directory.js'
import type {
  IdentityService,
  NamedReference,
  PasswordAuth,
  TokenAuth,
  TokenView,
} from './identity-service.js'
import {
  domainToWire,
  listBody,
  projectToWire,
  roleToWire,
  tokenToWire,
  userToWire,
  versionToWire,
} from './wire.js'

export interface IdentityApiOptions {
  identity: IdentityService
  directory: Directory
  catalog: () => CatalogService[]
  baseUrl: () => string
  log: Logger
  https?: { key: Buffer; cert: Buffer } | null
}

declare module 'fastify' {
  interface FastifyRequest {
    token?: TokenView
  }
}

type Query = Record<string, string | undefined>

/** Builds the embedded Keystone v3 API server. It is not listening yet. */
export function createIdentityApi(options: IdentityApiOptions): FastifyInstance {
  const app = Fastify(serverOptions(options.log, options.https ?? null))
  registerJsonParser(app, [])
  registerAccessLog(app)
  app.setErrorHandler((error, request, reply) =>
    sendKeystoneError(error, request, reply, options.baseUrl),
  )
  app.setNotFoundHandler((request, reply) =>
    sendKeystoneError(
      new ServiceError('NOT_FOUND', `No such resource: ${request.url}.`),
      request,
      reply,
      options.baseUrl,
    ),
  )

  app.addHook('preHandler', async (request) => {
    const path = request.url.split('?')[0] ?? ''
    const open = path === '/' || path === '/v3' || path === '/v3/'
    if (open || (path === '/v3/auth/tokens' && request.method === 'POST')) return
    const token = request.headers['x-auth-token']
    if (typeof token !== 'string' || token === '') {
      throw new ServiceError('UNAUTHORIZED', 'The request you have made requires authentication.')
    }
    request.token = await options.identity.validate(token)
  })

  registerVersionRoutes(app, options)
  registerTokenRoutes(app, options)
  registerDirectoryRoutes(app, options)
  registerCatalogRoutes(app, options)
  return app
}

function caller(request: FastifyRequest): TokenView {
  if (request.token === undefined)
    throw new ServiceError('UNAUTHORIZED', 'Authentication required.')
  return request.token
}

function sendKeystoneError(
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
  baseUrl: () => string,
): void {
  const known = toServiceError(error)
  if (known === null) request.log.error({ err: error }, 'unexpected error')
  else request.log.info({ code: known.code, reason: known.message }, 'request rejected')

  const shown = known ?? new ServiceError('INTERNAL', 'An unexpected error occurred.')
  if (shown.status === 401) reply.header('www-authenticate', `Keystone uri="${baseUrl()}/v3"`)
  reply
    .status(shown.status)
    .type('application/json')
    .send({ error: { code: shown.status, title: shown.title, message: shown.message } })
}

function registerVersionRoutes(app: FastifyInstance, options: IdentityApiOptions): void {
  app.get('/', async (_request, reply) => {
    reply.status(300)
    return { versions: { values: [versionToWire(options.baseUrl())] } }
  })
  const version = async () => ({ version: versionToWire(options.baseUrl()) })
  app.get('/v3', version)
  app.get('/v3/', version)
}

function registerTokenRoutes(app: FastifyInstance, options: IdentityApiOptions): void {
  const { identity } = options
  const withCatalog = (query: Query) => (query.nocatalog === undefined ? options.catalog() : null)

  app.post('/v3/auth/tokens', async (request, reply) => {
    const issued = await identity.authenticate(parseAuthRequest(request.body))
    reply.status(201).header('x-subject-token', issued.token)
    return tokenToWire(issued.view, withCatalog(request.query as Query))
  })

  const subject = async (request: FastifyRequest): Promise<{ token: string; view: TokenView }> => {
    const token = request.headers['x-subject-token']
    if (typeof token !== 'string')
      throw new InvalidInputError('The X-Subject-Token header is missing.')
    const view = await identity.validate(token).catch((error: unknown) => {
      if (error instanceof ServiceError && error.code === 'UNAUTHORIZED') {
        throw new ServiceError('NOT_FOUND', 'Could not find token.')
      }
      throw error
    })
    const self = request.headers['x-auth-token'] === token
    if (!self) identity.requireAdmin(caller(request))
    return { token, view }
  }

  // Fastify serves HEAD with this GET handler, minus the body.
  app.get('/v3/auth/tokens', async (request, reply) => {
    const { token, view } = await subject(request)
    reply.header('x-subject-token', token)
    return tokenToWire(view, withCatalog(request.query as Query))
  })
  app.delete('/v3/auth/tokens', async (request, reply) => {
    const { token } = await subject(request)
    await identity.revoke(token)
    reply.status(204).send()
  })

  app.get('/v3/auth/catalog', async () => ({ catalog: options.catalog() }))
  app.get('/v3/auth/projects', async (request) => {
    const view = caller(request)
    const projects = await projectsOfUser(options, view.user.id)
    return listBody('projects', projects, options.baseUrl(), 'auth/projects')
  })
}

async function projectsOfUser(options: IdentityApiOptions, userId: string) {
  const repo = options.identity.repository
  const assignments = await repo.listAssignments({ userId })
  const ids = [...new Set(assignments.map((a) => a.projectId))]
  const projects = await Promise.all(ids.map((id) => repo.getProject(id)))
  return projects.flatMap((p) => (p === null ? [] : [projectToWire(p, options.baseUrl())]))
}

/** Parses a Keystone v3 auth request body with the password or token method. */
export function parseAuthRequest(body: unknown): PasswordAuth | TokenAuth {
  const auth = field(body, 'auth')
  const identity = field(auth, 'identity')
  const methods = field(identity, 'methods')
  if (!Array.isArray(methods) || methods.length === 0) {
    throw new InvalidInputError('auth.identity.methods must list password or token.')
  }
  const project = parseScope(field(auth, 'scope', true))

  if (methods.includes('password')) {
    const user = field(field(identity, 'password'), 'user')
    const password = field(user, 'password')
    if (typeof password !== 'string') {
      throw new InvalidInputError('auth.identity.password.user.password must be a string.')
    }
    return { method: 'password', user: reference(user), password, project }
  }
  if (methods.includes('token')) {
    const token = field(field(identity, 'token'), 'id')
    if (typeof token !== 'string')
      throw new InvalidInputError('auth.identity.token.id must be a string.')
    return { method: 'token', token, project }
  }
  throw new InvalidInputError(
    `Unsupported auth methods ${JSON.stringify(methods)}: use password or token.`,
  )
}

function parseScope(scope: unknown): NamedReference | null {
  if (scope === undefined || scope === null) return null
  if (typeof scope === 'object' && 'project' in scope) {
    return reference((scope as { project: unknown }).project)
  }
  throw new InvalidInputError('Only project scope is supported: use auth.scope.project.')
}

function reference(value: unknown): NamedReference {
  if (typeof value !== 'object' || value === null) {
    throw new InvalidInputError(
      'A user or project reference must be an object with an id or a name.',
    )
  }
  const { id, name, domain } = value as Record<string, unknown>
  const result: NamedReference = {}
  if (typeof id === 'string') result.id = id
  if (typeof name === 'string') result.name = name
  if (typeof domain === 'object' && domain !== null) {
    const d = domain as Record<string, unknown>
    result.domain = {}
    if (typeof d.id === 'string') result.domain.id = d.id
    if (typeof d.name === 'string') result.domain.name = d.name
  }
  return result
}

function field(value: unknown, name: string, optional = false): unknown {
  if (typeof value === 'object' && value !== null && name in value) {
    return (value as Record<string, unknown>)[name]
  }
  if (optional) return undefined
  throw new InvalidInputError(`The auth request is missing the field ${name}.`)
}

type IdParams = { Params: { id: string } }
type AssignmentParams = { Params: { project: string; user: string; role: string } }

function registerDirectoryRoutes(app: FastifyInstance, options: IdentityApiOptions): void {
  const { directory, identity } = options
  const repo = identity.repository
  const base = () => options.baseUrl()
  const admin = (request: FastifyRequest) => identity.requireAdmin(caller(request))

  app.get('/v3/domains', async (request) => {
    admin(request)
    const { name } = request.query as Query
    const domains = await repo.listDomains(name === undefined ? {} : { name })
    return listBody(
      'domains',
      domains.map((d) => domainToWire(d, base())),
      base(),
      'domains',
    )
  })
  app.get<IdParams>('/v3/domains/:id', async (request) => {
    admin(request)
    return { domain: domainToWire(await directory.requireDomain(request.params.id), base()) }
  })

  app.post('/v3/projects', async (request, reply) => {
    admin(request)
    const input = field(request.body, 'project') as Record<string, unknown>
    const project = await directory.createProject({
      name: input.name as string,
      ...optionalString('domainId', input.domain_id),
      ...optionalString('description', input.description),
      enabled: input.enabled !== false,
    })
    reply.status(201)
    return { project: projectToWire(project, base()) }
  })
  app.get('/v3/projects', async (request) => {
    admin(request)
    const { name, domain_id: domainId } = request.query as Query
    const projects = await repo.listProjects({
      ...(name === undefined ? {} : { name }),
      ...(domainId === undefined ? {} : { domainId }),
    })
    return listBody(
      'projects',
      projects.map((p) => projectToWire(p, base())),
      base(),
      'projects',
    )
  })
  app.get<IdParams>('/v3/projects/:id', async (request) => {
    const view = caller(request)
    if (view.project.id !== request.params.id) admin(request)
    const project = await repo.getProject(request.params.id)
    if (project === null)
      throw new ServiceError('NOT_FOUND', `Could not find project: ${request.params.id}.`)
    return { project: projectToWire(project, base()) }
  })
  app.delete<IdParams>('/v3/projects/:id', async (request, reply) => {
    admin(request)
    await directory.deleteProject(request.params.id)
    reply.status(204).send()
  })

  app.post('/v3/users', async (request, reply) => {
    admin(request)
    const input = field(request.body, 'user') as Record<string, unknown>
    const user = await directory.createUser({
      name: input.name as string,
      ...optionalString('domainId', input.domain_id),
      ...optionalString('password', input.password),
      defaultProjectId:
        typeof input.default_project_id === 'string' ? input.default_project_id : null,
      email: typeof input.email === 'string' ? input.email : null,
      enabled: input.enabled !== false,
    })
    reply.status(201)
    return { user: userToWire(user, base()) }
  })
  app.get('/v3/users', async (request) => {
    admin(request)
    const { name, domain_id: domainId } = request.query as Query
    const users = await repo.listUsers({
      ...(name === undefined ? {} : { name }),
      ...(domainId === undefined ? {} : { domainId }),
    })
    return listBody(
      'users',
      users.map((u) => userToWire(u, base())),
      base(),
      'users',
    )
  })
  app.get<IdParams>('/v3/users/:id', async (request) => {
    if (caller(request).user.id !== request.params.id) admin(request)
    const user = await repo.getUser(request.params.id)
    if (user === null)
      throw new ServiceError('NOT_FOUND', `Could not find user: ${request.params.id}.`)
    return { user: userToWire(user, base()) }
  })
  app.patch<IdParams>('/v3/users/:id', async (request) => {
    admin(request)
    const input = field(request.body, 'user') as Record<string, unknown>
    const user = await directory.updateUser(request.params.id, {
      ...optionalString('name', input.name),
      ...optionalString('password', input.password),
      ...(typeof input.enabled === 'boolean' ? { enabled: input.enabled } : {}),
    })
    return { user: userToWire(user, base()) }
  })
  app.delete<IdParams>('/v3/users/:id', async (request, reply) => {
    admin(request)
    await directory.deleteUser(request.params.id)
    reply.status(204).send()
  })
  app.get<IdParams>('/v3/users/:id/projects', async (request) => {
    if (caller(request).user.id !== request.params.id) admin(request)
    const projects = await projectsOfUser(options, request.params.id)
    return listBody('projects', projects, base(), `users/${request.params.id}/projects`)
  })

  app.post('/v3/roles', async (request, reply) => {
    admin(request)
    const input = field(request.body, 'role') as Record<string, unknown>
    const role = await directory.createRole(input.name as string)
    reply.status(201)
    return { role: roleToWire(role, base()) }
  })
  app.get('/v3/roles', async (request) => {
    admin(request)
    const { name } = request.query as Query
    const roles = await repo.listRoles(name === undefined ? {} : { name })
    return listBody(
      'roles',
      roles.map((r) => roleToWire(r, base())),
      base(),
      'roles',
    )
  })
  app.get<IdParams>('/v3/roles/:id', async (request) => {
    admin(request)
    const role = await repo.getRole(request.params.id)
    if (role === null)
      throw new ServiceError('NOT_FOUND', `Could not find role: ${request.params.id}.`)
    return { role: roleToWire(role, base()) }
  })
  app.delete<IdParams>('/v3/roles/:id', async (request, reply) => {
    admin(request)
    await directory.deleteRole(request.params.id)
    reply.status(204).send()
  })

  registerAssignmentRoutes(app, options, admin)
}

function registerAssignmentRoutes(
  app: FastifyInstance,
  options: IdentityApiOptions,
  admin: (request: FastifyRequest) => void,
): void {
  const { directory, identity } = options
  const repo = identity.repository
  const base = () => options.baseUrl()
  const path = '/v3/projects/:project/users/:user/roles/:role'

  app.put<AssignmentParams>(path, async (request, reply) => {
    admin(request)
    const { project, user, role } = request.params
    await directory.assignRole(user, project, role)
    reply.status(204).send()
  })
  app.head<AssignmentParams>(path, async (request, reply) => {
    admin(request)
    const { project, user, role } = request.params
    const found = await repo.listAssignments({ userId: user, projectId: project, roleId: role })
    reply.status(found.length > 0 ? 204 : 404).send()
  })
  app.delete<AssignmentParams>(path, async (request, reply) => {
    admin(request)
    const { project, user, role } = request.params
    await directory.unassignRole(user, project, role)
    reply.status(204).send()
  })
  app.get<{ Params: { project: string; user: string } }>(
    '/v3/projects/:project/users/:user/roles',
    async (request) => {
      admin(request)
      const { project, user } = request.params
      const roles = await identity.rolesOf(user, project)
      return listBody(
        'roles',
        roles.map((r) => roleToWire(r, base())),
        base(),
        'roles',
      )
    },
  )

  app.get('/v3/role_assignments', async (request) => {
    admin(request)
    const query = request.query as Query
    const assignments = await repo.listAssignments({
      ...optionalString('userId', query['user.id']),
      ...optionalString('projectId', query['scope.project.id']),
      ...optionalString('roleId', query['role.id']),
    })
    const withNames = query.include_names !== undefined && query.include_names !== 'false'
    const items = await Promise.all(
      assignments.map(async (a) => {
        const names = withNames ? await assignmentNames(options, a) : null
        return {
          role: { id: a.roleId, ...names?.role },
          user: { id: a.userId, ...names?.user },
          scope: { project: { id: a.projectId, ...names?.project } },
          links: {
            assignment: `${base()}/v3/projects/${a.projectId}/users/${a.userId}/roles/${a.roleId}`,
          },
        }
      }),
    )
    return listBody('role_assignments', items, base(), 'role_assignments')
  })
}

async function assignmentNames(
  options: IdentityApiOptions,
  a: { userId: string; projectId: string; roleId: string },
) {
  const repo = options.identity.repository
  const [user, project, role] = await Promise.all([
    repo.getUser(a.userId),
    repo.getProject(a.projectId),
    repo.getRole(a.roleId),
  ])
  const domainOf = async (id: string | undefined) => {
    const domain = id === undefined ? null : await repo.getDomain(id)
    return domain === null ? {} : { domain: { id: domain.id, name: domain.name } }
  }
  return {
    user: user === null ? {} : { name: user.name, ...(await domainOf(user.domainId)) },
    project: project === null ? {} : { name: project.name, ...(await domainOf(project.domainId)) },
    role: role === null ? {} : { name: role.name },
  }
}

function registerCatalogRoutes(app: FastifyInstance, options: IdentityApiOptions): void {
  app.get('/v3/services', async (request) => {
    options.identity.requireAdmin(caller(request))
    const services = options
      .catalog()
      .map(({ id, type, name }) => ({ id, type, name, enabled: true }))
    return listBody('services', services, options.baseUrl(), 'services')
  })
  app.get('/v3/endpoints', async (request) => {
    options.identity.requireAdmin(caller(request))
    const endpoints = options
      .catalog()
      .flatMap((service) =>
        service.endpoints.map((e) => ({ ...e, service_id: service.id, enabled: true })),
      )
    return listBody('endpoints', endpoints, options.baseUrl(), 'endpoints')
  })
  app.get('/v3/regions', async () => {
    const regions = [...new Set(options.catalog().flatMap((s) => s.endpoints.map((e) => e.region)))]
    const items = regions.map((id) => ({ id, description: '', parent_region_id: null }))
    return listBody('regions', items, options.baseUrl(), 'regions')
  })
}

function optionalString<K extends string>(key: K, value: unknown): { [P in K]?: string } {
  return (typeof value === 'string' ? { [key]: value } : {}) as { [P in K]?: string }
}

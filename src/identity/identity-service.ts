import { createHash, randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import type { IdentityRepository } from '../db/identity-repository.js'
import { ForbiddenError, InvalidInputError, NotFoundError, ServiceError } from '../domain/errors.js'
import type { AuthContext } from '../domain/ports.js'
import { impliedRoles, type Domain, type Project, type Role, type User } from './model.js'
import { verifyPassword } from './password.js'

/** A reference by id, or by name within a domain, as in a Keystone auth request. */
export interface NamedReference {
  id?: string
  name?: string
  domain?: { id?: string; name?: string }
}

export interface PasswordAuth {
  method: 'password'
  user: NamedReference
  password: string
  project: NamedReference | null
}

export interface TokenAuth {
  method: 'token'
  token: string
  project: NamedReference | null
}

/** Everything a token stands for, resolved; the body of a token response is built from it. */
export interface TokenView {
  methods: string[]
  user: User
  userDomain: Domain
  project: Project
  projectDomain: Domain
  roles: Role[]
  issuedAt: Date
  expiresAt: Date
  auditId: string
}

export interface IssuedToken {
  token: string
  view: TokenView
}

export interface IdentityServiceOptions {
  tokenLifetimeSeconds: number
  /** How long a validated token is trusted without reading the database again. */
  tokenCacheSeconds: number
}

const maxCachedTokens = 10_000

function unauthorized(
  message = 'The request you have made requires authentication.',
): ServiceError {
  return new ServiceError('UNAUTHORIZED', message)
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

/**
 * The embedded Keystone: checks passwords, issues, validates and revokes tokens. Also the token
 * validator of the image API.
 */
export class IdentityService {
  readonly #repo: IdentityRepository
  readonly #options: IdentityServiceOptions
  readonly #log: Logger
  readonly #cache = new Map<string, { view: TokenView; until: number }>()

  constructor(repo: IdentityRepository, options: IdentityServiceOptions, log: Logger) {
    this.#repo = repo
    this.#options = Object.freeze({ ...options })
    this.#log = log
  }

  get repository(): IdentityRepository {
    return this.#repo
  }

  async authenticate(request: PasswordAuth | TokenAuth): Promise<IssuedToken> {
    const { user, methods } =
      request.method === 'password'
        ? { user: await this.#checkPassword(request), methods: ['password'] }
        : { user: (await this.validate(request.token)).user, methods: ['token'] }

    const project = await this.#resolveScope(user, request.project)
    const roles = await this.rolesOf(user.id, project.id)
    if (roles.length === 0) {
      this.#log.info(
        { userId: user.id, projectId: project.id },
        'auth rejected: no role on project',
      )
      throw unauthorized(`User ${user.name} has no role on project ${project.name}.`)
    }
    return this.#issue(user, project, roles, methods)
  }

  async #checkPassword(request: PasswordAuth): Promise<User> {
    const user = await this.#findUser(request.user)
    const valid =
      user !== null &&
      user.enabled &&
      user.passwordHash !== null &&
      (await verifyPassword(request.password, user.passwordHash))
    if (!valid) {
      this.#log.info(
        { user: request.user.name ?? request.user.id },
        'auth rejected: bad credentials',
      )
      throw unauthorized('The user name or password is incorrect, or the user is disabled.')
    }
    return user
  }

  async #findUser(reference: NamedReference): Promise<User | null> {
    if (reference.id !== undefined) return this.#repo.getUser(reference.id)
    if (reference.name === undefined) {
      throw new InvalidInputError('auth.identity.password.user needs an id or a name.')
    }
    const domain = await this.findDomain(reference.domain)
    return domain === null ? null : this.#repo.findUserByName(domain.id, reference.name)
  }

  /** Resolves `{id}` or `{name}` of a domain; `null` when it does not exist. */
  async findDomain(reference: { id?: string; name?: string } | undefined): Promise<Domain | null> {
    if (reference?.id !== undefined) return this.#repo.getDomain(reference.id)
    if (reference?.name !== undefined) {
      const [domain] = await this.#repo.listDomains({ name: reference.name })
      return domain ?? null
    }
    throw new InvalidInputError('A user or project given by name also needs its domain id or name.')
  }

  async #resolveScope(user: User, scope: NamedReference | null): Promise<Project> {
    const project = await this.#findProject(user, scope)
    if (project === null || !project.enabled) {
      throw unauthorized('The requested project does not exist, is disabled, or is not yours.')
    }
    return project
  }

  async #findProject(user: User, scope: NamedReference | null): Promise<Project | null> {
    if (scope === null) {
      if (user.defaultProjectId === null) {
        throw new InvalidInputError(
          'Unscoped tokens are not supported: add auth.scope.project to the request.',
        )
      }
      return this.#repo.getProject(user.defaultProjectId)
    }
    if (scope.id !== undefined) return this.#repo.getProject(scope.id)
    if (scope.name === undefined)
      throw new InvalidInputError('auth.scope.project needs an id or a name.')

    const domain = await this.findDomain(scope.domain)
    if (domain === null) return null
    const [project] = await this.#repo.listProjects({ name: scope.name, domainId: domain.id })
    return project ?? null
  }

  /** Returns the roles of a user on a project, with the roles they imply. */
  async rolesOf(userId: string, projectId: string): Promise<Role[]> {
    const assignments = await this.#repo.listAssignments({ userId, projectId })
    const allRoles = await this.#repo.listRoles()
    const byId = new Map(allRoles.map((role) => [role.id, role]))
    const byName = new Map(allRoles.map((role) => [role.name, role]))

    const result = new Map<string, Role>()
    const pending = assignments.flatMap((a) => byId.get(a.roleId) ?? [])
    while (pending.length > 0) {
      const role = pending.pop()!
      if (result.has(role.id)) continue
      result.set(role.id, role)
      for (const name of impliedRoles[role.name] ?? []) {
        const implied = byName.get(name)
        if (implied !== undefined) pending.push(implied)
      }
    }
    return [...result.values()].sort((a, b) => a.name.localeCompare(b.name))
  }

  async #issue(
    user: User,
    project: Project,
    roles: Role[],
    methods: string[],
  ): Promise<IssuedToken> {
    const token = randomBytes(32).toString('base64url')
    const issuedAt = new Date()
    const expiresAt = new Date(issuedAt.getTime() + this.#options.tokenLifetimeSeconds * 1000)
    const auditId = randomBytes(16).toString('base64url')
    await this.#repo.saveToken({
      tokenHash: hashToken(token),
      userId: user.id,
      projectId: project.id,
      auditId,
      issuedAt,
      expiresAt,
      revoked: false,
    })
    this.#log.info({ userId: user.id, projectId: project.id }, 'token issued')

    const view = await this.#view(user, project, roles, { issuedAt, expiresAt, auditId, methods })
    return { token, view }
  }

  async #view(
    user: User,
    project: Project,
    roles: Role[],
    meta: { issuedAt: Date; expiresAt: Date; auditId: string; methods: string[] },
  ): Promise<TokenView> {
    const userDomain = await this.#repo.getDomain(user.domainId)
    const projectDomain = await this.#repo.getDomain(project.domainId)
    if (userDomain === null || projectDomain === null) throw unauthorized()
    return { ...meta, user, userDomain, project, projectDomain, roles }
  }

  /** Resolves a token. Throws 401 when it is unknown, expired, revoked or no longer backed. */
  async validate(token: string): Promise<TokenView> {
    const tokenHash = hashToken(token)
    const now = Date.now()
    const cached = this.#cache.get(tokenHash)
    if (cached !== undefined && cached.until > now && cached.view.expiresAt.getTime() > now) {
      return cached.view
    }

    const view = await this.#load(tokenHash, now)
    if (this.#cache.size >= maxCachedTokens) {
      const oldest = this.#cache.keys().next().value
      if (oldest !== undefined) this.#cache.delete(oldest)
    }
    this.#cache.set(tokenHash, { view, until: now + this.#options.tokenCacheSeconds * 1000 })
    return view
  }

  async #load(tokenHash: string, now: number): Promise<TokenView> {
    const record = await this.#repo.getToken(tokenHash)
    if (record === null || record.revoked || record.expiresAt.getTime() <= now) {
      throw unauthorized('The token is invalid, expired or revoked; request a new one.')
    }
    const user = await this.#repo.getUser(record.userId)
    const project = await this.#repo.getProject(record.projectId)
    if (user === null || !user.enabled || project === null || !project.enabled) {
      throw unauthorized('The token is invalid, expired or revoked; request a new one.')
    }
    const roles = await this.rolesOf(user.id, project.id)
    if (roles.length === 0) {
      throw unauthorized('The token is invalid, expired or revoked; request a new one.')
    }
    return this.#view(user, project, roles, {
      issuedAt: record.issuedAt,
      expiresAt: record.expiresAt,
      auditId: record.auditId,
      methods: ['password'],
    })
  }

  /** Revokes a token; unknown tokens are a 404 as in Keystone. */
  async revoke(token: string): Promise<void> {
    const tokenHash = hashToken(token)
    this.#cache.delete(tokenHash)
    if (!(await this.#repo.revokeToken(tokenHash))) {
      throw new NotFoundError('Could not find token.')
    }
    this.#log.info('token revoked')
  }

  /** Resolves a token into the caller's context for the image API. */
  async authContext(token: string): Promise<AuthContext> {
    const view = await this.validate(token)
    const roles = view.roles.map((role) => role.name)
    return {
      userId: view.user.id,
      userName: view.user.name,
      projectId: view.project.id,
      projectName: view.project.name,
      domainId: view.project.domainId,
      roles,
      isAdmin: roles.includes('admin'),
    }
  }

  /** Drops every cached validation; called after changes that may take roles away. */
  forgetCachedTokens(): void {
    this.#cache.clear()
  }

  requireAdmin(view: TokenView): void {
    if (!view.roles.some((role) => role.name === 'admin')) {
      throw new ForbiddenError(
        'You are not authorized to perform the requested action: admin role required.',
      )
    }
  }
}

import { randomUUID } from 'node:crypto'
import type { IdentityRepository } from '../db/identity-repository.js'
import { InvalidInputError, NotFoundError } from '../domain/errors.js'
import { defaultDomainId, type Domain, type Project, type Role, type User } from './model.js'
import { hashPassword } from './password.js'

export interface ProjectInput {
  name: string
  domainId?: string
  description?: string
  enabled?: boolean
}

export interface UserInput {
  name: string
  domainId?: string
  password?: string
  defaultProjectId?: string | null
  email?: string | null
  enabled?: boolean
}

/** Returns a Keystone-style id: a UUID without dashes. */
export function newIdentityId(): string {
  return randomUUID().replaceAll('-', '')
}

/**
 * Administration of domains, projects, users, roles and assignments. Shared by the Keystone
 * admin API and the `image-library admin` command, so both apply the same checks.
 */
export class Directory {
  readonly #repo: IdentityRepository
  readonly #onAccessChange: () => void

  /** `onAccessChange` runs after any change that can take access away, to drop cached tokens. */
  constructor(repo: IdentityRepository, onAccessChange: () => void = () => {}) {
    this.#repo = repo
    this.#onAccessChange = onAccessChange
  }

  async ensureDomain(id: string, name: string): Promise<Domain> {
    const existing = await this.#repo.getDomain(id)
    if (existing !== null) return existing
    const domain = { id, name, description: '', enabled: true }
    await this.#repo.createDomain(domain)
    return domain
  }

  async requireDomain(idOrName: string | undefined): Promise<Domain> {
    const key = idOrName ?? defaultDomainId
    const domain =
      (await this.#repo.getDomain(key)) ?? (await this.#repo.listDomains({ name: key }))[0]
    if (domain === undefined || domain === null)
      throw new NotFoundError(`Could not find domain: ${key}.`)
    return domain
  }

  async createProject(input: ProjectInput): Promise<Project> {
    requireName('project', input.name)
    const domain = await this.requireDomain(input.domainId)
    const project: Project = {
      id: newIdentityId(),
      name: input.name,
      domainId: domain.id,
      description: input.description ?? '',
      enabled: input.enabled ?? true,
    }
    await this.#repo.createProject(project)
    return project
  }

  /** Finds a project by id, or by unique name in the domain. */
  async requireProject(idOrName: string, domainIdOrName?: string): Promise<Project> {
    const byId = await this.#repo.getProject(idOrName)
    if (byId !== null) return byId
    const domain = await this.requireDomain(domainIdOrName)
    const [project] = await this.#repo.listProjects({ name: idOrName, domainId: domain.id })
    if (project === undefined) throw new NotFoundError(`Could not find project: ${idOrName}.`)
    return project
  }

  async deleteProject(id: string): Promise<void> {
    if (!(await this.#repo.deleteProject(id)))
      throw new NotFoundError(`Could not find project: ${id}.`)
    this.#onAccessChange()
  }

  async createUser(input: UserInput): Promise<User> {
    requireName('user', input.name)
    const domain = await this.requireDomain(input.domainId)
    if (input.defaultProjectId != null) await this.requireProject(input.defaultProjectId)

    const user: User = {
      id: newIdentityId(),
      name: input.name,
      domainId: domain.id,
      passwordHash: input.password === undefined ? null : await hashPassword(input.password),
      enabled: input.enabled ?? true,
      defaultProjectId: input.defaultProjectId ?? null,
      email: input.email ?? null,
    }
    await this.#repo.createUser(user)
    return user
  }

  async updateUser(id: string, changes: Partial<UserInput>): Promise<User> {
    const user = await this.requireUser(id)
    const updated: User = {
      ...user,
      name: changes.name ?? user.name,
      enabled: changes.enabled ?? user.enabled,
      email: changes.email === undefined ? user.email : changes.email,
      defaultProjectId:
        changes.defaultProjectId === undefined ? user.defaultProjectId : changes.defaultProjectId,
      passwordHash:
        changes.password === undefined ? user.passwordHash : await hashPassword(changes.password),
    }
    await this.#repo.updateUser(updated)
    if (changes.enabled === false || changes.password !== undefined) {
      // As in Keystone, a new password or a disabled account ends every session of the user.
      await this.#repo.revokeTokensOf(id)
      this.#onAccessChange()
    }
    return updated
  }

  async requireUser(idOrName: string, domainIdOrName?: string): Promise<User> {
    const byId = await this.#repo.getUser(idOrName)
    if (byId !== null) return byId
    const domain = await this.requireDomain(domainIdOrName)
    const user = await this.#repo.findUserByName(domain.id, idOrName)
    if (user === null) throw new NotFoundError(`Could not find user: ${idOrName}.`)
    return user
  }

  async deleteUser(id: string): Promise<void> {
    if (!(await this.#repo.deleteUser(id))) throw new NotFoundError(`Could not find user: ${id}.`)
    this.#onAccessChange()
  }

  async createRole(name: string): Promise<Role> {
    requireName('role', name)
    const role = { id: newIdentityId(), name }
    await this.#repo.createRole(role)
    return role
  }

  /** Returns the role with this name, creating it when missing. */
  async ensureRole(name: string): Promise<Role> {
    const [existing] = await this.#repo.listRoles({ name })
    return existing ?? this.createRole(name)
  }

  async requireRole(idOrName: string): Promise<Role> {
    const role =
      (await this.#repo.getRole(idOrName)) ?? (await this.#repo.listRoles({ name: idOrName }))[0]
    if (role === undefined || role === null)
      throw new NotFoundError(`Could not find role: ${idOrName}.`)
    return role
  }

  async deleteRole(id: string): Promise<void> {
    if (!(await this.#repo.deleteRole(id))) throw new NotFoundError(`Could not find role: ${id}.`)
    this.#onAccessChange()
  }

  async assignRole(userId: string, projectId: string, roleId: string): Promise<void> {
    await this.requireUser(userId)
    await this.requireProject(projectId)
    await this.requireRole(roleId)
    await this.#repo.assignRole({ userId, projectId, roleId })
  }

  async unassignRole(userId: string, projectId: string, roleId: string): Promise<void> {
    if (!(await this.#repo.unassignRole({ userId, projectId, roleId }))) {
      throw new NotFoundError(
        `Could not find role assignment with role: ${roleId}, user: ${userId}, project: ${projectId}.`,
      )
    }
    await this.#repo.revokeTokensOf(userId, projectId)
    this.#onAccessChange()
  }
}

function requireName(kind: string, name: unknown): void {
  if (typeof name !== 'string' || name.trim() === '' || name.length > 255) {
    throw new InvalidInputError(`A ${kind} needs a name of 1 to 255 characters.`)
  }
}

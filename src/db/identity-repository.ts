import type { Kysely } from 'kysely'
import { ConflictError } from '../domain/errors.js'
import type { Domain, Project, Role, RoleAssignment, TokenRecord, User } from '../identity/model.js'
import { isUniqueViolation } from './image-repository.js'
import type { Database } from './schema.js'

export interface AssignmentFilter {
  userId?: string
  projectId?: string
  roleId?: string
}

/** Users, projects, roles and tokens of the embedded identity service. */
export class IdentityRepository {
  readonly #db: Kysely<Database>

  constructor(db: Kysely<Database>) {
    this.#db = db
  }

  async createDomain(domain: Domain): Promise<void> {
    await this.#insert('domain', domain.name, () =>
      this.#db
        .insertInto('domains')
        .values({ ...domain, enabled: domain.enabled ? 1 : 0 })
        .execute(),
    )
  }

  async listDomains(filter: { name?: string } = {}): Promise<Domain[]> {
    let query = this.#db.selectFrom('domains').selectAll().orderBy('name')
    if (filter.name !== undefined) query = query.where('name', '=', filter.name)
    return (await query.execute()).map((row) => ({ ...row, enabled: row.enabled === 1 }))
  }

  async getDomain(id: string): Promise<Domain | null> {
    const row = await this.#db
      .selectFrom('domains')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst()
    return row === undefined ? null : { ...row, enabled: row.enabled === 1 }
  }

  async createProject(project: Project): Promise<void> {
    await this.#insert('project', project.name, () =>
      this.#db
        .insertInto('projects')
        .values({
          id: project.id,
          name: project.name,
          domain_id: project.domainId,
          description: project.description,
          enabled: project.enabled ? 1 : 0,
        })
        .execute(),
    )
  }

  async listProjects(filter: { name?: string; domainId?: string } = {}): Promise<Project[]> {
    let query = this.#db.selectFrom('projects').selectAll().orderBy('name')
    if (filter.name !== undefined) query = query.where('name', '=', filter.name)
    if (filter.domainId !== undefined) query = query.where('domain_id', '=', filter.domainId)
    return (await query.execute()).map(rowToProject)
  }

  async getProject(id: string): Promise<Project | null> {
    const row = await this.#db
      .selectFrom('projects')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst()
    return row === undefined ? null : rowToProject(row)
  }

  async deleteProject(id: string): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('role_assignments').where('project_id', '=', id).execute()
      await trx.updateTable('tokens').set({ revoked: 1 }).where('project_id', '=', id).execute()
      const result = await trx.deleteFrom('projects').where('id', '=', id).executeTakeFirst()
      return result.numDeletedRows > 0n
    })
  }

  async createUser(user: User): Promise<void> {
    await this.#insert('user', user.name, () =>
      this.#db
        .insertInto('users')
        .values({
          id: user.id,
          name: user.name,
          domain_id: user.domainId,
          password_hash: user.passwordHash,
          enabled: user.enabled ? 1 : 0,
          default_project_id: user.defaultProjectId,
          email: user.email,
          created_at: new Date().toISOString(),
        })
        .execute(),
    )
  }

  async updateUser(user: User): Promise<void> {
    await this.#db
      .updateTable('users')
      .set({
        name: user.name,
        password_hash: user.passwordHash,
        enabled: user.enabled ? 1 : 0,
        default_project_id: user.defaultProjectId,
        email: user.email,
      })
      .where('id', '=', user.id)
      .execute()
  }

  async listUsers(filter: { name?: string; domainId?: string } = {}): Promise<User[]> {
    let query = this.#db.selectFrom('users').selectAll().orderBy('name')
    if (filter.name !== undefined) query = query.where('name', '=', filter.name)
    if (filter.domainId !== undefined) query = query.where('domain_id', '=', filter.domainId)
    return (await query.execute()).map(rowToUser)
  }

  async getUser(id: string): Promise<User | null> {
    const row = await this.#db
      .selectFrom('users')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst()
    return row === undefined ? null : rowToUser(row)
  }

  async findUserByName(domainId: string, name: string): Promise<User | null> {
    const row = await this.#db
      .selectFrom('users')
      .selectAll()
      .where('domain_id', '=', domainId)
      .where('name', '=', name)
      .executeTakeFirst()
    return row === undefined ? null : rowToUser(row)
  }

  async deleteUser(id: string): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('role_assignments').where('user_id', '=', id).execute()
      await trx.updateTable('tokens').set({ revoked: 1 }).where('user_id', '=', id).execute()
      const result = await trx.deleteFrom('users').where('id', '=', id).executeTakeFirst()
      return result.numDeletedRows > 0n
    })
  }

  async createRole(role: Role): Promise<void> {
    await this.#insert('role', role.name, () => this.#db.insertInto('roles').values(role).execute())
  }

  async listRoles(filter: { name?: string } = {}): Promise<Role[]> {
    let query = this.#db.selectFrom('roles').selectAll().orderBy('name')
    if (filter.name !== undefined) query = query.where('name', '=', filter.name)
    return query.execute()
  }

  async getRole(id: string): Promise<Role | null> {
    const row = await this.#db
      .selectFrom('roles')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst()
    return row ?? null
  }

  async deleteRole(id: string): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('role_assignments').where('role_id', '=', id).execute()
      const result = await trx.deleteFrom('roles').where('id', '=', id).executeTakeFirst()
      return result.numDeletedRows > 0n
    })
  }

  /** Adds an assignment; adding one that exists changes nothing. */
  async assignRole(assignment: RoleAssignment): Promise<void> {
    await this.#db
      .insertInto('role_assignments')
      .values({
        user_id: assignment.userId,
        project_id: assignment.projectId,
        role_id: assignment.roleId,
      })
      .onConflict((oc) => oc.doNothing())
      .execute()
  }

  async unassignRole(assignment: RoleAssignment): Promise<boolean> {
    const result = await this.#db
      .deleteFrom('role_assignments')
      .where('user_id', '=', assignment.userId)
      .where('project_id', '=', assignment.projectId)
      .where('role_id', '=', assignment.roleId)
      .executeTakeFirst()
    return result.numDeletedRows > 0n
  }

  async listAssignments(filter: AssignmentFilter = {}): Promise<RoleAssignment[]> {
    let query = this.#db.selectFrom('role_assignments').selectAll()
    if (filter.userId !== undefined) query = query.where('user_id', '=', filter.userId)
    if (filter.projectId !== undefined) query = query.where('project_id', '=', filter.projectId)
    if (filter.roleId !== undefined) query = query.where('role_id', '=', filter.roleId)
    const rows = await query.orderBy('user_id').orderBy('project_id').orderBy('role_id').execute()
    return rows.map((row) => ({
      userId: row.user_id,
      projectId: row.project_id,
      roleId: row.role_id,
    }))
  }

  async saveToken(token: TokenRecord): Promise<void> {
    await this.#db
      .insertInto('tokens')
      .values({
        token_hash: token.tokenHash,
        user_id: token.userId,
        project_id: token.projectId,
        audit_id: token.auditId,
        issued_at: token.issuedAt.toISOString(),
        expires_at: token.expiresAt.toISOString(),
        revoked: token.revoked ? 1 : 0,
      })
      .execute()
  }

  async getToken(tokenHash: string): Promise<TokenRecord | null> {
    const row = await this.#db
      .selectFrom('tokens')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst()
    if (row === undefined) return null
    return {
      tokenHash: row.token_hash,
      userId: row.user_id,
      projectId: row.project_id,
      auditId: row.audit_id,
      issuedAt: new Date(row.issued_at),
      expiresAt: new Date(row.expires_at),
      revoked: row.revoked === 1,
    }
  }

  async revokeToken(tokenHash: string): Promise<boolean> {
    const result = await this.#db
      .updateTable('tokens')
      .set({ revoked: 1 })
      .where('token_hash', '=', tokenHash)
      .where('revoked', '=', 0)
      .executeTakeFirst()
    return result.numUpdatedRows > 0n
  }

  /** Revokes every token of a user, or only those scoped to one project. Returns how many. */
  async revokeTokensOf(userId: string, projectId?: string): Promise<number> {
    let query = this.#db
      .updateTable('tokens')
      .set({ revoked: 1 })
      .where('user_id', '=', userId)
      .where('revoked', '=', 0)
    if (projectId !== undefined) query = query.where('project_id', '=', projectId)
    const result = await query.executeTakeFirst()
    return Number(result.numUpdatedRows)
  }

  /** Deletes tokens that expired before `before`. Returns how many. */
  async deleteExpiredTokens(before: Date): Promise<number> {
    const result = await this.#db
      .deleteFrom('tokens')
      .where('expires_at', '<', before.toISOString())
      .executeTakeFirst()
    return Number(result.numDeletedRows)
  }

  async #insert(kind: string, name: string, insert: () => Promise<unknown>): Promise<void> {
    try {
      await insert()
    } catch (error) {
      if (isUniqueViolation(error)) {
        throw new ConflictError(`A ${kind} named ${name} already exists.`)
      }
      throw error
    }
  }
}

function rowToProject(row: {
  id: string
  name: string
  domain_id: string
  description: string
  enabled: number
}): Project {
  return {
    id: row.id,
    name: row.name,
    domainId: row.domain_id,
    description: row.description,
    enabled: row.enabled === 1,
  }
}

function rowToUser(row: {
  id: string
  name: string
  domain_id: string
  password_hash: string | null
  enabled: number
  default_project_id: string | null
  email: string | null
}): User {
  return {
    id: row.id,
    name: row.name,
    domainId: row.domain_id,
    passwordHash: row.password_hash,
    enabled: row.enabled === 1,
    defaultProjectId: row.default_project_id,
    email: row.email,
  }
}

export interface Domain {
  id: string
  name: string
  description: string
  enabled: boolean
}

export interface Project {
  id: string
  name: string
  domainId: string
  description: string
  enabled: boolean
}

export interface User {
  id: string
  name: string
  domainId: string
  passwordHash: string | null
  enabled: boolean
  defaultProjectId: string | null
  email: string | null
}

export interface Role {
  id: string
  name: string
}

export interface RoleAssignment {
  userId: string
  projectId: string
  roleId: string
}

export interface TokenRecord {
  tokenHash: string
  userId: string
  projectId: string
  auditId: string
  issuedAt: Date
  expiresAt: Date
  revoked: boolean
}

/** The id Keystone gives its built-in domain. */
export const defaultDomainId = 'default'

/**
 * Roles that a role implies, as in Keystone's default bootstrap: admin implies member, and
 * member implies reader. A token lists the assigned roles and everything they imply.
 */
export const impliedRoles: Record<string, string[]> = {
  admin: ['member', 'reader'],
  member: ['reader'],
}

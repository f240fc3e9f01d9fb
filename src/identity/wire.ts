import type { CatalogService } from './catalog.js'
import type { TokenView } from './identity-service.js'
import type { Domain, Project, Role, User } from './model.js'

/** Keystone prints token times with microseconds. */
export function keystoneTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z')
}

function link(baseUrl: string, path: string) {
  return { self: `${baseUrl}/v3/${path}` }
}

export function tokenToWire(view: TokenView, catalog: CatalogService[] | null) {
  const token: Record<string, unknown> = {
    methods: view.methods,
    user: {
      domain: { id: view.userDomain.id, name: view.userDomain.name },
      id: view.user.id,
      name: view.user.name,
      password_expires_at: null,
    },
    audit_ids: [view.auditId],
    expires_at: keystoneTime(view.expiresAt),
    issued_at: keystoneTime(view.issuedAt),
    project: {
      domain: { id: view.projectDomain.id, name: view.projectDomain.name },
      id: view.project.id,
      name: view.project.name,
    },
    is_domain: false,
    roles: view.roles.map((role) => ({ id: role.id, name: role.name })),
  }
  if (catalog !== null) token.catalog = catalog
  return { token }
}

export function domainToWire(domain: Domain, baseUrl: string) {
  return {
    id: domain.id,
    name: domain.name,
    description: domain.description,
    enabled: domain.enabled,
    tags: [],
    options: {},
    links: link(baseUrl, `domains/${domain.id}`),
  }
}

export function projectToWire(project: Project, baseUrl: string) {
  return {
    id: project.id,
    name: project.name,
    domain_id: project.domainId,
    description: project.description,
    enabled: project.enabled,
    parent_id: project.domainId,
    is_domain: false,
    tags: [],
    options: {},
    links: link(baseUrl, `projects/${project.id}`),
  }
}

export function userToWire(user: User, baseUrl: string) {
  const wire: Record<string, unknown> = {
    id: user.id,
    name: user.name,
    domain_id: user.domainId,
    enabled: user.enabled,
    password_expires_at: null,
    options: {},
    links: link(baseUrl, `users/${user.id}`),
  }
  if (user.defaultProjectId !== null) wire.default_project_id = user.defaultProjectId
  if (user.email !== null) wire.email = user.email
  return wire
}

export function roleToWire(role: Role, baseUrl: string) {
  return {
    id: role.id,
    name: role.name,
    domain_id: null,
    description: null,
    options: {},
    links: link(baseUrl, `roles/${role.id}`),
  }
}

export function listBody(key: string, items: unknown[], baseUrl: string, path: string) {
  return { [key]: items, links: { self: `${baseUrl}/v3/${path}`, previous: null, next: null } }
}

/** The v3 version document Keystone serves at `/v3`. */
export function versionToWire(baseUrl: string) {
  return {
    id: 'v3.14',
    status: 'stable',
    updated: '2020-04-07T00:00:00Z',
    links: [{ rel: 'self', href: `${baseUrl}/v3/` }],
    'media-types': [
      { base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' },
    ],
  }
}

import { ApiError, reportUnauthorized, requestsSettled, sendJson, send } from './http.js'

/** The logged-in user's token and what it grants; the token lives only in this object. */
export interface Session {
  token: string
  expiresAt: Date
  user: { id: string; name: string; domainName: string }
  project: { id: string; name: string; domainName: string }
  roles: string[]
  isAdmin: boolean
  /** Whether the roles allow changes: the API rejects writes by a user with `reader` alone. */
  canWrite: boolean
  /** The public identity endpoint from the catalog, for RC files. */
  identityUrl: string | null
  /** The region of the public image endpoint. */
  regionName: string | null
}

export interface Credentials {
  domain: string
  username: string
  password: string
  /** A project name in `domain`; empty for the user's default project. */
  project: string
}

export interface ProjectSummary {
  id: string
  name: string
}

/**
 * The same-origin path that the image API forwards to its identity API. The identity API
 * listens on another port, which a browser treats as another origin.
 */
const identityBase = '/ui/identity/v3'

interface TokenBody {
  token: {
    expires_at: string
    user: { id: string; name: string; domain: { name: string } }
    project: { id: string; name: string; domain: { name: string } }
    roles: { name: string }[]
    catalog?: {
      type: string
      endpoints: { interface: string; region: string; url: string }[]
    }[]
  }
}

/** Logs in with a password and returns the session of a project-scoped token. */
export async function logIn(credentials: Credentials): Promise<Session> {
  const scope =
    credentials.project === ''
      ? {}
      : { scope: { project: { name: credentials.project, domain: { name: credentials.domain } } } }
  const body = {
    auth: {
      identity: {
        methods: ['password'],
        password: {
          user: {
            name: credentials.username,
            domain: { name: credentials.domain },
            password: credentials.password,
          },
        },
      },
      ...scope,
    },
  }
  return requestToken(body)
}

/**
 * Gets a token scoped to another of the user's projects. The session's token stays valid:
 * the caller retires it with {@link retireToken} once the page has moved to the new session.
 */
export async function switchProject(session: Session, projectId: string): Promise<Session> {
  const body = {
    auth: {
      identity: { methods: ['token'], token: { id: session.token } },
      scope: { project: { id: projectId } },
    },
  }
  try {
    return await requestToken(body)
  } catch (error) {
    // A 401 means the session's own token is invalid, which ends the session as elsewhere.
    if (error instanceof ApiError) reportUnauthorized(error.status, session.token)
    throw error
  }
}

/**
 * Revokes a token that the UI no longer uses, after the requests that still carry it have
 * finished. A page that unmounts may still need it, for example to delete the record of the
 * upload that leaving the page cancelled.
 */
export async function retireToken(token: string): Promise<void> {
  await requestsSettled(token)
  await revokeToken(token)
}

/** Lists the projects on which the user has a role. */
export async function listProjects(session: Session): Promise<ProjectSummary[]> {
  const body = await sendJson<{ projects: ProjectSummary[] }>(
    'GET',
    `${identityBase}/auth/projects`,
    {
      token: session.token,
    },
  )
  return (body?.projects ?? []).sort((a, b) => a.name.localeCompare(b.name))
}

async function revokeToken(token: string): Promise<void> {
  await send('DELETE', `${identityBase}/auth/tokens`, {
    token,
    headers: { 'x-subject-token': token },
  })
}

async function requestToken(body: unknown): Promise<Session> {
  const response = await send('POST', `${identityBase}/auth/tokens`, { body })
  const token = response.headers.get('x-subject-token')
  if (token === null) throw new Error('The identity service returned no token.')
  return sessionOf(token, (await response.json()) as TokenBody)
}

function sessionOf(token: string, body: TokenBody): Session {
  const { user, project, roles, catalog = [] } = body.token
  const publicEndpoint = (type: string) =>
    catalog
      .find((service) => service.type === type)
      ?.endpoints.find((endpoint) => endpoint.interface === 'public')
  const names = roles.map((role) => role.name)
  return {
    token,
    expiresAt: new Date(body.token.expires_at),
    user: { id: user.id, name: user.name, domainName: user.domain.name },
    project: { id: project.id, name: project.name, domainName: project.domain.name },
    roles: names,
    isAdmin: names.includes('admin'),
    canWrite: names.includes('admin') || names.includes('member'),
    identityUrl: publicEndpoint('identity')?.url ?? null,
    regionName: publicEndpoint('image')?.region ?? null,
  }
}

import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { call, issueToken } from '../helpers/client.js'
import { createTenant, startServer, type RunningServer, type Tenant } from '../helpers/server.js'

let server: RunningServer
let adminToken: string
let tenant: Tenant
/** Every secret the tests send or receive, checked against the log at the end. */
const secrets = new Set<string>()

before(async () => {
  server = await startServer()
  adminToken = await issueToken(server)
  tenant = await createTenant(server, 'identity-member')
  secrets.add(server.env.OS_PASSWORD!)
  secrets.add(adminToken)
  secrets.add(tenant.password)
})

after(async () => {
  await server?.stop()
})

function identity(method: string, path: string, options: Parameters<typeof call>[4] = {}) {
  return call(server, server.identityUrl, method, path, options)
}

function passwordAuth(user: Record<string, unknown>, password: string, scope?: unknown) {
  return {
    auth: {
      identity: { methods: ['password'], password: { user: { ...user, password } } },
      ...(scope === undefined ? {} : { scope }),
    },
  }
}

/** Issues a token, records it as a secret and returns the response. */
async function authenticate(body: unknown) {
  const response = await identity('POST', '/v3/auth/tokens', { body })
  const token = response.headers['x-subject-token']
  if (typeof token === 'string') secrets.add(token)
  return response
}

const adminAuth = () =>
  passwordAuth({ name: 'admin', domain: { name: 'Default' } }, server.env.OS_PASSWORD!, {
    project: { name: 'admin', domain: { name: 'Default' } },
  })

describe('token issue', () => {
  it('returns 201 with X-Subject-Token and a catalog', async () => {
    const response = await authenticate(adminAuth())

    assert.equal(response.status, 201, response.text())
    assert.match(String(response.headers['x-subject-token']), /^\S{20,}$/)
    const token = response.json().token
    assert.deepEqual(token.methods, ['password'])
    assert.equal(token.user.name, 'admin')
    assert.equal(token.project.name, 'admin')
    assert.ok(Date.parse(token.expires_at) > Date.parse(token.issued_at))

    const image = token.catalog.find((service: { type: string }) => service.type === 'image')
    assert.ok(image, 'the catalog has no image service')
    const endpoints = image.endpoints as { interface: string; region: string; url: string }[]
    assert.deepEqual(endpoints.map((endpoint) => endpoint.interface).sort(), [
      'admin',
      'internal',
      'public',
    ])
    for (const endpoint of endpoints) {
      assert.equal(endpoint.region, 'RegionOne')
      assert.equal(endpoint.url, server.imageUrl)
    }
  })

  it('gives the admin the admin, member and reader roles', async () => {
    const token = (await authenticate(adminAuth())).json().token
    const roles = token.roles.map((role: { name: string }) => role.name).sort()
    assert.deepEqual(roles, ['admin', 'member', 'reader'])
  })

  it('scopes a token by project id', async () => {
    const projectId = (await authenticate(adminAuth())).json().token.project.id
    const response = await authenticate(
      passwordAuth({ name: 'admin', domain: { id: 'default' } }, server.env.OS_PASSWORD!, {
        project: { id: projectId },
      }),
    )
    assert.equal(response.status, 201, response.text())
    assert.equal(response.json().token.project.id, projectId)
  })

  it('returns 401 for a wrong password', async () => {
    const response = await authenticate(
      passwordAuth({ name: 'admin', domain: { name: 'Default' } }, 'wrong-password', {
        project: { name: 'admin', domain: { name: 'Default' } },
      }),
    )
    assert.equal(response.status, 401)
    assert.equal(response.headers['x-subject-token'], undefined)
  })
})

describe('token validation and revocation', () => {
  it('validates a token with GET and HEAD', async () => {
    const subject = String((await authenticate(adminAuth())).headers['x-subject-token'])
    const headers = { 'x-subject-token': subject }

    const validated = await identity('GET', '/v3/auth/tokens', { token: adminToken, headers })
    assert.equal(validated.status, 200, validated.text())
    assert.equal(validated.headers['x-subject-token'], subject)
    assert.equal(validated.json().token.user.name, 'admin')

    const head = await identity('HEAD', '/v3/auth/tokens', { token: adminToken, headers })
    assert.equal(head.status, 200)
    assert.equal(head.body.length, 0)
  })

  it('revokes a token with DELETE so the image API rejects it', async () => {
    const subject = String((await authenticate(adminAuth())).headers['x-subject-token'])
    const beforeRevoke = await call(server, server.imageUrl, 'GET', '/v2/images', {
      token: subject,
    })
    assert.equal(beforeRevoke.status, 200)

    const headers = { 'x-subject-token': subject }
    const revoked = await identity('DELETE', '/v3/auth/tokens', { token: adminToken, headers })
    assert.equal(revoked.status, 204)

    const afterRevoke = await call(server, server.imageUrl, 'GET', '/v2/images', {
      token: subject,
    })
    assert.equal(afterRevoke.status, 401)
    const validated = await identity('GET', '/v3/auth/tokens', { token: adminToken, headers })
    assert.equal(validated.status, 404)
  })
})

describe('identity administration', () => {
  it('creates a project and a user who can then get a token', async () => {
    const project = await identity('POST', '/v3/projects', {
      token: adminToken,
      body: { project: { name: 'made-by-api', domain_id: 'default' } },
    })
    assert.equal(project.status, 201, project.text())
    const projectId: string = project.json().project.id

    const password = 'made-by-api-password-8213'
    secrets.add(password)
    const user = await identity('POST', '/v3/users', {
      token: adminToken,
      body: { user: { name: 'made-by-api', password, default_project_id: projectId } },
    })
    assert.equal(user.status, 201, user.text())
    const created = user.json().user
    assert.equal(created.default_project_id, projectId)
    assert.equal('password' in created, false)
    assert.equal(user.text().includes(password), false)

    const roles = await identity('GET', '/v3/roles?name=member', { token: adminToken })
    assert.equal(roles.status, 200)
    const roleId: string = roles.json().roles[0].id
    const assign = await identity(
      'PUT',
      `/v3/projects/${projectId}/users/${created.id}/roles/${roleId}`,
      { token: adminToken },
    )
    assert.equal(assign.status, 204, assign.text())

    const assignments = await identity('GET', `/v3/role_assignments?user.id=${created.id}`, {
      token: adminToken,
    })
    assert.equal(assignments.status, 200)
    assert.deepEqual(
      assignments
        .json()
        .role_assignments.map((a: { role: { id: string }; scope: { project: { id: string } } }) => [
          a.role.id,
          a.scope.project.id,
        ]),
      [[roleId, projectId]],
    )

    const token = await authenticate(
      passwordAuth({ name: 'made-by-api', domain: { id: 'default' } }, password, {
        project: { id: projectId },
      }),
    )
    assert.equal(token.status, 201, token.text())
    const names = token.json().token.roles.map((role: { name: string }) => role.name)
    assert.deepEqual(names.sort(), ['member', 'reader'])
  })

  it('returns 403 when a member creates a project', async () => {
    const memberToken = await issueToken(server, tenant)
    secrets.add(memberToken)
    const response = await identity('POST', '/v3/projects', {
      token: memberToken,
      body: { project: { name: 'not-allowed', domain_id: 'default' } },
    })
    assert.equal(response.status, 403)

    const listed = await identity('GET', '/v3/projects?name=not-allowed', { token: adminToken })
    assert.deepEqual(listed.json().projects, [])
  })
})

describe('log file', () => {
  it('contains no password and no token', async () => {
    // Stopping the server flushes the log file, so `after` only removes the data directory.
    assert.equal(await server.kill(), 0)
    const logFile = await readFile(join(server.dataDir, 'logs', 'image-library.log'), 'utf8')
    assert.match(logFile, /token issued/, 'the log file should record the test actions')

    for (const secret of secrets) {
      assert.equal(logFile.includes(secret), false, `log file contains ${secret.slice(0, 6)}…`)
      assert.equal(
        server.stderr().includes(secret),
        false,
        `stderr contains ${secret.slice(0, 6)}…`,
      )
    }
  })
})

import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { imageClient, issueToken } from '../helpers/client.js'
import {
  admin,
  createTenant,
  parseRcFile,
  startServer,
  type RunningServer,
} from '../helpers/server.js'

let server: RunningServer

before(async () => {
  // No token cache, so that a revocation made by another process shows at once.
  server = await startServer({ configToml: '[identity]\ntoken_cache = 0\n' })
})

after(async () => {
  await server?.stop()
})

describe('token revocation', () => {
  it('ends a session when its last role is removed', async () => {
    const tenant = await createTenant(server, 'roleless')
    const token = await issueToken(server, tenant)
    const api = imageClient(server, token)
    assert.equal((await api('GET', '/v2/images')).status, 200)

    await admin(server, [
      'role',
      'remove',
      '--project',
      tenant.project,
      '--user',
      tenant.username,
      'member',
    ])
    assert.equal((await api('GET', '/v2/images')).status, 401)
    await assert.rejects(issueToken(server, tenant), /401/)
  })

  it('ends every session when the password changes', async () => {
    const tenant = await createTenant(server, 'rekeyed')
    const token = await issueToken(server, tenant)
    await admin(server, ['user', 'set-password', tenant.username, '--password', 'n3w-secret'])

    assert.equal((await imageClient(server, token)('GET', '/v2/images')).status, 401)
    const fresh = await issueToken(server, { ...tenant, password: 'n3w-secret' })
    assert.equal((await imageClient(server, fresh)('GET', '/v2/images')).status, 200)
  })

  it('keeps admin-openrc.sh working after the admin password changes', async () => {
    const output = await admin(server, ['user', 'set-password', 'admin', '--password', "it's-new"])
    assert.match(output, /Updated OS_PASSWORD/)

    const rc = parseRcFile(await readFile(join(server.dataDir, 'admin-openrc.sh'), 'utf8'))
    assert.equal(rc.OS_PASSWORD, "it's-new")
    const token = await issueToken(server, {
      username: 'admin',
      password: rc.OS_PASSWORD!,
      project: 'admin',
    })
    assert.equal((await imageClient(server, token)('GET', '/v2/images')).status, 200)
  })
})

describe('text that cannot be stored as sent', () => {
  it('rejects NUL, lone surrogates and oversized counts', async () => {
    const api = imageClient(
      server,
      await issueToken(server, {
        username: 'admin',
        password: parseRcFile(await readFile(join(server.dataDir, 'admin-openrc.sh'), 'utf8'))
          .OS_PASSWORD!,
        project: 'admin',
      }),
    )
    const cases: Record<string, unknown>[] = [
      { name: 'nul\u0000name' },
      { name: 'lone \ud800 surrogate' },
      { os_distro: 'bad \udfff value' },
      { min_disk: 2 ** 31 },
      { min_ram: -1 },
    ]
    for (const body of cases) {
      const response = await api('POST', '/v2/images', { body })
      assert.equal(response.status, 400, JSON.stringify(body))
    }
  })
})

import assert from 'node:assert/strict'
import { rename } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { call } from '../helpers/client.js'
import { startServer, type RunningServer } from '../helpers/server.js'

let server: RunningServer

before(async () => {
  server = await startServer()
})

after(async () => {
  await server?.stop()
})

function healthcheck() {
  return call(server, server.imageUrl, 'GET', '/healthcheck')
}

describe('health check', () => {
  it('returns 200 without a token', async () => {
    const response = await healthcheck()

    assert.equal(response.status, 200, response.text())
    assert.match(String(response.headers['content-type']), /^application\/json/)
    const body = response.json()
    assert.equal(body.status, 'ok')
    assert.equal(body.checks.database.ok, true)
    assert.equal(body.checks.store.ok, true)
  })

  it('returns 503 naming the missing store', async () => {
    const images = join(server.dataDir, 'images')
    const moved = join(server.dataDir, 'images.moved')
    await rename(images, moved)
    try {
      const response = await healthcheck()

      assert.equal(response.status, 503, response.text())
      const body = response.json()
      assert.equal(body.status, 'failed')
      assert.equal(body.checks.store.ok, false)
      assert.equal(typeof body.checks.store.error, 'string')
      assert.equal(body.checks.database.ok, true)
    } finally {
      await rename(moved, images)
    }

    const restored = await healthcheck()
    assert.equal(restored.status, 200, restored.text())
    assert.equal(restored.json().status, 'ok')
  })
})

describe('server start', () => {
  it('prints no deprecation warnings', () => {
    // Node prints process warnings, such as Fastify's FSTDEP codes, as plain text on stderr,
    // among the JSON log lines that operators read.
    assert.doesNotMatch(server.stderr(), /DeprecationWarning|FastifyWarning|FSTDEP\d+/)
  })
})

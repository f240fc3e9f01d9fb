import assert from 'node:assert/strict'
import { request as httpsRequest } from 'node:https'
import { after, before, describe, it } from 'node:test'
import { call, imageClient, issueToken, type Response } from '../helpers/client.js'
import { startServer, type RunningServer } from '../helpers/server.js'
import { type ImageClient } from './fixtures.js'

const generatedRequestId = /^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const missingId = '00000000-0000-4000-8000-000000000000'

let server: RunningServer
let api: ImageClient

before(async () => {
  server = await startServer()
  api = imageClient(server, await issueToken(server))
})

after(async () => {
  await server?.stop()
})

/** Sends a GET with exactly the given headers, because `call` always adds an Accept header. */
function getWithHeaders(path: string, headers: Record<string, string>): Promise<Response> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      new URL(path, server.imageUrl),
      { method: 'GET', headers, ca: server.ca },
      (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('error', reject)
        response.on('end', () => {
          const body = Buffer.concat(chunks)
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body,
            json: () => JSON.parse(body.toString()),
            text: () => body.toString(),
          })
        })
      },
    )
    request.on('error', reject)
    request.end()
  })
}

describe('request id', () => {
  it('is on every response', async () => {
    const responses = {
      'GET /v2/images': await api('GET', '/v2/images'),
      'POST /v2/images': await api('POST', '/v2/images', { body: { name: 'request-id' } }),
      'GET missing image': await api('GET', `/v2/images/${missingId}`),
      'PATCH with a bad type': await api('PATCH', `/v2/images/${missingId}`, { body: [] }),
      'GET without token': await call(server, server.imageUrl, 'GET', '/v2/images'),
      'GET /versions': await call(server, server.imageUrl, 'GET', '/versions'),
      'GET /healthcheck': await call(server, server.imageUrl, 'GET', '/healthcheck'),
      'GET unknown path': await api('GET', '/v2/nothing-here'),
    }
    for (const [name, response] of Object.entries(responses)) {
      assert.match(
        String(response.headers['x-openstack-request-id']),
        generatedRequestId,
        `${name} (${response.status}) has no request id`,
      )
    }
  })

  it('echoes a safe inbound request id', async () => {
    const inbound = 'req-client-trace.42:abc'
    const response = await api('GET', '/v2/images', {
      headers: { 'x-openstack-request-id': inbound },
    })
    assert.equal(response.headers['x-openstack-request-id'], inbound)
  })

  it('replaces an unsafe inbound request id', async () => {
    for (const inbound of ['req id with spaces', 'x'.repeat(300), 'req-<script>']) {
      const response = await api('GET', '/v2/images', {
        headers: { 'x-openstack-request-id': inbound },
      })
      assert.match(String(response.headers['x-openstack-request-id']), generatedRequestId)
    }
  })

  it('differs between requests', async () => {
    const first = await api('GET', '/v2/images')
    const second = await api('GET', '/v2/images')
    assert.notEqual(
      first.headers['x-openstack-request-id'],
      second.headers['x-openstack-request-id'],
    )
  })
})

describe('error body', () => {
  it("is Glance's JSON for Accept: application/json", async () => {
    const response = await api('GET', `/v2/images/${missingId}`)

    assert.equal(response.status, 404)
    assert.match(String(response.headers['content-type']), /^application\/json/)
    const body = response.json()
    assert.deepEqual(Object.keys(body).sort(), ['code', 'message', 'title'])
    assert.equal(body.code, '404 Not Found')
    assert.equal(body.title, 'Not Found')
    assert.match(body.message, new RegExp(missingId))
  })

  it('is plain text without an Accept header', async () => {
    const token = await issueToken(server)
    const response = await getWithHeaders(`/v2/images/${missingId}`, { 'x-auth-token': token })

    assert.equal(response.status, 404)
    assert.match(String(response.headers['content-type']), /^text\/plain/)
    assert.match(response.text(), /^404 Not Found/)
    assert.match(response.text(), new RegExp(missingId))
  })

  it('is plain text for Accept: */*', async () => {
    const token = await issueToken(server)
    const response = await getWithHeaders(`/v2/images/${missingId}`, {
      'x-auth-token': token,
      accept: '*/*',
    })
    assert.equal(response.status, 404)
    assert.match(String(response.headers['content-type']), /^text\/plain/)
  })
})

describe('authentication', () => {
  it('returns 401 without a token', async () => {
    const response = await call(server, server.imageUrl, 'POST', '/v2/images', {
      body: { name: 'unauthenticated' },
    })
    assert.equal(response.status, 401)
    assert.ok(response.headers['www-authenticate'], 'a 401 names the identity service')

    const listed = await api('GET', '/v2/images?name=unauthenticated')
    assert.deepEqual(listed.json().images, [])
  })

  it('returns 401 for an unknown token', async () => {
    const response = await call(server, server.imageUrl, 'GET', '/v2/images', {
      token: 'not-a-token',
    })
    assert.equal(response.status, 401)
  })

  it('serves the versions document without a token', async () => {
    const response = await call(server, server.imageUrl, 'GET', '/versions')
    assert.equal(response.status, 200)
    assert.ok(Array.isArray(response.json().versions))
  })
})

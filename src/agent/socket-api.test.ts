import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { Agent, request, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import pino from 'pino'
import { ImageAgent } from './image-agent.js'
import type { LibraryClient } from './library-client.js'
import { listenOnSocket } from './socket-api.js'

const log = pino({ level: 'silent' })
let root: string
let agent: ImageAgent
let server: Server
let socket: string

interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

function send(
  method: string,
  path: string,
  body?: string,
  connection: Agent = new Agent(),
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const call = request({ socketPath: socket, method, path, agent: connection }, (response) => {
      let text = ''
      response.on('data', (chunk: Buffer) => (text += chunk.toString()))
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text }),
      )
    })
    call.once('error', reject)
    call.end(body)
  })
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'image-library-socket-api-'))
  const library = { close() {} } as unknown as LibraryClient
  const config = {
    cacheDir: join(root, 'cache'),
    limit: { bytes: 1000 },
    precacheRate: Infinity,
    verifyIntervalMs: 1000,
    holdMs: 0,
    maxAttempts: 1,
    retryDelayMs: 1,
    diskFormat: 'qcow2' as const,
  }
  agent = await ImageAgent.open(config, library, log)
  socket = join(root, 'agent.sock')
  server = await listenOnSocket(agent, socket, log)
})

after(async () => {
  await new Promise((resolve) => server.close(resolve))
  await agent.close()
  await rm(root, { recursive: true, force: true })
})

describe('socket API routing', () => {
  it('answers an unknown path with 404', async () => {
    const reply = await send('GET', '/v1/nothing')
    assert.equal(reply.status, 404)
    assert.equal(JSON.parse(reply.body).error.code, 'CALL_NOT_FOUND')
    assert.match(JSON.parse(reply.body).error.message, /no call \/v1\/nothing/)
  })

  it('answers a wrong method with 405 and Allow', async () => {
    const reply = await send('PUT', '/v1/disks', '{}')
    assert.equal(reply.status, 405)
    assert.equal(reply.headers['allow'], 'POST, GET, DELETE')
    assert.equal(JSON.parse(reply.body).error.code, 'METHOD_NOT_ALLOWED')
  })

  it('allows only GET on /metrics', async () => {
    const reply = await send('POST', '/metrics')
    assert.equal(reply.status, 405)
    assert.equal(reply.headers['allow'], 'GET')
  })

  it('closes a connection after a too large body', async () => {
    const connection = new Agent({ keepAlive: true, maxSockets: 1 })
    const tooLarge = await send('POST', '/v1/fetch', 'x'.repeat(1024 * 1024), connection)
    assert.equal(tooLarge.status, 400)
    assert.equal(tooLarge.headers['connection'], 'close')

    const next = await send('GET', '/v1/status', undefined, connection)
    assert.equal(next.status, 200)
    connection.destroy()
  })
})

import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { issueToken } from '../helpers/client.js'
import { admin, startServer, type RunningServer } from '../helpers/server.js'
import { createActiveImage } from '../api/fixtures.js'

describe('replication status on one host with a shared store', () => {
  let server: RunningServer

  before(async () => {
    server = await startServer()
  })
  after(async () => {
    await server?.stop()
  })

  it('reports shared stores as not counted', async () => {
    const token = await issueToken(server)
    await createActiveImage(server, token, randomBytes(4096))

    const output = await admin(server, ['replication', 'status'])

    assert.match(output, /Every image in a local store has copies on 2 healthy hosts or more\./)
    assert.match(output, /Images in shared stores are not counted\./)
  })
})

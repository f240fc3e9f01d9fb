import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { PassThrough } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { imageClient, issueToken } from '../helpers/client.js'
import { startServer, type RunningServer } from '../helpers/server.js'
import { createImage, getImage, sleep } from './fixtures.js'

describe('second start on a running data directory', () => {
  let server: RunningServer

  before(async () => {
    server = await startServer()
  })
  after(async () => {
    await server?.stop()
  })

  it('exits before touching a running upload', async () => {
    const client = imageClient(server, await issueToken(server))
    const image = await createImage(client, { disk_format: 'raw', container_format: 'bare' })
    const body = new PassThrough()
    const upload = client('PUT', `/v2/images/${image.id}/file`, {
      body,
      headers: { 'content-type': 'application/octet-stream' },
    })
    body.write(randomBytes(64 * 1024))
    for (let attempt = 0; attempt < 50; attempt++) {
      if ((await getImage(client, image.id)).status === 'saving') break
      await sleep(100)
    }
    assert.equal((await getImage(client, image.id)).status, 'saving')

    await assert.rejects(
      startServer({ dataDir: server.dataDir }),
      /another running host already uses the host name/,
    )

    assert.equal((await getImage(client, image.id)).status, 'saving')
    body.end(randomBytes(64 * 1024))
    const response = await upload
    assert.equal(response.status, 204, response.text())
    assert.equal((await getImage(client, image.id)).status, 'active')
  })

  it('names the port already in use', async () => {
    const port = new URL(server.imageUrl).port
    await assert.rejects(
      startServer({ extraArgs: ['--port', port] }),
      new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the address is already in use`),
    )
  })
})

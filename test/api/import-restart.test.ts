import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createServer, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { imageClient, issueToken } from '../helpers/client.js'
import { startServer, type RunningServer } from '../helpers/server.js'
import { createImage, hexDigest, mib, sleep, waitForImage } from './fixtures.js'

const payload = randomBytes(4 * mib)
let origin: Server
let server: RunningServer
/** The first response, held open after 1 MiB so that the import is mid-transfer. */
let stalled: ServerResponse | null = null
let requestCount = 0

/** Serves `payload`; the first request gets 1 MiB and then nothing more. */
function serveSlowly(): Promise<Server> {
  const http = createServer((_request, response) => {
    requestCount++
    response.writeHead(200, { 'content-length': payload.length })
    if (requestCount === 1) {
      stalled = response
      response.write(payload.subarray(0, mib))
    } else {
      response.end(payload)
    }
  })
  return new Promise((resolve) => http.listen(0, '127.0.0.1', () => resolve(http)))
}

before(async () => {
  origin = await serveSlowly()
  const port = (origin.address() as AddressInfo).port
  server = await startServer({
    configToml: `[import]\nweb_download_allowed_hosts = ["127.0.0.1:${port}"]\n`,
  })
})

after(async () => {
  stalled?.destroy()
  await server?.stop()
  origin?.close()
})

describe('an import interrupted by SIGKILL', () => {
  it('resumes after the restart and finishes', async () => {
    const api = imageClient(server, await issueToken(server))
    const image = await createImage(api, { disk_format: 'raw', container_format: 'bare' })
    const uri = `http://127.0.0.1:${(origin.address() as AddressInfo).port}/disk.raw`
    const started = await api('POST', `/v2/images/${image.id}/import`, {
      body: { method: { name: 'web-download', uri } },
    })
    assert.equal(started.status, 202, started.text())
    const importing = await waitForImage(api, image.id, (current) => current.status === 'importing')
    while (stalled === null) await sleep(20)
    // The import lock keeps a copy-image out while this import runs.
    const task = (await api('GET', `/v2/images/${image.id}/tasks`)).json().tasks[0]
    assert.equal(importing.os_glance_import_task, task.id)
    const copy = await api('POST', `/v2/images/${image.id}/import`, {
      body: { method: { name: 'copy-image' }, all_stores: true },
    })
    assert.equal(copy.status, 409, copy.text())

    process.kill(server.pid, 'SIGKILL')
    await server.kill()
    stalled.destroy()
    server = await startServer({ dataDir: server.dataDir })

    const newApi = imageClient(server, await issueToken(server))
    const done = await waitForImage(newApi, image.id, (current) => current.status === 'active')
    assert.equal(done.size, payload.length)
    assert.equal(done.os_hash_value, hexDigest('sha512', payload))
    assert.equal(done.os_glance_importing_to_stores, '')
    assert.equal(done.os_glance_import_task, undefined)
    assert.equal(requestCount, 2)
    const tasks = (await newApi('GET', `/v2/images/${image.id}/tasks`)).json().tasks
    assert.deepEqual(
      tasks.map((task: { status: string }) => task.status),
      ['success'],
    )
    assert.match(server.stderr(), /resuming an import after a restart/)
  })
})

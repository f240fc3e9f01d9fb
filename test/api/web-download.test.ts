import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { imageClient, issueToken } from '../helpers/client.js'
import { startServer, type RunningServer } from '../helpers/server.js'
import {
  createImage,
  createQcow2,
  getImage,
  hexDigest,
  makeWorkDir,
  waitForImage,
  type ImageClient,
  type WireImage,
} from './fixtures.js'

const payload = randomBytes(300_000)
let qcow2: Buffer
let workDir: string
let origin: Server
let base: string
let server: RunningServer
let api: ImageClient
const requests: string[] = []

/** The web server the imports fetch from, on loopback. */
function serveFiles(): Promise<Server> {
  const http = createServer((request, response) => {
    requests.push(request.url ?? '')
    if (request.url === '/image.raw') {
      response.writeHead(200, { 'content-length': payload.length })
      response.end(payload)
    } else if (request.url === '/disk.qcow2') {
      response.end(qcow2)
    } else if (request.url === '/moved') {
      response.writeHead(302, { location: '/image.raw' })
      response.end()
    } else if (request.url === '/away') {
      response.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' })
      response.end()
    } else {
      response.writeHead(404)
      response.end()
    }
  })
  return new Promise((resolve) => http.listen(0, '127.0.0.1', () => resolve(http)))
}

before(async () => {
  workDir = await makeWorkDir()
  qcow2 = (await createQcow2(workDir, 'web.qcow2', '16M')).data
  origin = await serveFiles()
  const port = (origin.address() as AddressInfo).port
  base = `http://127.0.0.1:${port}`
  server = await startServer({
    configToml: `[import]\nweb_download_allowed_hosts = ["127.0.0.1:${port}"]\n`,
  })
  api = imageClient(server, await issueToken(server))
})

after(async () => {
  await server?.stop()
  origin?.close()
  await rm(workDir, { recursive: true, force: true })
})

async function webDownload(uri: string, diskFormat = 'raw') {
  const image = await createImage(api, { disk_format: diskFormat, container_format: 'bare' })
  const started = await api('POST', `/v2/images/${image.id}/import`, {
    body: { method: { name: 'web-download', uri } },
  })
  return { image, started }
}

async function finished(id: string): Promise<WireImage> {
  return waitForImage(api, id, (image) => image.os_glance_importing_to_stores === '')
}

async function lastTask(id: string) {
  return (await api('GET', `/v2/images/${id}/tasks`)).json().tasks.at(-1)
}

describe('web-download import', () => {
  it('fetches the URL into an active image', async () => {
    const { image, started } = await webDownload(`${base}/image.raw`)
    assert.equal(started.status, 202, started.text())
    const done = await finished(image.id)
    assert.equal(done.status, 'active')
    assert.equal(done.size, payload.length)
    assert.equal(done.os_hash_value, hexDigest('sha512', payload))
    assert.equal(done.os_glance_failed_import, '')
    assert.equal((await lastTask(image.id)).status, 'success')
  })

  it('follows a redirect to an allowed place', async () => {
    const { image } = await webDownload(`${base}/moved`)
    assert.equal((await finished(image.id)).status, 'active')
  })

  it('inspects what it fetched', async () => {
    const { image } = await webDownload(`${base}/disk.qcow2`, 'qcow2')
    const done = await finished(image.id)
    assert.equal(done.status, 'active')
    assert.equal(done.virtual_size, 16 * 1024 * 1024)

    const mismatch = await webDownload(`${base}/disk.qcow2`, 'raw')
    const refused = await finished(mismatch.image.id)
    assert.equal(refused.status, 'queued')
    assert.equal(refused.os_glance_failed_import, 'file')
    assert.match((await lastTask(mismatch.image.id)).message, /qcow2/)
  })

  it('fails a host off the allow-list without contacting it', async () => {
    const { image, started } = await webDownload('http://does-not.exist/no/possible/way')
    assert.equal(started.status, 202, started.text())
    const done = await finished(image.id)
    assert.equal(done.status, 'queued')
    assert.equal(done.os_glance_failed_import, 'file')
    const task = await lastTask(image.id)
    assert.equal(task.status, 'failure')
    assert.match(task.message, /does-not\.exist is not in the web-download allow-list/)
  })

  it('fails a redirect to the metadata address', async () => {
    const { image } = await webDownload(`${base}/away`)
    const done = await finished(image.id)
    assert.equal(done.status, 'queued')
    assert.match((await lastTask(image.id)).message, /169\.254\.169\.254/)
  })

  it('reports a missing file with its status', async () => {
    const { image } = await webDownload(`${base}/missing?token=secret`)
    const done = await finished(image.id)
    assert.equal(done.status, 'queued')
    const message = (await lastTask(image.id)).message
    assert.match(message, /404/)
    assert.doesNotMatch(message, /secret/)
  })

  it('refuses a malformed URL, another scheme and credentials at once', async () => {
    for (const uri of ['not a url', 'ftp://127.0.0.1/x', 'http://user:pw@127.0.0.1/x', '']) {
      const { image, started } = await webDownload(uri)
      assert.equal(started.status, 400, `${uri}: ${started.text()}`)
      assert.equal((await getImage(api, image.id)).status, 'queued')
    }
  })

  it('needs a queued image', async () => {
    const { image } = await webDownload(`${base}/image.raw`)
    await finished(image.id)
    const again = await api('POST', `/v2/images/${image.id}/import`, {
      body: { method: { name: 'web-download', uri: `${base}/image.raw` } },
    })
    assert.equal(again.status, 409, again.text())
  })
})

import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { createServer, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { imageClient, issueToken } from '../helpers/client.js'
import { serverDatabases, stopTestDatabases } from '../helpers/databases.js'
import { startServer, type RunningServer } from '../helpers/server.js'
import {
  createImage,
  getImage,
  hexDigest,
  mib,
  sleep,
  startPartialUpload,
  uploadData,
  waitForImage,
} from '../api/fixtures.js'

after(stopTestDatabases)

for (const database of serverDatabases) {
  describe(`host takeover on ${database.name}`, { skip: database.skip }, () => {
    let databaseUrl: string
    let shared: string
    let origin: Server
    let stalled: ServerResponse | null = null
    let originRequests = 0
    const payload = randomBytes(3 * mib)
    let hostA: RunningServer
    let hostB: RunningServer

    /** Serves `payload`, except that the first response stops after 1 MiB and hangs. */
    function serveSlowly(): Promise<Server> {
      const http = createServer((_request, response) => {
        originRequests++
        response.writeHead(200, { 'content-length': payload.length })
        if (originRequests === 1) {
          stalled = response
          response.write(payload.subarray(0, mib))
        } else {
          response.end(payload)
        }
      })
      return new Promise((resolve) => http.listen(0, '127.0.0.1', () => resolve(http)))
    }

    function hostConfig(name: string): string {
      const port = (origin.address() as AddressInfo).port
      return [
        '[database]',
        `url = "${databaseUrl}"`,
        '[store]',
        `file_directory = "${join(shared, 'images')}"`,
        '[cluster]',
        `host_name = "${name}"`,
        'heartbeat_interval = 1',
        'heartbeat_timeout = 2',
        '[import]',
        `web_download_allowed_hosts = ["127.0.0.1:${port}"]`,
      ].join('\n')
    }

    before(async () => {
      shared = await mkdtemp(join(tmpdir(), 'image-library-takeover-'))
      databaseUrl = await database.createUrl(shared)
      origin = await serveSlowly()
      hostA = await startServer({ configToml: hostConfig('host-a') })
      hostB = await startServer({ configToml: hostConfig('host-b') })
    })

    after(async () => {
      stalled?.destroy()
      await hostA?.stop()
      await hostB?.stop()
      origin?.close()
      await rm(shared, { recursive: true, force: true })
    })

    async function sharedStoreFiles(): Promise<string[]> {
      const images = join(shared, 'images')
      const finished = (await readdir(images)).filter((name) => name !== '.incomplete')
      return [...finished, ...(await readdir(join(images, '.incomplete')))]
    }

    describe('a host that dies', () => {
      it('leaves its half-done upload to another host, which requeues it', async () => {
        const token = await issueToken(hostA)
        const api = imageClient(hostA, token)
        const image = await createImage(api, { disk_format: 'raw', container_format: 'bare' })
        const data = randomBytes(8 * mib)
        const upload = startPartialUpload(hostB, token, image.id, data, data.length, 2 * mib)
        await upload.written
        await waitForImage(api, image.id, (current) => current.status === 'saving')
        for (let i = 0; i < 100 && (await sharedStoreFiles()).length === 0; i++) await sleep(100)
        assert.equal((await sharedStoreFiles()).length, 1, 'the upload should have a partial file')

        process.kill(hostB.pid, 'SIGKILL')
        await hostB.kill()
        upload.abort()
        await upload.done

        const requeued = await waitForImage(api, image.id, (current) => current.status === 'queued')
        assert.equal(requeued.size, null)
        assert.deepEqual(await sharedStoreFiles(), [])
        assert.match(hostA.stderr(), /took over the work of a lost host/)

        const retry = await uploadData(hostA, token, image.id, data)
        assert.equal(retry.status, 204, retry.text())
        assert.equal((await getImage(api, image.id)).checksum, hexDigest('md5', data))
      })

      it('leaves its web-download to another host, which finishes it', async () => {
        hostB = await startServer({ dataDir: hostB.dataDir })
        const token = await issueToken(hostA)
        const api = imageClient(hostA, token)
        const image = await createImage(api, { disk_format: 'raw', container_format: 'bare' })
        const uri = `http://127.0.0.1:${(origin.address() as AddressInfo).port}/disk.raw`
        const started = await imageClient(hostB, token)('POST', `/v2/images/${image.id}/import`, {
          body: { method: { name: 'web-download', uri } },
        })
        assert.equal(started.status, 202, started.text())
        while (stalled === null) await sleep(20)

        process.kill(hostB.pid, 'SIGKILL')
        await hostB.kill()
        stalled.destroy()

        const done = await waitForImage(api, image.id, (current) => current.status === 'active')
        assert.equal(done.os_hash_value, hexDigest('sha512', payload))
        assert.equal(originRequests, 2)
        const tasks = (await api('GET', `/v2/images/${image.id}/tasks`)).json().tasks
        assert.deepEqual(
          tasks.map((task: { status: string }) => task.status),
          ['success'],
        )
        assert.match(hostA.stderr(), /resuming an import after the loss of host host-b/)
      })
    })
  })
}

import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { call, imageClient, issueToken, passwordAuthBody } from '../helpers/client.js'
import { serverDatabases, stopTestDatabases } from '../helpers/databases.js'
import { admin, startServer, type RunningServer } from '../helpers/server.js'
import { createActiveImage, hexDigest, sleep } from '../api/fixtures.js'

after(stopTestDatabases)

for (const database of serverDatabases) {
  describe(`hosts on ${database.name}`, { skip: database.skip }, () => {
    let databaseUrl: string
    let shared: string
    let hostA: RunningServer
    let hostB: RunningServer

    /** Both hosts use one database and one image directory, as hosts on a shared mount do. */
    function hostConfig(name: string): string {
      return [
        '[database]',
        `url = "${databaseUrl}"`,
        '[store]',
        `file_directory = "${join(shared, 'images')}"`,
        '[cluster]',
        `host_name = "${name}"`,
        'heartbeat_interval = 1',
        'heartbeat_timeout = 3',
      ].join('\n')
    }

    before(async () => {
      shared = await mkdtemp(join(tmpdir(), 'image-library-cluster-'))
      databaseUrl = await database.createUrl(shared)
      hostA = await startServer({ configToml: hostConfig('host-a') })
      hostB = await startServer({ configToml: hostConfig('host-b') })
    })

    after(async () => {
      await hostA?.stop()
      await hostB?.stop()
      await rm(shared, { recursive: true, force: true })
    })

    /** The image endpoints of the public interface in a new token's catalog, in order. */
    async function catalogImageUrls(host: RunningServer): Promise<string[]> {
      const response = await call(host, host.identityUrl, 'POST', '/v3/auth/tokens', {
        body: passwordAuthBody({
          username: 'admin',
          password: hostA.env.OS_PASSWORD!,
          project: 'admin',
        }),
      })
      assert.equal(response.status, 201, response.text())
      const image = response.json().token.catalog.find((s: { type: string }) => s.type === 'image')
      return image.endpoints
        .filter((endpoint: { interface: string }) => endpoint.interface === 'public')
        .map((endpoint: { url: string }) => endpoint.url)
    }

    async function hostsSeenBy(host: RunningServer) {
      const token = await issueToken(host, {
        username: 'admin',
        password: hostA.env.OS_PASSWORD!,
        project: 'admin',
      })
      const response = await imageClient(host, token)('GET', '/v2/info/hosts')
      assert.equal(response.status, 200, response.text())
      return response.json().hosts as { name: string; status: string; stores: unknown[] }[]
    }

    describe('several hosts on one database', () => {
      it('register and list each other as healthy', async () => {
        const hosts = await hostsSeenBy(hostB)
        assert.deepEqual(
          hosts.map((host) => [host.name, host.status]),
          [
            ['host-a', 'healthy'],
            ['host-b', 'healthy'],
          ],
        )
        const store = (hosts[0]!.stores as { id: string; free_bytes: number }[])[0]!
        assert.equal(store.id, 'file')
        assert.ok(store.free_bytes > 0)

        const listed = await admin(hostA, ['host', 'list', '-f', 'json'])
        assert.deepEqual(
          JSON.parse(listed).map((host: { name: string; status: string }) => host.status),
          ['healthy', 'healthy'],
        )
      })

      it('refuse a second running host with the same name', async () => {
        await assert.rejects(
          startServer({ configToml: hostConfig('host-a') }),
          /another running host already uses the host name host-a/,
        )
      })

      it('put every healthy host in the catalog, the issuing host first', async () => {
        // Host A rebuilds its catalog at its next heartbeat after host B registered.
        await sleep(1500)
        assert.deepEqual(await catalogImageUrls(hostA), [hostA.imageUrl, hostB.imageUrl])
        assert.deepEqual(await catalogImageUrls(hostB), [hostB.imageUrl, hostA.imageUrl])
      })

      it('serve an image uploaded through another host', async () => {
        const data = randomBytes(256 * 1024)
        const tokenA = await issueToken(hostA)
        const image = await createActiveImage(hostA, tokenA, data)
        const download = await imageClient(hostB, tokenA)('GET', `/v2/images/${image.id}/file`)
        assert.equal(download.status, 200)
        assert.equal(hexDigest('sha256', download.body), hexDigest('sha256', data))
      })

      it('drop a host that stopped from the catalog', async () => {
        assert.equal(await hostB.kill(), 0)
        const hosts = await hostsSeenBy(hostA)
        assert.deepEqual(
          hosts.map((host) => [host.name, host.status]),
          [
            ['host-a', 'healthy'],
            ['host-b', 'stopped'],
          ],
        )
        // The catalog is rebuilt at the next heartbeat.
        await sleep(1500)
        assert.deepEqual(await catalogImageUrls(hostA), [hostA.imageUrl])
      })

      it('mark a host that died without stopping as unhealthy', async () => {
        hostB = await startServer({ dataDir: hostB.dataDir })
        await sleep(1500)
        assert.deepEqual(await catalogImageUrls(hostA), [hostA.imageUrl, hostB.imageUrl])

        process.kill(hostB.pid, 'SIGKILL')
        await hostB.kill()
        await sleep(4500)
        const hosts = await hostsSeenBy(hostA)
        assert.equal(hosts.find((host) => host.name === 'host-b')?.status, 'unhealthy')
        assert.deepEqual(await catalogImageUrls(hostA), [hostA.imageUrl])
      })
    })
  })
}

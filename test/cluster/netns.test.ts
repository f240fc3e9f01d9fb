import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { spawn } from 'node:child_process'
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ensureCertificate } from '../../src/tls/certificate.js'
import { imageClient, issueToken } from '../helpers/client.js'
import { createTestNetwork, netnsUnavailable, type TestNetwork } from '../helpers/netns.js'
import { postgresSkipReason, startPostgres, stopPostgres } from '../helpers/postgres.js'
import { admin, pcdctlBin, startServer, type RunningServer } from '../helpers/server.js'
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

const skip = await netnsUnavailable()
const hostCount = 3

let network: TestNetwork
let shared: string
const hosts: (RunningServer | null)[] = []
let killedDataDir = ''
let databaseUrl = ''

/**
 * Each host has a shared store (the default) and a store on its own disk, and all share one
 * database: a SQLite file, as hosts on a shared mount would, or PostgreSQL on the bridge.
 */
function hostConfig(index: number): string {
  return [
    '[database]',
    `url = "${databaseUrl}"`,
    '[store]',
    'default = "shared"',
    '[stores.shared]',
    'type = "file"',
    `directory = "${join(shared, 'images')}"`,
    '[stores.local]',
    'type = "file"',
    `directory = "${join(shared, `disk-${index}`)}"`,
    'local = true',
    '[cluster]',
    `host_name = "host-${index}"`,
    'heartbeat_interval = 1',
    'heartbeat_timeout = 3',
    'replicas = 2',
    'replication_interval = 1',
  ].join('\n')
}

async function startHost(index: number, dataDir: string): Promise<RunningServer> {
  const host = network.hosts[index]!
  const server = await startServer({ dataDir, namespace: host.namespace, host: host.address })
  hosts[index] = server
  return server
}

function alive(): RunningServer[] {
  return hosts.filter((host): host is RunningServer => host !== null)
}

async function killHost(index: number): Promise<string> {
  const server = hosts[index]!
  process.kill(server.pid, 'SIGKILL')
  await server.kill()
  hosts[index] = null
  return server.dataDir
}

async function filesIn(directory: string): Promise<string[]> {
  const names = await readdir(directory).catch(() => [] as string[])
  const partial = await readdir(join(directory, '.incomplete')).catch(() => [] as string[])
  return [...names.filter((name) => name !== '.incomplete'), ...partial]
}

async function statusOf(name: string): Promise<string | undefined> {
  const listed = JSON.parse(await admin(alive()[0]!, ['-f', 'json', 'host', 'list']))
  return listed.find((host: { name: string }) => host.name === name)?.status
}

for (const database of ['SQLite', 'PostgreSQL'] as const) {
  const skipReason = skip ?? (database === 'PostgreSQL' ? postgresSkipReason : null)
  describe(
    `hosts in separate network namespaces on ${database}`,
    { skip: skipReason ?? false },
    () => {
      before(async () => {
        hosts.length = 0
        network = await createTestNetwork(hostCount)
        shared = await mkdtemp(join(tmpdir(), 'image-library-netns-'))
        databaseUrl =
          database === 'SQLite'
            ? `sqlite://${join(shared, 'library.db')}`
            : await (
                await startPostgres({
                  address: network.gateway,
                  cidr: network.gateway.replace(/\.1$/, '.0/24'),
                })
              ).createDatabase(network.gateway)
        // One certificate that names every host's address, so that the hosts trust each other.
        const tls = join(shared, 'tls')
        await mkdir(tls)
        await ensureCertificate(
          {
            certFile: join(tls, 'cert.pem'),
            keyFile: join(tls, 'key.pem'),
            caFile: join(tls, 'ca.pem'),
          },
          network.hosts.map((host) => host.address),
        )
        for (let i = 0; i < hostCount; i++) {
          const dataDir = await mkdtemp(join(shared, 'host-'))
          await cp(tls, join(dataDir, 'tls'), { recursive: true })
          await writeFile(join(dataDir, 'image-library.toml'), hostConfig(i))
          await startHost(i, dataDir)
        }
        await sleep(1500)
      })

      after(async () => {
        for (const host of alive()) await host.stop()
        await network?.close()
        if (shared !== undefined) await rm(shared, { recursive: true, force: true })
        if (database === 'PostgreSQL') await stopPostgres()
      })

      it('lists every host as healthy', async () => {
        for (let i = 0; i < hostCount; i++) assert.equal(await statusOf(`host-${i}`), 'healthy')
      })

      it('requeue an upload whose host died, and take the retry on another host', async () => {
        const [first, , third] = hosts as RunningServer[]
        const token = await issueToken(first!)
        const api = imageClient(first!, token)
        const image = await createImage(api, { disk_format: 'raw', container_format: 'bare' })
        const data = randomBytes(8 * mib)
        const upload = startPartialUpload(hosts[1]!, token, image.id, data, data.length, 2 * mib)
        await upload.written
        await waitForImage(api, image.id, (current) => current.status === 'saving')

        killedDataDir = await killHost(1)
        upload.abort()
        await upload.done
        const requeued = await waitForImage(api, image.id, (current) => current.status === 'queued')
        assert.equal(requeued.size, null)
        assert.deepEqual(await filesIn(join(shared, 'images')), [])

        const retry = await uploadData(third!, token, image.id, data)
        assert.equal(retry.status, 204, retry.text())
        const download = await imageClient(first!, token)('GET', `/v2/images/${image.id}/file`)
        assert.equal(hexDigest('sha256', download.body), hexDigest('sha256', data))
      })

      it('let a killed host rejoin', async () => {
        assert.equal(await statusOf('host-1'), 'unhealthy')
        const restarted = await startHost(1, killedDataDir)
        await sleep(1500)
        assert.equal(await statusOf('host-1'), 'healthy')
        const token = await issueToken(hosts[0]!)
        const listed = (await imageClient(restarted, token)('GET', '/v2/images')).json().images
        assert.ok(Array.isArray(listed))
      })

      it('let pcdctl finish a download on another host when its host dies mid-transfer', async () => {
        const data = randomBytes(256 * mib)
        const token = await issueToken(hosts[0]!)
        const api = imageClient(hosts[2]!, token)
        const image = await createImage(api, { disk_format: 'raw', container_format: 'bare' })
        assert.equal((await uploadData(hosts[2]!, token, image.id, data)).status, 204)

        // Authenticated by host 1, pcdctl downloads from host 1 first.
        const file = join(shared, 'saved.raw')
        const env = {
          ...process.env,
          ...hosts[0]!.env,
          OS_AUTH_URL: `${hosts[1]!.identityUrl}/v3`,
          OS_CACERT: join(shared, 'tls', 'ca.pem'),
        }
        const child = spawn(
          process.execPath,
          [pcdctlBin, 'image', 'save', '--file', file, image.id],
          {
            env,
            stdio: ['ignore', 'ignore', 'pipe'],
          },
        )
        let stderr = ''
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
        const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))

        const sizeOf = async () => (await stat(file).catch(() => ({ size: 0 }))).size
        while ((await sizeOf()) < 16 * mib && child.exitCode === null) await sleep(5)
        const before = await sizeOf()
        await killHost(1)
        assert.ok(before < data.length, 'the download ended before the host was killed')

        assert.equal(await exited, 0, stderr)
        assert.match(stderr, /download cut off after \d+ bytes.*retrying on /)
        assert.equal(hexDigest('sha256', await readFile(file)), hexDigest('sha256', data))
      })

      it('replicate local images and survive a loss', async () => {
        const token = await issueToken(hosts[0]!)
        const data = randomBytes(512 * 1024)
        const api = imageClient(hosts[0]!, token)
        const image = await createImage(api, { disk_format: 'raw', container_format: 'bare' })
        const upload = await uploadData(hosts[0]!, token, image.id, data, {
          'x-image-meta-store': 'local',
        })
        assert.equal(upload.status, 204, upload.text())

        const holders = async () => {
          const found: number[] = []
          for (let i = 0; i < hostCount; i++) {
            if ((await filesIn(join(shared, `disk-${i}`))).includes(image.id)) found.push(i)
          }
          return found
        }
        for (let i = 0; i < 60 && (await holders()).length < 2; i++) await sleep(100)
        const copies = await holders()
        assert.equal(copies.length, 2, `copies on hosts ${copies.join(', ')}`)

        await killHost(0)
        const survivor = hosts.find((host) => host !== null)!
        const download = await imageClient(survivor, token)('GET', `/v2/images/${image.id}/file`)
        assert.equal(download.status, 200, download.text())
        assert.equal(hexDigest('sha256', download.body), hexDigest('sha256', data))
        assert.equal((await getImage(imageClient(survivor, token), image.id)).status, 'active')
      })
    },
  )
}

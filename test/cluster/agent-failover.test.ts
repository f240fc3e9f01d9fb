import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { cp, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ensureCertificate } from '../../src/tls/certificate.js'
import { imageClient, issueToken } from '../helpers/client.js'
import { startAgent, type RunningAgent } from '../helpers/agent.js'
import { createTestNetwork, netnsUnavailable, type TestNetwork } from '../helpers/netns.js'
import { startServer, type RunningServer } from '../helpers/server.js'
import { createImage, mib, sleep, uploadData } from '../api/fixtures.js'

const skip = await netnsUnavailable()

let network: TestNetwork
let shared: string
const hosts: RunningServer[] = []
const agents: RunningAgent[] = []

function hostConfig(index: number): string {
  return [
    '[database]',
    `url = "sqlite://${join(shared, 'library.db')}"`,
    '[store]',
    `file_directory = "${join(shared, 'images')}"`,
    '[cluster]',
    `host_name = "host-${index}"`,
    'heartbeat_interval = 1',
    'heartbeat_timeout = 3',
  ].join('\n')
}

async function sha512Of(path: string): Promise<string> {
  const hash = createHash('sha512')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

describe(
  'agents in their own network namespaces when a library host dies',
  { skip: skip ?? false },
  () => {
    before(async () => {
      // Namespaces 0 and 1 are library hosts; 2 and 3 are hypervisors.
      network = await createTestNetwork(4)
      shared = await mkdtemp(join(tmpdir(), 'image-library-agent-netns-'))
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
      for (const index of [0, 1]) {
        const dataDir = await mkdtemp(join(shared, 'host-'))
        await cp(tls, join(dataDir, 'tls'), { recursive: true })
        await writeFile(join(dataDir, 'image-library.toml'), hostConfig(index))
        const host = network.hosts[index]!
        hosts.push(await startServer({ dataDir, namespace: host.namespace, host: host.address }))
      }
      await sleep(1500)
    })

    after(async () => {
      await Promise.all(agents.map((agent) => agent.stop()))
      for (const host of hosts) await host.stop()
      await network?.close()
      if (shared !== undefined) await rm(shared, { recursive: true, force: true })
    })

    it('resumes each download on the other host', async () => {
      const [first, second] = hosts as [RunningServer, RunningServer]
      const token = await issueToken(first)
      const data = randomBytes(48 * mib)
      const image = await createImage(imageClient(second, token), {
        disk_format: 'raw',
        container_format: 'bare',
        name: 'failover-base',
      })
      assert.equal((await uploadData(second, token, image.id, data)).status, 204)
      const expected = createHash('sha512').update(data).digest('hex')

      // Authenticated by host 0, the agents download from host 0 first, slowly.
      for (const index of [2, 3]) {
        agents.push(
          await startAgent(first, {
            name: `hv-${index}`,
            namespace: network.hosts[index]!.namespace,
            extraArgs: ['--precache-rate', '8M'],
          }),
        )
      }
      for (const agent of agents) await agent.call('POST', '/v1/precache', { image: image.id })
      const partialSize = async (agent: RunningAgent) =>
        (await stat(join(agent.cacheDir, 'partial', image.id)).catch(() => ({ size: 0 }))).size
      while (Math.min(...(await Promise.all(agents.map(partialSize)))) < 8 * mib) await sleep(20)

      process.kill(first.pid, 'SIGKILL')
      await first.kill()
      const fetched = await Promise.all(
        agents.map((agent) =>
          agent
            .call<{ path: string }>('POST', '/v1/fetch', { image: image.id })
            .catch((error: Error) => {
              throw new Error(`${error.message}\nagent log:\n${agent.stderr()}`)
            }),
        ),
      )

      for (const [index, agent] of agents.entries()) {
        assert.equal(await sha512Of(fetched[index]!.path), expected)
        const log = agent.stderr()
        assert.match(log, /download interrupted; resuming/)
        const fetchLine = log
          .split('\n')
          .find((line) => line.includes('"image fetched"') && line.includes('"miss"'))
        assert.ok(fetchLine !== undefined, log)
        const entry = JSON.parse(fetchLine) as { sources: string[]; bytesIn: number }
        assert.deepEqual(entry.sources, [first.imageUrl, second.imageUrl])
        // A resume, not a restart: every byte crossed the network once.
        assert.equal(entry.bytesIn, data.length)
      }
    })
  },
)

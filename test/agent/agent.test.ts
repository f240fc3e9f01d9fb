import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdtemp, open, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { after, before, describe, it } from 'node:test'
import { AgentCallError } from '../../src/agent/agent-client.js'
import { imageClient, issueToken } from '../helpers/client.js'
import { bytesServed, startAgent, type RunningAgent } from '../helpers/agent.js'
import { pcdctlBin, startServer, type RunningServer } from '../helpers/server.js'
import { createActiveImage, mib, type WireImage } from '../api/fixtures.js'

const run = promisify(execFile)

let server: RunningServer
let token: string
let work: string
const agents: RunningAgent[] = []

async function sha512Of(path: string): Promise<string> {
  const hash = createHash('sha512')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** Makes a qcow2 image with `dataMiB` of random data in it, with qemu-img from a raw file. */
async function makeQcow2(name: string, dataMiB: number): Promise<Buffer> {
  const raw = join(work, `${name}.raw`)
  const qcow2 = join(work, `${name}.qcow2`)
  await writeFile(raw, randomBytes(dataMiB * mib))
  await run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, qcow2])
  await rm(raw)
  const { readFile } = await import('node:fs/promises')
  return readFile(qcow2)
}

async function uploadQcow2(
  name: string,
  dataMiB: number,
  attributes: Record<string, unknown> = {},
) {
  return createActiveImage(server, token, await makeQcow2(name, dataMiB), {
    name,
    disk_format: 'qcow2',
    ...attributes,
  })
}

async function agentFetch(agent: RunningAgent, image: string, verify = false) {
  return agent.call<{ path: string; result: string; image_id: string }>('POST', '/v1/fetch', {
    image,
    verify,
  })
}

async function metric(agent: RunningAgent, name: string): Promise<number> {
  const { request } = await import('node:http')
  const text = await new Promise<string>((resolve, reject) => {
    request({ socketPath: agent.socket, path: '/metrics' }, (response) => {
      let body = ''
      response.on('data', (chunk: Buffer) => (body += chunk.toString()))
      response.on('end', () => resolve(body))
    })
      .once('error', reject)
      .end()
  })
  const line = text.split('\n').find((entry) => entry.startsWith(`${name} `))
  assert.ok(line !== undefined, `metric ${name} missing from:\n${text}`)
  return Number(line.split(' ')[1])
}

async function expectAgentError(promise: Promise<unknown>, code: string, pattern: RegExp) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof AgentCallError, String(error))
    assert.equal(error.code, code, error.message)
    assert.match(error.message, pattern)
    return true
  })
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'image-library-agent-test-'))
  server = await startServer()
  token = await issueToken(server)
})

after(async () => {
  await Promise.all(agents.map((agent) => agent.stop()))
  await Promise.all(agents.map((agent) => rm(agent.cacheDir, { recursive: true, force: true })))
  await server?.stop()
  await rm(work, { recursive: true, force: true })
})

describe('several agents provisioning from one image at once', () => {
  let image: WireImage
  const fetched: { agent: RunningAgent; path: string; result: string }[] = []

  before(async () => {
    image = await uploadQcow2('shared-base', 24)
    for (const name of ['hv-1', 'hv-2', 'hv-3']) agents.push(await startAgent(server, { name }))
    const requests = agents.flatMap((agent) =>
      Array.from({ length: 4 }, async () => ({ agent, ...(await agentFetch(agent, image.id)) })),
    )
    fetched.push(...(await Promise.all(requests)))
  })

  it('downloads the image once per agent', async () => {
    assert.equal(bytesServed(server, image.id), 3 * image.size)
    for (const agent of agents.slice(0, 3)) {
      const results = fetched.filter((entry) => entry.agent === agent).map((entry) => entry.result)
      assert.deepEqual(
        results.filter((result) => result === 'miss'),
        ['miss'],
        results.join(','),
      )
      assert.equal(await metric(agent, 'image_agent_bytes_fetched_total'), image.size)
      assert.equal(await metric(agent, 'image_agent_cache_misses_total'), 1)
      assert.equal(await metric(agent, 'image_agent_cache_hits_total'), 3)
    }
  })

  it('hands out copies whose sha512 is the os_hash_value', async () => {
    for (const entry of fetched) {
      assert.ok(entry.path.startsWith(entry.agent.cacheDir), entry.path)
      assert.equal(await sha512Of(entry.path), image.os_hash_value)
    }
  })

  it('makes qcow2 overlays that pass qemu-img check and pin their base', async () => {
    for (const [index, agent] of agents.slice(0, 3).entries()) {
      const path = join(work, `vm-${index}.qcow2`)
      await agent.call('POST', '/v1/disks', { image: image.id, size: 128 * mib, path })
      await run('qemu-img', ['check', '-q', '-f', 'qcow2', path])
      const { stdout } = await run('qemu-img', ['info', '--output=json', '-f', 'qcow2', path])
      const info = JSON.parse(stdout) as { 'virtual-size': number; 'full-backing-filename': string }
      assert.equal(info['virtual-size'], 128 * mib)
      assert.equal(info['full-backing-filename'], join(agent.cacheDir, 'images', image.id, 'disk'))
      const { images } = await agent.call<{ images: { image_id: string; pinned: boolean }[] }>(
        'GET',
        '/v1/images',
      )
      assert.deepEqual(
        images.map((entry) => [entry.image_id, entry.pinned]),
        [[image.id, true]],
      )
    }
    assert.equal(bytesServed(server, image.id), 3 * image.size)
  })

  it('refuses a disk smaller than the virtual size or min_disk', async () => {
    const agent = agents[0]!
    const path = join(work, 'too-small.qcow2')
    await expectAgentError(
      agent.call('POST', '/v1/disks', { image: image.id, size: mib, path }),
      'DISK_TOO_SMALL',
      /virtual size is 24\.0 MiB/,
    )
    await assert.rejects(stat(path))
  })

  it('detects a corrupted cached copy and fetches the image again', async () => {
    const agent = agents[0]!
    const copy = join(agent.cacheDir, 'images', image.id, 'disk')
    const file = await open(copy, 'r+')
    await file.write(Buffer.from('corrupted!'), 0, 10, 4 * mib)
    await file.close()

    const again = await agentFetch(agent, image.id)
    assert.equal(again.result, 'miss')
    assert.equal(await sha512Of(again.path), image.os_hash_value)
    assert.equal(await metric(agent, 'image_agent_verify_failures_total'), 1)
    assert.equal(bytesServed(server, image.id), 4 * image.size)
  })
})

describe('two disk creates for one path', () => {
  it('makes one disk and keeps it registered', async () => {
    const agent = await startAgent(server, { name: 'hv-same-path' })
    agents.push(agent)
    const image = await uploadQcow2('same-path-base', 1)
    const path = join(work, 'same-path.qcow2')

    const results = await Promise.allSettled(
      [1, 2].map(() => agent.call('POST', '/v1/disks', { image: image.id, size: 64 * mib, path })),
    )
    const rejected = results.filter((result) => result.status === 'rejected')
    assert.equal(rejected.length, 1)
    assert.equal((rejected[0]!.reason as AgentCallError).code, 'DISK_EXISTS')
    const { disks } = await agent.call<{ disks: { path: string }[] }>('GET', '/v1/disks')
    assert.deepEqual(
      disks.map((disk) => disk.path),
      [path],
    )
    await run('qemu-img', ['check', '-q', '-f', 'qcow2', path])
  })
})

describe('disk paths that lead into the cache', () => {
  it('rejects a path through a link', async () => {
    const agent = await startAgent(server, { name: 'hv-disk-paths' })
    agents.push(agent)
    const image = await uploadQcow2('disk-path-base', 1)
    const link = join(work, 'link-to-cache')
    await symlink(agent.cacheDir, link)

    for (const path of [join(link, 'tmp', 'vm.qcow2'), join(agent.cacheDir, '..vm.qcow2')]) {
      await expectAgentError(
        agent.call('POST', '/v1/disks', { image: image.id, size: 64 * mib, path }),
        'BAD_REQUEST',
        /inside the cache directory/,
      )
    }
    assert.deepEqual(await readdir(join(agent.cacheDir, 'tmp')), [])
  })
})

describe('disk create requests that the image record rejects', () => {
  it('downloads nothing', async () => {
    const agent = await startAgent(server, { name: 'hv-no-download' })
    agents.push(agent)
    const image = await uploadQcow2('never-downloaded', 2, { min_disk: 1 })

    await expectAgentError(
      agent.call('POST', '/v1/disks', {
        image: image.id,
        size: 64 * mib,
        path: join(work, 'below-min-disk.qcow2'),
      }),
      'DISK_TOO_SMALL',
      /min_disk is 1 GiB/,
    )
    assert.equal(bytesServed(server, image.id), 0)
  })
})

describe('an image that changed in the library', () => {
  let agent: RunningAgent

  before(async () => {
    agent = await startAgent(server, { name: 'hv-changes' })
    agents.push(agent)
  })

  it('refuses a deactivated image, then hands it out again after reactivation', async () => {
    const image = await uploadQcow2('to-deactivate', 1)
    await agentFetch(agent, image.id)
    const client = imageClient(server, token)
    assert.equal((await client('POST', `/v2/images/${image.id}/actions/deactivate`)).status, 204)

    await expectAgentError(agentFetch(agent, image.id), 'IMAGE_NOT_ACTIVE', /is deactivated/)
    assert.equal((await client('POST', `/v2/images/${image.id}/actions/reactivate`)).status, 204)
    assert.equal((await agentFetch(agent, image.id)).result, 'hit')
  })

  it('refuses a deleted image and removes its unpinned copy', async () => {
    const image = await uploadQcow2('to-delete', 1)
    const { path } = await agentFetch(agent, image.id)
    assert.equal((await imageClient(server, token)('DELETE', `/v2/images/${image.id}`)).status, 204)

    await expectAgentError(agentFetch(agent, image.id), 'IMAGE_NOT_FOUND', /not in the library/)
    await assert.rejects(stat(path))
  })

  it('keeps a pinned copy of a deleted image', async () => {
    const image = await uploadQcow2('deleted-but-pinned', 1)
    const disk = join(work, 'pinned-vm.qcow2')
    await agent.call('POST', '/v1/disks', { image: image.id, size: 64 * mib, path: disk })
    assert.equal((await imageClient(server, token)('DELETE', `/v2/images/${image.id}`)).status, 204)

    await expectAgentError(agentFetch(agent, image.id), 'IMAGE_NOT_FOUND', /not in the library/)
    await run('qemu-img', ['check', '-q', '-f', 'qcow2', disk])
  })

  it('rejects a pre-cache of an unknown image at once', async () => {
    const unknown = 'f3a1c2d4-0000-4000-8000-000000000000'
    await expectAgentError(
      agent.call('POST', '/v1/precache', { image: unknown }),
      'IMAGE_NOT_FOUND',
      /not in the library/,
    )
  })

  it('finds an image by its name', async () => {
    const image = await uploadQcow2('named-image', 1)
    const fetched = await agentFetch(agent, 'named-image')
    assert.equal(fetched.image_id, image.id)
  })
})

describe('eviction under a small cache limit', () => {
  let agent: RunningAgent
  const images: WireImage[] = []

  before(async () => {
    for (const name of ['evict-a', 'evict-b', 'evict-c']) images.push(await uploadQcow2(name, 3))
    const limit = images[0]!.size + images[1]!.size + mib
    agent = await startAgent(server, {
      name: 'hv-small',
      maxSize: String(limit),
      extraArgs: ['--hold', '1'],
    })
    agents.push(agent)
  })

  it('evicts the least recently used unpinned copy', async () => {
    const [a, b, c] = images as [WireImage, WireImage, WireImage]
    await agent.call('POST', '/v1/disks', {
      image: a.id,
      size: 64 * mib,
      path: join(work, 'evict-vm.qcow2'),
    })
    await agentFetch(agent, b.id)
    await new Promise((resolve) => setTimeout(resolve, 1100))

    await agentFetch(agent, c.id)
    const { images: cached } = await agent.call<{ images: { image_id: string }[] }>(
      'GET',
      '/v1/images',
    )
    assert.deepEqual(cached.map((entry) => entry.image_id).sort(), [a.id, c.id].sort())
    assert.equal(await metric(agent, 'image_agent_evictions_total'), 1)
    await run('qemu-img', ['check', '-q', '-f', 'qcow2', join(work, 'evict-vm.qcow2')])
  })

  it('rejects an image that does not fit', async () => {
    await agent.call('POST', '/v1/disks', {
      image: images[2]!.id,
      size: 64 * mib,
      path: join(work, 'evict-vm-2.qcow2'),
    })
    const big = await uploadQcow2('evict-big', 4)
    await expectAgentError(
      agentFetch(agent, big.id),
      'CACHE_FULL',
      /Raise --max-size, or delete VM disks/,
    )
  })

  it('unpins a base when its VM disk is deleted', async () => {
    await agent.call('DELETE', '/v1/disks', { path: join(work, 'evict-vm-2.qcow2') })
    await assert.rejects(stat(join(work, 'evict-vm-2.qcow2')))
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const big = await agentFetch(agent, 'evict-big')
    assert.equal(big.result, 'miss')
  })
})

describe('a restart in the middle of a download', () => {
  it('resumes the partial file and hands out a verified copy', async () => {
    const image = await uploadQcow2('resume-me', 16)
    const cacheDir = await mkdtemp(join(tmpdir(), 'image-library-agent-'))
    const slow = await startAgent(server, {
      name: 'hv-restart',
      cacheDir,
      extraArgs: ['--precache-rate', '2M'],
    })
    await slow.call('POST', '/v1/precache', { image: image.id })
    const partial = join(cacheDir, 'partial', image.id)
    await waitFor(async () => ((await stat(partial).catch(() => undefined))?.size ?? 0) > 2 * mib)
    process.kill(slow.pid, 'SIGKILL')
    await slow.stop()
    const kept = (await stat(partial)).size

    const agent = await startAgent(server, { name: 'hv-restart', cacheDir })
    agents.push(agent)
    const fetched = await agentFetch(agent, image.id)
    assert.equal(fetched.result, 'miss')
    assert.equal(await sha512Of(fetched.path), image.os_hash_value)
    assert.equal(await metric(agent, 'image_agent_bytes_fetched_total'), image.size - kept)
    assert.deepEqual(await readdir(join(cacheDir, 'partial')), [])
  })

  it('never hands out a partial file whose image changed meanwhile', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'image-library-agent-'))
    const image = await uploadQcow2('stale-partial', 1)
    const stale = {
      imageId: image.id,
      size: image.size,
      osHashAlgo: 'sha512',
      osHashValue: 'ab'.repeat(64),
    }
    const { mkdir } = await import('node:fs/promises')
    await mkdir(join(cacheDir, 'partial'), { recursive: true })
    await writeFile(join(cacheDir, 'partial', image.id), randomBytes(image.size - 10))
    await writeFile(join(cacheDir, 'partial', `${image.id}.json`), JSON.stringify(stale))

    const agent = await startAgent(server, { name: 'hv-stale', cacheDir })
    agents.push(agent)
    const fetched = await agentFetch(agent, image.id)
    assert.equal(await sha512Of(fetched.path), image.os_hash_value)
    assert.equal(await metric(agent, 'image_agent_bytes_fetched_total'), image.size)
  })
})

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe('pre-caching that an admin asks the library for', () => {
  const hypervisors: RunningAgent[] = []

  before(async () => {
    for (const name of ['hv-pre-1', 'hv-pre-2']) {
      const extraArgs = ['--report-interval', '1', '--precache-rate', '20M']
      hypervisors.push(await startAgent(server, { name, extraArgs }))
    }
    agents.push(...hypervisors)
  })

  async function agentView(name: string) {
    const response = await imageClient(server, token)('GET', `/v2/cache/agents/${name}`)
    assert.equal(response.status, 200, response.text())
    return response.json() as {
      status: string
      cached_images: { image_id: string; hits: number }[]
      queued_images: string[]
      failed_images: { image_id: string; reason: string }[]
      stats: { misses: number; bytes_fetched: number }
    }
  }

  async function hasReported(name: string): Promise<boolean> {
    const response = await imageClient(server, token)('GET', `/v2/cache/agents/${name}`)
    return response.status === 200
  }

  it('pulls the image on every agent, which the library then shows per host', async () => {
    const image = await uploadQcow2('precache-all', 8)
    for (const agent of hypervisors) await waitFor(() => hasReported(agent.name))
    const { stdout } = await run(
      process.execPath,
      [pcdctlBin, 'image', 'cache', '--all-hosts', 'precache-all'],
      {
        env: {
          PATH: process.env.PATH,
          ...server.env,
          OS_CACERT: join(server.dataDir, 'tls', 'ca.pem'),
        },
      },
    )
    assert.match(stdout, /hv-pre-1, hv-pre-2/)

    for (const agent of hypervisors) {
      await waitFor(async () => {
        const view = await agentView(agent.name)
        return view.cached_images.some((entry) => entry.image_id === image.id)
      })
      const view = await agentView(agent.name)
      assert.deepEqual(view.queued_images, [])
      assert.equal(view.stats.bytes_fetched, image.size)
      const copy = join(agent.cacheDir, 'images', image.id, 'disk')
      assert.equal(await sha512Of(copy), image.os_hash_value)
    }
  })

  it('reports hits that the library shows', async () => {
    const agent = hypervisors[0]!
    const fetched = await agentFetch(agent, 'precache-all')
    assert.equal(fetched.result, 'hit')
    await waitFor(async () => {
      const view = await agentView(agent.name)
      return view.cached_images.some((entry) => entry.hits === 1)
    })
  })

  it('reports an image it could not pull, with the reason', async () => {
    const small = await startAgent(server, {
      name: 'hv-pre-small',
      maxSize: '1M',
      extraArgs: ['--report-interval', '1'],
    })
    agents.push(small)
    await waitFor(() => hasReported('hv-pre-small'))
    const image = await uploadQcow2('precache-too-big', 2)
    const client = imageClient(server, token)
    assert.equal((await client('PUT', `/v2/cache/${image.id}?agents=hv-pre-small`)).status, 202)

    await waitFor(async () => (await agentView('hv-pre-small')).failed_images.length > 0)
    const view = await agentView('hv-pre-small')
    assert.deepEqual(view.queued_images, [])
    assert.equal(view.failed_images[0]!.image_id, image.id)
    assert.match(view.failed_images[0]!.reason, /larger than the whole cache/)
  })
})

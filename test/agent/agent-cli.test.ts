import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { promisify } from 'node:util'
import { after, before, describe, it } from 'node:test'
import { imageClient, issueToken } from '../helpers/client.js'
import { startAgent, type RunningAgent } from '../helpers/agent.js'
import {
  createTenant,
  imageLibraryBin,
  startServer,
  type RunningServer,
  type Tenant,
} from '../helpers/server.js'
import { createActiveImage, getImage, mib, type WireImage } from '../api/fixtures.js'

const run = promisify(execFile)

let server: RunningServer
let agent: RunningAgent
let work: string
let base: WireImage
let tenant: Tenant

/** Runs `image-library agent ...` as a hypervisor tool would; resolves with its exit and output. */
async function agentCommand(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [imageLibraryBin, 'agent', ...args], {
      env: { PATH: process.env.PATH, IMAGE_LIBRARY_AGENT_SOCKET: agent.socket, ...env },
    })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string }
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr }
  }
}

function tenantEnv(): Record<string, string> {
  return {
    ...server.env,
    OS_USERNAME: tenant.username,
    OS_PASSWORD: tenant.password,
    OS_PROJECT_NAME: tenant.project,
    OS_CACERT: join(server.dataDir, 'tls', 'ca.pem'),
  }
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'image-library-agent-cli-'))
  server = await startServer()
  tenant = await createTenant(server, 'vm-owner')
  const raw = join(work, 'base.raw')
  await writeFile(raw, randomBytes(4 * mib))
  await run('qemu-img', [
    'convert',
    '-q',
    '-f',
    'raw',
    '-O',
    'qcow2',
    raw,
    join(work, 'base.qcow2'),
  ])
  base = await createActiveImage(
    server,
    await issueToken(server),
    await readFile(join(work, 'base.qcow2')),
    {
      name: 'cli-base',
      disk_format: 'qcow2',
      visibility: 'public',
      min_disk: 1,
    },
  )
  agent = await startAgent(server, { name: 'hv-cli' })
})

after(async () => {
  await agent?.stop()
  if (agent !== undefined) await rm(agent.cacheDir, { recursive: true, force: true })
  await server?.stop()
  await rm(work, { recursive: true, force: true })
})

describe('image-library agent fetch', () => {
  it('prints the path of the verified copy', async () => {
    const result = await agentCommand(['fetch', 'cli-base'])
    assert.equal(result.code, 0, result.stderr)
    assert.equal(result.stdout, `${join(agent.cacheDir, 'images', base.id, 'disk')}\n`)
  })

  it('exits 1 with the reason for an unknown image', async () => {
    const result = await agentCommand(['fetch', 'no-such-image'])
    assert.equal(result.code, 1)
    assert.match(result.stderr, /Image 'no-such-image' is not in the library/)
  })

  it('says how to start the agent when nothing listens on the socket', async () => {
    const result = await agentCommand(['fetch', 'cli-base', '--socket', join(work, 'none.sock')])
    assert.equal(result.code, 1)
    assert.match(result.stderr, /Cannot reach the agent at .*none\.sock.*agent serve/)
  })
})

describe('image-library agent disk create', () => {
  it('refuses a size below min_disk', async () => {
    const result = await agentCommand([
      'disk',
      'create',
      'cli-base',
      join(work, 'small.qcow2'),
      '--size',
      '512M',
    ])
    assert.equal(result.code, 1)
    assert.match(result.stderr, /min_disk is 1 GiB\. Ask for at least 1\.0 GiB/)
  })

  it('makes a raw copy that needs no base', async () => {
    const path = join(work, 'vm-raw.img')
    const result = await agentCommand([
      'disk',
      'create',
      'cli-base',
      path,
      '--size',
      '1G',
      '--format',
      'raw',
    ])
    assert.equal(result.code, 0, result.stderr)
    const { stdout } = await run('qemu-img', ['info', '--output=json', '-f', 'raw', path])
    const info = JSON.parse(stdout) as { 'virtual-size': number; 'backing-filename'?: string }
    assert.equal(info['virtual-size'], 1024 * mib)
    assert.equal(info['backing-filename'], undefined)
    const { stdout: compare } = await run('qemu-img', [
      'compare',
      '-f',
      'raw',
      '-F',
      'qcow2',
      path,
      join(work, 'base.qcow2'),
    ])
    assert.match(compare, /Images are identical/)
  })

  it('never overwrites an existing file', async () => {
    const path = join(work, 'taken.qcow2')
    await writeFile(path, 'keep me')
    const result = await agentCommand(['disk', 'create', 'cli-base', path, '--size', '1G'])
    assert.equal(result.code, 1)
    assert.match(result.stderr, /exists already/)
    assert.equal(await readFile(path, 'utf8'), 'keep me')
  })

  it('rejects a size that is not a size, with usage status 2', async () => {
    const result = await agentCommand([
      'disk',
      'create',
      'cli-base',
      join(work, 'x.qcow2'),
      '--size',
      'big',
    ])
    assert.equal(result.code, 2)
    assert.match(result.stderr, /'big' is not a size/)
  })
})

describe('image-library agent snapshot', () => {
  let snapshot: WireImage

  before(async () => {
    const disk = join(work, 'vm-1.qcow2')
    const created = await agentCommand(['disk', 'create', 'cli-base', disk, '--size', '1G'])
    assert.equal(created.code, 0, created.stderr)
    // The VM writes to its disk.
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 1M', disk])
    const result = await agentCommand(
      [
        'snapshot',
        '--disk',
        disk,
        '--name',
        'vm-1-snap',
        '--instance-uuid',
        'a2b1c7e4-0b8e-4c57-9d43-1e0f8c3a5b6d',
      ],
      tenantEnv(),
    )
    assert.equal(result.code, 0, result.stderr)
    snapshot = await getImage(imageClient(server, await issueToken(server)), result.stdout.trim())
  })

  it('uploads the flattened disk as an active snapshot of the caller’s project', () => {
    assert.equal(snapshot.status, 'active')
    assert.equal(snapshot.owner, tenant.projectId)
    assert.equal(snapshot.image_type, 'snapshot')
    assert.equal(snapshot.base_image_ref, base.id)
    assert.equal(snapshot.instance_uuid, 'a2b1c7e4-0b8e-4c57-9d43-1e0f8c3a5b6d')
    assert.equal(snapshot.disk_format, 'qcow2')
    assert.equal(snapshot.virtual_size, 1024 * mib)
  })

  it('provisions a new VM disk whose data is the snapshot’s', async () => {
    const fetched = await agentCommand(['fetch', snapshot.id])
    assert.equal(fetched.code, 0, fetched.stderr)
    const path = fetched.stdout.trim()
    const { stdout } = await run('qemu-img', ['info', '--output=json', '-f', 'qcow2', path])
    assert.equal(
      (JSON.parse(stdout) as { 'backing-filename'?: string })['backing-filename'],
      undefined,
    )
    const { stdout: written } = await run('qemu-io', [
      '-f',
      'qcow2',
      '-r',
      '-c',
      'read -P 0x5a 0 1M',
      path,
    ])
    assert.match(written, /read 1048576\/1048576 bytes/)
    const { stdout: compare } = await run('qemu-img', [
      'compare',
      '-f',
      'qcow2',
      '-F',
      'qcow2',
      join(work, 'vm-1.qcow2'),
      path,
    ])
    assert.match(compare, /Images are identical/)
  })

  it('refuses a disk that the agent did not make', async () => {
    const stray = join(work, 'stray.qcow2')
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', stray, '64M'])
    const result = await agentCommand(['snapshot', '--disk', stray, '--name', 'stray'], tenantEnv())
    assert.equal(result.code, 1)
    assert.match(result.stderr, /was not made by `image-library agent disk create`/)
  })

  it('refuses an overlay whose backing chain was pointed outside the cache', async () => {
    const disk = join(work, 'vm-rebased.qcow2')
    assert.equal((await agentCommand(['disk', 'create', 'cli-base', disk, '--size', '1G'])).code, 0)
    const secret = join(work, 'host-secret.raw')
    await writeFile(secret, Buffer.alloc(mib, 7))
    await run('qemu-img', ['rebase', '-u', '-f', 'qcow2', '-F', 'raw', '-b', secret, disk])

    const result = await agentCommand(['snapshot', '--disk', disk, '--name', 'leak'], tenantEnv())
    assert.equal(result.code, 1)
    assert.match(result.stderr, /not the cached copy .* that the disk was made on/)
    const client = imageClient(server, await issueToken(server))
    const listed = (await client('GET', '/v2/images?name=leak')).json() as { images: unknown[] }
    assert.deepEqual(listed.images, [])
  })
})

describe('image-library agent snapshot of a changed disk', () => {
  async function expectRejected(disk: string, name: string, message: RegExp) {
    const result = await agentCommand(['snapshot', '--disk', disk, '--name', name], tenantEnv())
    assert.equal(result.code, 1, result.stderr)
    assert.match(result.stderr, message)
    assert.doesNotMatch(result.stderr, /\n\s+at /)
    const client = imageClient(server, await issueToken(server))
    const listed = (await client('GET', `/v2/images?name=${name}`)).json() as { images: unknown[] }
    assert.deepEqual(listed.images, [])
  }

  it('rejects an overlay rebased onto another cached image', async () => {
    const other = await createActiveImage(server, await issueToken(server), randomBytes(mib), {
      name: 'cli-other',
      disk_format: 'raw',
      visibility: 'public',
    })
    const fetched = await agentCommand(['fetch', other.id])
    assert.equal(fetched.code, 0, fetched.stderr)
    const disk = join(work, 'vm-other-base.qcow2')
    assert.equal((await agentCommand(['disk', 'create', 'cli-base', disk, '--size', '1G'])).code, 0)
    const otherCopy = fetched.stdout.trim()
    await run('qemu-img', ['rebase', '-u', '-f', 'qcow2', '-F', 'raw', '-b', otherCopy, disk])

    await expectRejected(disk, 'wrong-base', /not the cached copy .* that the disk was made on/)
  })

  it('rejects a json: backing file', async () => {
    const disk = join(work, 'vm-json-backing.qcow2')
    assert.equal((await agentCommand(['disk', 'create', 'cli-base', disk, '--size', '1G'])).code, 0)
    const secret = join(work, 'json-secret.raw')
    await writeFile(secret, Buffer.alloc(mib, 9))
    const backing = `json:${JSON.stringify({ driver: 'raw', file: { driver: 'file', filename: secret } })}`
    await run('qemu-img', ['rebase', '-u', '-f', 'qcow2', '-F', 'raw', '-b', backing, disk])

    await expectRejected(disk, 'json-leak', /not the cached copy .* that the disk was made on/)
  })

  it('rejects a disk file that is no longer qcow2', async () => {
    const disk = join(work, 'vm-overwritten.qcow2')
    assert.equal((await agentCommand(['disk', 'create', 'cli-base', disk, '--size', '1G'])).code, 0)
    await writeFile(disk, randomBytes(4096))

    await expectRejected(disk, 'garbage', /qemu-img cannot read .* as qcow2/)
  })
})

describe('image-library agent snapshot stopped by a signal', () => {
  it('removes the flattened file and the new image record', async () => {
    const disk = join(work, 'vm-stop.qcow2')
    assert.equal((await agentCommand(['disk', 'create', 'cli-base', disk, '--size', '1G'])).code, 0)
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x3c 0 512M', disk])
    const child = spawn(
      process.execPath,
      [imageLibraryBin, 'agent', 'snapshot', '--disk', disk, '--name', 'stopped-snap'],
      { env: { PATH: process.env.PATH, IMAGE_LIBRARY_AGENT_SOCKET: agent.socket, ...tenantEnv() } },
    )
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const exited = new Promise<number | null>((done) => child.once('exit', done))
    const flattened = () =>
      readdir(work).then((names) => names.filter((name) => name.startsWith('.vm-stop.qcow2.')))
    while ((await flattened()).length === 0) {
      assert.equal(child.exitCode, null, `the snapshot ended before it could be stopped: ${stderr}`)
      await delay(5)
    }
    child.kill('SIGTERM')

    assert.equal(await exited, 1, stderr)
    assert.match(stderr, /Stopped by SIGTERM; no snapshot was made/)
    assert.deepEqual(await flattened(), [])
    const client = imageClient(server, await issueToken(server))
    const listed = (await client('GET', '/v2/images?name=stopped-snap')).json() as {
      images: unknown[]
    }
    assert.deepEqual(listed.images, [])
  })
})

describe('image-library agent serve with a configuration file', () => {
  it('uses the service account and settings of the file, and serves metrics over HTTP', async () => {
    const { createServer } = await import('node:net')
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const address = probe.address() as { port: number }
        probe.close(() => resolve(address.port))
      })
    })
    const cacheDir = join(work, 'configured-cache')
    const socket = join(work, 'configured.sock')
    const env = server.env
    const config = join(work, 'agent.toml')
    await writeFile(
      config,
      [
        '[agent]',
        `cache_dir = "${cacheDir}"`,
        'max_size = "50%"',
        `socket = "${socket}"`,
        'name = "hv-configured"',
        `metrics_listen = "127.0.0.1:${port}"`,
        '[auth]',
        `auth_url = "${env.OS_AUTH_URL}"`,
        `username = "${env.OS_USERNAME}"`,
        `password = "${env.OS_PASSWORD}"`,
        `project_name = "${env.OS_PROJECT_NAME}"`,
        'user_domain_name = "Default"',
        'project_domain_name = "Default"',
        `cacert = "${join(server.dataDir, 'tls', 'ca.pem')}"`,
      ].join('\n'),
    )
    const { spawn } = await import('node:child_process')
    const child = spawn(process.execPath, [imageLibraryBin, 'agent', 'serve', '--config', config], {
      env: { PATH: process.env.PATH },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    try {
      let fetched = { code: 1, stdout: '', stderr: '' }
      for (let attempt = 0; attempt < 100 && fetched.code !== 0; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 100))
        fetched = await agentCommand(['fetch', 'cli-base', '--socket', socket])
      }
      assert.equal(fetched.code, 0, `${fetched.stderr}\n${stderr}`)
      assert.ok(fetched.stdout.startsWith(cacheDir), fetched.stdout)

      const response = await fetch(`http://127.0.0.1:${port}/metrics`)
      const text = await response.text()
      assert.match(text, /^image_agent_cache_misses_total 1$/m)
      assert.match(text, /^image_agent_cache_max_bytes [1-9]\d*$/m)
    } finally {
      child.kill('SIGTERM')
      await new Promise((resolve) => child.once('exit', resolve))
    }
  })

  it('keeps a file given as its socket', async () => {
    const file = join(work, 'not-a-socket.txt')
    await writeFile(file, 'keep me')
    const result = await agentCommand(
      [
        'serve',
        '--cache-dir',
        join(work, 'socket-test-cache'),
        '--max-size',
        '1G',
        '--socket',
        file,
      ],
      { ...server.env, OS_CACERT: join(server.dataDir, 'tls', 'ca.pem') },
    )

    assert.equal(result.code, 1)
    assert.match(result.stderr, /exists and is not a socket/)
    assert.equal(await readFile(file, 'utf8'), 'keep me')
  })

  it('exits 2 on a report interval out of range', async () => {
    for (const interval of ['0.5', '86401', '3000000']) {
      const result = await agentCommand([
        'serve',
        '--cache-dir',
        join(work, 'never-made'),
        '--max-size',
        '1G',
        '--report-interval',
        interval,
      ])
      assert.equal(result.code, 2, interval)
      assert.match(result.stderr, /--report-interval must be from 1 to 86400 seconds/)
    }
  })

  it('exits 2 without a stack trace on a bad setting', async () => {
    const badToml = join(work, 'bad.toml')
    await writeFile(badToml, 'bad toml [[')
    const wrongType = join(work, 'wrong-type.toml')
    await writeFile(wrongType, '[agent]\ncache_dir = 5\nmax_size = "1G"\n')
    const cache = ['--cache-dir', join(work, 'never-made'), '--max-size', '1G']
    const cases: [string[], RegExp][] = [
      [['--config', join(work, 'missing.toml')], /Cannot read the configuration file/],
      [['--config', badToml], /is not valid TOML/],
      [['--config', wrongType], /cache_dir must be a non-empty string, got 5/],
      [[...cache, '--log-level', 'loud'], /--log-level must be fatal, error/],
      [[...cache, '--metrics-listen', '127.0.0.1:99999'], /port from 0 to 65535/],
      [
        ['--cache-dir', join(work, 'never-made'), '--max-size', '0'],
        /leaves no room for any image/,
      ],
      [[...cache, '--name', 'hv 1'], /The agent name 'hv 1' is invalid/],
      [[...cache, '--name', '-hv1'], /The agent name '-hv1' is invalid/],
    ]
    for (const [args, message] of cases) {
      const result = await agentCommand(['serve', ...args])
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`)
      assert.match(result.stderr, message)
      assert.doesNotMatch(result.stderr, /\n\s+at /)
    }
  })

  it('exits 2 naming the missing settings', async () => {
    const result = await agentCommand(['serve', '--cache-dir', join(work, 'x')])
    assert.equal(result.code, 2)
    assert.match(result.stderr, /needs --cache-dir and --max-size/)
  })
})

import { createServer, request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { after, before, beforeEach, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { main } from './pcdctl.js'
import {
  fakeProjectId,
  otherProjectId,
  startFakeCloud,
  type FakeCloud,
} from './testing/fake-cloud.js'

interface RunResult {
  code: number
  stdout: Buffer
  stderr: string
}

class CaptureStream extends Writable {
  chunks: Buffer[] = []
  isTTY: boolean

  constructor(isTTY = false) {
    super()
    this.isTTY = isTTY
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.chunks.push(Buffer.from(chunk))
    callback()
  }
}

async function run(
  args: string[],
  env: NodeJS.ProcessEnv,
  options: { stdoutIsTTY?: boolean; stdin?: Readable } = {},
): Promise<RunResult> {
  const stdout = new CaptureStream(options.stdoutIsTTY)
  const stderr = new CaptureStream()
  const stdin = options.stdin ?? Readable.from([])
  const code = await main(args, { stdout, stderr, stdin, env })
  return {
    code,
    stdout: Buffer.concat(stdout.chunks),
    stderr: Buffer.concat(stderr.chunks).toString(),
  }
}

function parseJson(result: RunResult): unknown {
  assert.equal(result.code, 0, `pcdctl failed: ${result.stderr}`)
  return JSON.parse(result.stdout.toString())
}

describe('command line without a server', () => {
  it('prints help and exits 0', async () => {
    const result = await run(['--help'], {})
    assert.equal(result.code, 0)
    assert.match(result.stdout.toString(), /Usage: pcdctl/)
    assert.match(result.stdout.toString(), /--os-auth-url/)
  })

  it('shows usage and an example for each command', async () => {
    const commands = [
      ['image', 'create'],
      ['image', 'list'],
      ['image', 'show'],
      ['image', 'set'],
      ['image', 'unset'],
      ['image', 'delete'],
      ['image', 'save'],
      ['image', 'add', 'project'],
      ['image', 'remove', 'project'],
      ['image', 'member', 'list'],
      ['image', 'cache'],
      ['cache', 'host', 'list'],
      ['cache', 'host', 'show'],
    ]
    for (const command of commands) {
      const result = await run([...command, '--help'], {})
      assert.equal(result.code, 0, command.join(' '))
      assert.match(result.stdout.toString(), /Example/, command.join(' '))
      assert.match(result.stdout.toString(), new RegExp(`pcdctl ${command.join(' ')}`))
    }
  })

  it('prints the version', async () => {
    const result = await run(['--version'], {})
    assert.equal(result.code, 0)
    assert.equal(result.stdout.toString(), '0.1.0\n')
  })

  it('exits 2 without a command', async () => {
    assert.equal((await run([], {})).code, 2)
    assert.equal((await run(['image'], {})).code, 2)
    assert.equal((await run(['image', 'bogus'], {})).code, 2)
  })

  it('exits 2 on bad arguments', async () => {
    const cases = [
      ['image', 'create'],
      ['image', 'create', 'x', '--public', '--private'],
      ['image', 'create', 'x', '--protected', '--unprotected'],
      ['image', 'create', 'x', '--property', 'novalue'],
      ['image', 'create', 'x', '--min-disk', '1.5'],
      ['image', 'create', 'x', '--disk-format', 'floppy'],
      ['image', 'list', '--limit', '0'],
      ['image', 'list', '--sort', 'name:up'],
      ['image', 'list', '-f', 'shell'],
      ['image', 'show', 'a', 'b'],
      ['image', 'set', 'x', '--accept', '--reject'],
      ['image', 'cache', 'x'],
      ['image', 'cache', 'x', '--all-hosts', '--host', 'hv-1'],
      ['image', 'cache', '--all-hosts'],
      ['cache', 'host', 'show'],
      ['cache', 'host', 'list', '-f', 'shell'],
    ]
    for (const args of cases) {
      const result = await run(args, {})
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`)
      assert.notEqual(result.stderr, '', args.join(' '))
    }
  })

  it('names missing variables and exits 1', async () => {
    const result = await run(['image', 'list'], { OS_USERNAME: 'demo' })
    assert.equal(result.code, 1)
    assert.match(result.stderr, /OS_AUTH_URL/)
    assert.match(result.stderr, /OS_PASSWORD/)
    assert.match(result.stderr, /RC file/)
  })

  it('does not write image data to a terminal', async () => {
    const result = await run(['image', 'save', 'x'], {}, { stdoutIsTTY: true })
    assert.equal(result.code, 2)
    assert.match(result.stderr, /--file/)
  })
})

describe('commands against a fake cloud', () => {
  let cloud: FakeCloud
  let workDir: string

  before(async () => {
    cloud = await startFakeCloud()
    workDir = await mkdtemp(join(tmpdir(), 'pcdctl-test-'))
  })

  after(async () => {
    await cloud.stop()
    await rm(workDir, { recursive: true, force: true })
  })

  beforeEach(() => {
    cloud.images.clear()
    cloud.members.clear()
    cloud.requests.length = 0
    cloud.pageSize = 25
    cloud.corruptDownloads = false
    cloud.imageEndpointsBefore = []
  })

  it('moves to the next image endpoint when a host refuses connections', async () => {
    cloud.addImage({ name: 'survivor' })
    // Nothing listens on port 1 of loopback, so the connection is refused at once.
    cloud.imageEndpointsBefore = ['http://127.0.0.1:1']
    const result = await run(['image', 'list', '-f', 'value', '-c', 'Name'], cloud.env)
    assert.equal(result.code, 0, result.stderr)
    assert.equal(result.stdout.toString(), 'survivor\n')
    assert.match(result.stderr, /http:\/\/127\.0\.0\.1:1 failed \(.*\); retrying on /)
  })

  it('resumes a download cut off mid-body on the next host', async () => {
    const data = Buffer.alloc(300_000)
    for (let i = 0; i < data.length; i++) data[i] = i % 251
    const image = cloud.addImage({ name: 'resumed' }, data)
    // A host that passes every call to the cloud but dies halfway through a download.
    const dying = createServer((request, response) => {
      if (request.method === 'GET' && request.url?.endsWith('/file')) {
        response.writeHead(200, { 'content-length': data.length })
        response.write(data.subarray(0, 100_000), () => response.socket?.destroy())
        return
      }
      const forwarded = httpRequest(new URL(request.url ?? '/', cloud.origin), {
        method: request.method,
        headers: request.headers,
      })
      forwarded.on('response', (reply) => {
        response.writeHead(reply.statusCode ?? 502, reply.headers)
        reply.pipe(response)
      })
      request.pipe(forwarded)
    })
    await new Promise<void>((resolve) => dying.listen(0, '127.0.0.1', resolve))
    try {
      cloud.imageEndpointsBefore = [`http://127.0.0.1:${(dying.address() as AddressInfo).port}`]
      const file = join(workDir, 'resumed.raw')
      const result = await run(['image', 'save', '--file', file, image.id], cloud.env)
      assert.equal(result.code, 0, result.stderr)
      assert.match(result.stderr, /download cut off after 100000 bytes.*retrying on /)
      assert.deepEqual(await readFile(file), data)
      const ranged = cloud.requests.filter((r) => r.headers.range !== undefined)
      assert.deepEqual(
        ranged.map((r) => r.headers.range),
        ['bytes=100000-'],
      )
    } finally {
      dying.close()
    }
  })

  it('uploads the whole file again on the next host after a 5xx', async () => {
    // A host that passes every call to the cloud but fails image uploads with 503.
    const failing = createServer((request, response) => {
      if (request.method === 'PUT' && request.url?.endsWith('/file')) {
        request.resume()
        request.on('end', () => {
          response.writeHead(503, { 'content-type': 'application/json' })
          response.end('{"message": "store unavailable"}')
        })
        return
      }
      const forwarded = httpRequest(new URL(request.url ?? '/', cloud.origin), {
        method: request.method,
        headers: request.headers,
      })
      forwarded.on('response', (reply) => {
        response.writeHead(reply.statusCode ?? 502, reply.headers)
        reply.pipe(response)
      })
      request.pipe(forwarded)
    })
    await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve))
    try {
      const origin = `http://127.0.0.1:${(failing.address() as AddressInfo).port}`
      cloud.imageEndpointsBefore = [origin]
      const data = Buffer.alloc(200_000, 3)
      const file = join(workDir, 'retry.raw')
      await writeFile(file, data)
      const args = ['image', 'create', '--disk-format', 'raw', '--container-format', 'bare']
      const result = await run([...args, '--file', file, '-f', 'json', 'retried'], cloud.env)
      assert.equal(result.code, 0, result.stderr)
      assert.match(result.stderr, /failed \(.*503.*\); retrying on /)
      const [stored] = [...cloud.images.values()]
      assert.deepEqual(stored?.data, data)
    } finally {
      failing.close()
    }
  })

  it('creates an image and streams the file', async () => {
    const data = Buffer.alloc(300_000, 7)
    const file = join(workDir, 'disk.qcow2')
    await writeFile(file, data)

    const args = [
      'image',
      'create',
      '--insecure',
      '--container-format',
      'bare',
      '--disk-format',
      'qcow2',
    ]
    args.push(
      '--public',
      '--property',
      'os_distro=ubuntu',
      '--tag',
      'lts',
      '--file',
      file,
      'my-image',
    )
    const result = await run(args, cloud.env)

    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout.toString(), /\| status +\| active +\|/)
    assert.match(result.stdout.toString(), /\| properties +\| .*os_distro='ubuntu'/)
    const created = cloud.requests.find(
      (request) => request.method === 'POST' && request.path === '/v2/images',
    )
    assert.deepEqual(JSON.parse(created?.body.toString() ?? ''), {
      os_distro: 'ubuntu',
      name: 'my-image',
      disk_format: 'qcow2',
      container_format: 'bare',
      visibility: 'public',
      tags: ['lts'],
    })
    const upload = cloud.requests.find((request) => request.method === 'PUT')
    assert.equal(upload?.headers['content-type'], 'application/octet-stream')
    assert.equal(upload?.headers['content-length'], String(data.length))
    assert.equal(upload?.headers['accept'], 'application/json')
    assert.deepEqual([...cloud.images.values()][0]?.data, data)
  })

  it('uploads standard input for --file -', async () => {
    const data = Buffer.from('raw image bytes')
    const result = await run(
      ['image', 'create', 'piped', '--file', '-', '-f', 'value', '-c', 'size'],
      cloud.env,
      {
        stdin: Readable.from([data]),
      },
    )
    assert.equal(result.code, 0, result.stderr)
    assert.equal(result.stdout.toString(), `${data.length}\n`)
  })

  it('cleans up after a failed upload', async () => {
    const file = join(workDir, 'small.raw')
    await writeFile(file, 'x')
    cloud.failNextUpload = { status: 413, message: 'Image exceeds the storage quota' }

    const result = await run(['image', 'create', 'big', '--file', file], cloud.env)
    assert.equal(result.code, 1)
    assert.match(result.stderr, /Image exceeds the storage quota \(HTTP 413, req-fake-0001\)/)
    assert.doesNotMatch(result.stderr, /<br/)
    assert.match(result.stderr, /Deleted the queued image/)
    assert.equal(cloud.images.size, 0)
  })

  it('checks the file before creating', async () => {
    const result = await run(['image', 'create', 'x', '--file', join(workDir, 'nope')], cloud.env)
    assert.equal(result.code, 1)
    assert.match(result.stderr, /Cannot read the image file/)
    assert.equal(cloud.requests.length, 0)
  })

  it('follows next links and sorts by name', async () => {
    for (const name of ['delta', 'alpha', 'echo', 'charlie', 'bravo']) cloud.addImage({ name })
    cloud.pageSize = 2

    const rows = parseJson(await run(['image', 'list', '-f', 'json'], cloud.env)) as Array<
      Record<string, string>
    >
    assert.deepEqual(
      rows.map((row) => row['Name']),
      ['alpha', 'bravo', 'charlie', 'delta', 'echo'],
    )
    assert.deepEqual(Object.keys(rows[0] ?? {}), ['ID', 'Name', 'Status'])
    const pages = cloud.requests.filter(
      (request) => request.path.startsWith('/v2/images?') || request.path === '/v2/images',
    )
    assert.equal(pages.length, 3)
  })

  it('sends one request for --limit', async () => {
    for (const name of ['a', 'b', 'c']) cloud.addImage({ name })
    cloud.pageSize = 1
    const rows = parseJson(
      await run(['image', 'list', '--limit', '2', '-f', 'json'], cloud.env),
    ) as unknown[]
    assert.equal(rows.length, 2)
    assert.equal(
      cloud.requests.filter((request) => request.path.startsWith('/v2/images')).length,
      1,
    )
  })

  it('passes filters and sort to the server', async () => {
    cloud.addImage({ name: 'a', visibility: 'public', tags: ['x'], os_distro: 'ubuntu' })
    const args = ['image', 'list', '--public', '--tag', 'x', '--property', 'os_distro=ubuntu']
    args.push('--status', 'queued', '--sort', 'name:desc', '--long', '-f', 'json')
    const rows = parseJson(await run(args, cloud.env)) as Array<Record<string, unknown>>

    const listed = cloud.requests.find((request) => request.path.startsWith('/v2/images?'))
    const query = new URL(listed?.path ?? '', cloud.origin).searchParams
    assert.equal(query.get('visibility'), 'public')
    assert.equal(query.get('tag'), 'x')
    assert.equal(query.get('os_distro'), 'ubuntu')
    assert.equal(query.get('status'), 'queued')
    assert.equal(query.get('sort'), 'name:desc')
    assert.deepEqual(Object.keys(rows[0] ?? {}), [
      'ID',
      'Name',
      'Disk Format',
      'Container Format',
      'Size',
      'Checksum',
      'Status',
      'Visibility',
      'Protected',
      'Project',
      'Tags',
    ])
  })

  it('shows an image by name', async () => {
    cloud.addImage({ name: 'ubuntu', hw_disk_bus: 'virtio' }, Buffer.from('data'))
    const fields = parseJson(
      await run(['image', 'show', 'ubuntu', '-f', 'json'], cloud.env),
    ) as Record<string, unknown>
    assert.equal(fields['name'], 'ubuntu')
    assert.equal(fields['status'], 'active')
    assert.equal(fields['checksum'], createHash('md5').update('data').digest('hex'))
    assert.deepEqual(fields['tags'], [])
    assert.equal((fields['properties'] as Record<string, unknown>)['hw_disk_bus'], 'virtio')
    assert.equal(fields['self'], undefined)
  })

  it('lists the ids of an ambiguous name', async () => {
    const first = cloud.addImage({ name: 'twin' })
    const second = cloud.addImage({ name: 'twin' })
    const result = await run(['image', 'show', 'twin'], cloud.env)
    assert.equal(result.code, 1)
    assert.match(result.stderr, new RegExp(first.id))
    assert.match(result.stderr, new RegExp(second.id))
  })

  it('reports a missing image', async () => {
    const result = await run(['image', 'show', '9f0e6b1c-8d2a-4e3f-b5c6-7a8b9c0d1e2f'], cloud.env)
    assert.equal(result.code, 1)
    assert.match(result.stderr, /No image found with name or ID '9f0e6b1c-/)
  })

  it('patches an image with the v2.1 media type', async () => {
    const image = cloud.addImage({ name: 'old', tags: ['a'], os_distro: 'debian' })
    const args = ['image', 'set', 'old', '--name', 'new', '--property', 'os_distro=ubuntu']
    args.push('--property', 'hw_disk_bus=virtio', '--tag', 'b', '--private', '--min-ram', '512')
    const result = await run(args, cloud.env)

    assert.equal(result.code, 0, result.stderr)
    assert.equal(result.stdout.length, 0)
    const patch = cloud.requests.find((request) => request.method === 'PATCH')
    assert.equal(patch?.headers['content-type'], 'application/openstack-images-v2.1-json-patch')
    assert.deepEqual(JSON.parse(patch?.body.toString() ?? ''), [
      { op: 'replace', path: '/name', value: 'new' },
      { op: 'replace', path: '/min_ram', value: 512 },
      { op: 'replace', path: '/visibility', value: 'private' },
      { op: 'replace', path: '/os_distro', value: 'ubuntu' },
      { op: 'add', path: '/hw_disk_bus', value: 'virtio' },
      { op: 'replace', path: '/tags', value: ['a', 'b'] },
    ])
    assert.equal(image.name, 'new')
    assert.equal(image['hw_disk_bus'], 'virtio')
  })

  it('unsets what exists and reports the rest', async () => {
    const image = cloud.addImage({ name: 'img', tags: ['a', 'b'], os_distro: 'debian' })
    const args = [
      'image',
      'unset',
      'img',
      '--property',
      'os_distro',
      '--property',
      'nope',
      '--tag',
      'a',
    ]
    const result = await run(args, cloud.env)
    assert.equal(result.code, 1)
    assert.match(result.stderr, /no property 'nope'/)
    assert.equal(image['os_distro'], undefined)
    assert.deepEqual(image.tags, ['b'])
  })

  it('deletes images despite failures', async () => {
    const first = cloud.addImage({ name: 'one' })
    const protectedImage = cloud.addImage({ name: 'locked', protected: true })
    const third = cloud.addImage({ name: 'three' })
    const result = await run(
      ['image', 'delete', first.id, 'locked', 'missing', third.id],
      cloud.env,
    )

    assert.equal(result.code, 1)
    assert.match(result.stderr, /Failed to delete image 'locked': .*protected/)
    assert.match(result.stderr, /Failed to delete image 'missing': No image found/)
    assert.match(result.stderr, /Failed to delete 2 of 4 images\./)
    assert.deepEqual([...cloud.images.keys()], [protectedImage.id])
  })

  it('saves image data after checking its checksums', async () => {
    const data = Buffer.alloc(100_000, 3)
    cloud.addImage({ name: 'img' }, data)
    const file = join(workDir, 'saved.raw')
    const result = await run(['image', 'save', 'img', '--file', file], cloud.env)

    assert.equal(result.code, 0, result.stderr)
    assert.deepEqual(await readFile(file), data)
  })

  it('writes image data to standard output', async () => {
    cloud.addImage({ name: 'img' }, Buffer.from('bytes on stdout'))
    const result = await run(['image', 'save', 'img'], cloud.env)
    assert.equal(result.code, 0, result.stderr)
    assert.equal(result.stdout.toString(), 'bytes on stdout')
  })

  it('deletes a saved file whose checksum does not match', async () => {
    cloud.addImage({ name: 'img' }, Buffer.alloc(1000, 1))
    cloud.corruptDownloads = true
    const file = join(workDir, 'corrupt.raw')
    const result = await run(['image', 'save', 'img', '--file', file], cloud.env)

    assert.equal(result.code, 1)
    assert.match(result.stderr, /corrupt: its md5 is [0-9a-f]{32}, but the image's checksum is/)
    await assert.rejects(stat(file), { code: 'ENOENT' })
  })

  it('fails to save an image without data', async () => {
    cloud.addImage({ name: 'empty' })
    const result = await run(
      ['image', 'save', 'empty', '--file', join(workDir, 'empty.raw')],
      cloud.env,
    )
    assert.equal(result.code, 1)
    assert.match(result.stderr, /has no data \(status queued\)/)
  })

  it('shares an image with a project found by name', async () => {
    const image = cloud.addImage({ name: 'shared-img', visibility: 'shared' })
    const added = parseJson(
      await run(['image', 'add', 'project', 'shared-img', 'other', '-f', 'json'], cloud.env),
    )
    assert.deepEqual(Object.keys(added as object), [
      'created_at',
      'image_id',
      'member_id',
      'schema',
      'status',
      'updated_at',
    ])
    assert.equal((added as Record<string, string>)['member_id'], otherProjectId)

    const accepted = await run(
      ['image', 'set', image.id, '--accept', '--project', otherProjectId],
      cloud.env,
    )
    assert.equal(accepted.code, 0, accepted.stderr)
    const members = parseJson(
      await run(['image', 'member', 'list', 'shared-img', '-f', 'json'], cloud.env),
    )
    assert.deepEqual(members, [
      { 'Image ID': image.id, 'Member ID': otherProjectId, Status: 'accepted' },
    ])

    const removed = await run(
      ['image', 'remove', 'project', 'shared-img', otherProjectId],
      cloud.env,
    )
    assert.equal(removed.code, 0, removed.stderr)
    assert.deepEqual(cloud.members.get(image.id), [])
  })

  it('updates the own membership by default', async () => {
    const image = cloud.addImage({ name: 'img' })
    cloud.members.set(image.id, [
      {
        image_id: image.id,
        member_id: fakeProjectId,
        status: 'pending',
        created_at: '',
        updated_at: '',
        schema: '',
      },
    ])
    const result = await run(['image', 'set', image.id, '--reject'], cloud.env)
    assert.equal(result.code, 0, result.stderr)
    assert.equal(cloud.members.get(image.id)?.[0]?.status, 'rejected')
  })

  it('accepts connection flags after the command name', async () => {
    const result = await run(['image', 'list', '--long', '--os-password', 'wrong'], cloud.env)
    assert.equal(result.code, 1)
    assert.match(result.stderr, /Authentication failed/)
  })

  it('explains a wrong password', async () => {
    const result = await run(['image', 'list'], { ...cloud.env, OS_PASSWORD: 'wrong' })
    assert.equal(result.code, 1)
    assert.match(result.stderr, /Authentication failed at .*\/v3\/auth\/tokens/)
    assert.match(result.stderr, /HTTP 401/)
    assert.match(result.stderr, /OS_PASSWORD/)
  })

  it('lists the endpoints when the region has none', async () => {
    const result = await run(['image', 'list'], { ...cloud.env, OS_REGION_NAME: 'RegionTwo' })
    assert.equal(result.code, 1)
    assert.match(result.stderr, /no image endpoint for interface 'public' in region 'RegionTwo'/)
    assert.match(result.stderr, /internal in region RegionOne: http:\/\/127\.0\.0\.1:\d+/)
  })

  it('reports an unreachable server', async () => {
    const result = await run(['image', 'list'], { ...cloud.env, OS_AUTH_URL: 'http://127.0.0.1:1' })
    assert.equal(result.code, 1)
    assert.match(result.stderr, /Cannot connect to http:\/\/127\.0\.0\.1:1/)
  })
})

describe('TLS', () => {
  let cloud: FakeCloud | undefined
  let workDir: string
  let caFile: string
  let skipReason: string | undefined

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'pcdctl-tls-'))
    const keyFile = join(workDir, 'key.pem')
    caFile = join(workDir, 'cert.pem')
    try {
      await promisify(execFile)('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        keyFile,
        '-out',
        caFile,
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ])
    } catch (error) {
      skipReason = `openssl cannot make a test certificate: ${String(error)}`
      return
    }
    cloud = await startFakeCloud({
      key: await readFile(keyFile, 'utf8'),
      cert: await readFile(caFile, 'utf8'),
    })
  })

  after(async () => {
    await cloud?.stop()
    await rm(workDir, { recursive: true, force: true })
  })

  it('suggests --insecure or --os-cacert for an unknown CA', async (context) => {
    if (cloud === undefined) return context.skip(skipReason)
    const result = await run(['image', 'list'], cloud.env)
    assert.equal(result.code, 1)
    assert.match(result.stderr, /TLS certificate verification failed/)
    assert.match(result.stderr, /--os-cacert/)
    assert.match(result.stderr, /--insecure/)
  })

  it('trusts the CA file from --os-cacert or OS_CACERT', async (context) => {
    if (cloud === undefined) return context.skip(skipReason)
    assert.equal((await run(['image', 'list', '--os-cacert', caFile], cloud.env)).code, 0)
    assert.equal((await run(['image', 'list'], { ...cloud.env, OS_CACERT: caFile })).code, 0)
  })

  it('skips verification with --insecure or OS_INSECURE', async (context) => {
    if (cloud === undefined) return context.skip(skipReason)
    assert.equal((await run(['--insecure', 'image', 'list'], cloud.env)).code, 0)
    assert.equal((await run(['image', 'list'], { ...cloud.env, OS_INSECURE: 'true' })).code, 0)
  })

  it('names a CA file that cannot be read', async (context) => {
    if (cloud === undefined) return context.skip(skipReason)
    const result = await run(
      ['image', 'list', '--os-cacert', join(workDir, 'missing.pem')],
      cloud.env,
    )
    assert.equal(result.code, 1)
    assert.match(result.stderr, /Cannot read the CA file/)
  })
})

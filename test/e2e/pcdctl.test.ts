import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { createTenant, pcdctlBin, startServer, type RunningServer } from '../helpers/server.js'

interface RunResult {
  code: number | null
  stdout: Buffer
  stderr: string
}

/** Runs bin/pcdctl as a tenant would after sourcing the RC file: the OS_* variables only. */
function pcdctl(args: string[], env: Record<string, string>, cwd: string): Promise<RunResult> {
  const child = spawn(process.execPath, [pcdctlBin, ...args], {
    cwd,
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const stdout: Buffer[] = []
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(stdout), stderr }))
  })
}

function succeeded(result: RunResult): string {
  assert.equal(result.code, 0, `pcdctl failed: ${result.stderr}`)
  return result.stdout.toString()
}

function parseJson<T>(result: RunResult): T {
  return JSON.parse(succeeded(result)) as T
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

describe('pcdctl against image-library serve', () => {
  let server: RunningServer
  let workDir: string
  let disk: Buffer
  const run = (args: string[], env: Record<string, string> = server.env) =>
    pcdctl(args, env, workDir)

  before(async () => {
    server = await startServer()
    workDir = await mkdtemp(join(tmpdir(), 'pcdctl-e2e-'))
    await promisify(execFile)('qemu-img', [
      'create',
      '-f',
      'qcow2',
      join(workDir, 'disk.qcow2'),
      '64M',
    ])
    disk = await readFile(join(workDir, 'disk.qcow2'))
  })

  after(async () => {
    await server?.stop()
    await rm(workDir, { recursive: true, force: true })
  })

  it('imports an image with the documented command', async () => {
    const args = ['image', 'create', '--insecure', '--container-format', 'bare']
    args.push('--disk-format', 'qcow2', '--public', '--file', 'disk.qcow2', 'my-image')
    const output = succeeded(await run(args))

    assert.match(output, /^\+-+\+-+\+\n\| Field +\| Value +\|/)
    assert.match(output, /\| name +\| my-image +\|/)
    assert.match(output, /\| status +\| active +\|/)
    assert.match(output, /\| disk_format +\| qcow2 +\|/)
    assert.match(output, /\| visibility +\| public +\|/)
    assert.match(output, /\| properties +\| .*os_hash_algo='sha512'/)
  })

  it('works with --insecure and no CA file', async () => {
    const { OS_CACERT: _caFile, ...withoutCa } = server.env
    const rejected = await run(['image', 'list'], withoutCa)
    assert.equal(rejected.code, 1)
    assert.match(rejected.stderr, /TLS certificate verification failed/)
    assert.match(rejected.stderr, /--insecure/)

    assert.match(succeeded(await run(['image', 'list', '--insecure'], withoutCa)), /my-image/)
  })

  it('shows the image with its checksums', async () => {
    const image = parseJson<Record<string, unknown>>(
      await run(['image', 'show', 'my-image', '-f', 'json']),
    )
    assert.equal(image['name'], 'my-image')
    assert.equal(image['status'], 'active')
    assert.equal(image['container_format'], 'bare')
    assert.equal(image['size'], disk.length)
    assert.equal(image['checksum'], createHash('md5').update(disk).digest('hex'))
    const properties = image['properties'] as Record<string, unknown>
    assert.equal(properties['os_hash_value'], createHash('sha512').update(disk).digest('hex'))
    assert.deepEqual(image['tags'], [])
  })

  it('lists the image in short and long form', async () => {
    const rows = parseJson<Array<Record<string, unknown>>>(
      await run(['image', 'list', '-f', 'json']),
    )
    const row = rows.find((candidate) => candidate['Name'] === 'my-image')
    assert.deepEqual(Object.keys(row ?? {}), ['ID', 'Name', 'Status'])
    assert.equal(row?.['Status'], 'active')

    const long = parseJson<Array<Record<string, unknown>>>(
      await run(['image', 'list', '--long', '-f', 'json']),
    )
    const longRow = long.find((candidate) => candidate['Name'] === 'my-image')
    assert.equal(longRow?.['Disk Format'], 'qcow2')
    assert.equal(longRow?.['Container Format'], 'bare')
    assert.equal(longRow?.['Size'], disk.length)
    assert.equal(longRow?.['Visibility'], 'public')
    assert.equal(longRow?.['Protected'], false)

    const values = succeeded(await run(['image', 'list', '--public', '-f', 'value', '-c', 'Name']))
    assert.match(values, /^my-image$/m)
  })

  it('sets and unsets fields, properties and tags', async () => {
    const setArgs = ['image', 'set', 'my-image', '--name', 'renamed', '--min-disk', '1']
    setArgs.push('--property', 'os_distro=ubuntu', '--tag', 'lts', '--protected')
    assert.equal(succeeded(await run(setArgs)), '')

    let image = parseJson<Record<string, unknown>>(
      await run(['image', 'show', 'renamed', '-f', 'json']),
    )
    assert.equal(image['name'], 'renamed')
    assert.equal(image['min_disk'], 1)
    assert.equal(image['protected'], true)
    assert.deepEqual(image['tags'], ['lts'])
    assert.equal((image['properties'] as Record<string, unknown>)['os_distro'], 'ubuntu')

    const unsetArgs = ['image', 'unset', 'renamed', '--property', 'os_distro', '--tag', 'lts']
    assert.equal(succeeded(await run(unsetArgs)), '')
    image = parseJson<Record<string, unknown>>(
      await run(['image', 'show', 'renamed', '-f', 'json']),
    )
    assert.deepEqual(image['tags'], [])
    assert.equal((image['properties'] as Record<string, unknown>)['os_distro'], undefined)

    succeeded(await run(['image', 'set', 'renamed', '--unprotected']))
  })

  it('saves the data with the same sha256', async () => {
    succeeded(await run(['image', 'save', 'renamed', '--file', 'saved.qcow2']))
    assert.equal(sha256(await readFile(join(workDir, 'saved.qcow2'))), sha256(disk))

    const piped = await run(['image', 'save', 'renamed'])
    assert.equal(piped.code, 0, piped.stderr)
    assert.equal(sha256(piped.stdout), sha256(disk))
  })

  it('rejects an ambiguous name and lists the candidates', async () => {
    const first = parseJson<{ id: string }>(await run(['image', 'create', 'twin', '-f', 'json']))
    const second = parseJson<{ id: string }>(await run(['image', 'create', 'twin', '-f', 'json']))

    const result = await run(['image', 'show', 'twin'])
    assert.equal(result.code, 1)
    assert.match(result.stderr, /More than one image is named 'twin'/)
    assert.ok(result.stderr.includes(first.id))
    assert.ok(result.stderr.includes(second.id))
  })

  it('deletes several images and reports the one it cannot find', async () => {
    const rows = parseJson<Array<{ ID: string; Name: string }>>(
      await run(['image', 'list', '-f', 'json']),
    )
    const twins = rows.filter((row) => row.Name === 'twin').map((row) => row.ID)
    assert.equal(twins.length, 2)

    const result = await run(['image', 'delete', ...twins, 'no-such-image'])
    assert.equal(result.code, 1)
    assert.match(result.stderr, /Failed to delete image 'no-such-image': No image found/)
    assert.match(result.stderr, /Failed to delete 1 of 3 images\./)

    const after = parseJson<Array<{ Name: string }>>(await run(['image', 'list', '-f', 'json']))
    assert.deepEqual(
      after.map((row) => row.Name),
      ['renamed'],
    )
  })

  it('shares an image with a project by name', async () => {
    const tenant = await createTenant(server, 'tenant-b')
    const tenantEnv = {
      ...server.env,
      OS_USERNAME: tenant.username,
      OS_PASSWORD: tenant.password,
      OS_PROJECT_NAME: tenant.project,
    }
    const image = parseJson<{ id: string }>(
      await run(['image', 'create', 'to-share', '--shared', '-f', 'json']),
    )

    const member = parseJson<Record<string, string>>(
      await run(['image', 'add', 'project', 'to-share', tenant.project, '-f', 'json']),
    )
    assert.equal(member['member_id'], tenant.projectId)
    assert.equal(member['status'], 'pending')

    succeeded(await run(['image', 'set', image.id, '--accept'], tenantEnv))
    const members = parseJson(await run(['image', 'member', 'list', 'to-share', '-f', 'json']))
    assert.deepEqual(members, [
      { 'Image ID': image.id, 'Member ID': tenant.projectId, Status: 'accepted' },
    ])

    succeeded(await run(['image', 'remove', 'project', 'to-share', tenant.projectId]))
    assert.deepEqual(
      parseJson(await run(['image', 'member', 'list', 'to-share', '-f', 'json'])),
      [],
    )
  })

  it('exits 1 and explains a wrong password', async () => {
    const result = await run(['image', 'list'], { ...server.env, OS_PASSWORD: 'wrong' })
    assert.equal(result.code, 1)
    assert.match(result.stderr, /Authentication failed/)
    assert.match(result.stderr, /HTTP 401/)
    assert.equal(result.stdout.length, 0)
  })

  it('exits 1 and names a missing variable', async () => {
    const { OS_AUTH_URL: _authUrl, ...withoutAuthUrl } = server.env
    const result = await run(['image', 'list'], withoutAuthUrl)
    assert.equal(result.code, 1)
    assert.match(result.stderr, /OS_AUTH_URL/)
    assert.match(result.stderr, /RC file/)
  })

  it('exits 2 on bad usage', async () => {
    const result = await run(['image', 'create', 'x', '--public', '--private'])
    assert.equal(result.code, 2)
  })

  it('leaves no partial file behind after a failed save', async () => {
    const result = await run(['image', 'save', 'to-share', '--file', 'empty.raw'])
    assert.equal(result.code, 1)
    assert.match(result.stderr, /has no data/)
    await assert.rejects(stat(join(workDir, 'empty.raw')), { code: 'ENOENT' })
  })
})

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { Agent, request as httpsRequest } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { call, issueToken } from '../helpers/client.js'
import { createTenant, startServer, type RunningServer, type Tenant } from '../helpers/server.js'

// End-to-end checks with the unmodified Debian `openstack` client (python3-openstackclient
// 6.0, which talks to the image API through openstacksdk 0.101 and to identity through
// keystoneclient). Each call starts a Python process, so one call takes about a second.

const run = promisify(execFile)

interface CliResult {
  code: number
  stdout: string
  stderr: string
}

type Env = Record<string, string>

/**
 * Runs `openstack` with exactly the given variables and resolves with its exit code.
 *
 * stdin is an empty pipe. `openstack image create` without --file uploads stdin as image data
 * whenever stdin is not a terminal, and it fails when stdin is closed, so every create here
 * passes --file.
 */
function openstack(env: Env, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(
      'openstack',
      args,
      { env, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        let code = 0
        if (error !== null) code = typeof error.code === 'number' ? error.code : -1
        resolve({ code, stdout, stderr })
      },
    )
    child.stdin?.end()
  })
}

/** Runs `openstack`, asserts exit status 0 and returns stdout. */
async function openstackOk(env: Env, args: string[]): Promise<string> {
  const result = await openstack(env, args)
  assert.equal(result.code, 0, `openstack ${args.join(' ')} failed:\n${result.stderr}`)
  return result.stdout
}

/** Runs `openstack ... -f json`, asserts exit status 0 and parses the output. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed CLI output
async function openstackJson<T = any>(env: Env, args: string[]): Promise<T> {
  return JSON.parse(await openstackOk(env, [...args, '-f', 'json'])) as T
}

/**
 * Extracts the body that `--debug` logged for the first response with this status. keystoneauth
 * logs bodies of application/json and text/plain responses after a `RESP BODY:` prefix, and
 * the next line that is not part of the body starts with the request method ("PUT call to").
 */
function debugResponseBody(stderr: string, status: number): string {
  const start = stderr.indexOf(`RESP BODY: ${status} `)
  assert.notEqual(start, -1, `no logged ${status} response body in:\n${stderr}`)
  const rest = stderr.slice(start)
  const end = rest.search(/\n(GET|PUT|POST|PATCH|DELETE|HEAD) call to /)
  return end === -1 ? rest : rest.slice(0, end)
}

function digest(algorithm: 'md5' | 'sha256' | 'sha512', data: Buffer): string {
  return createHash(algorithm).update(data).digest('hex')
}

/** Computes the volume size in bytes from the ISO 9660 primary volume descriptor. */
function isoVolumeBytes(iso: Buffer): number {
  const descriptor = 16 * 2048
  assert.equal(iso.subarray(descriptor + 1, descriptor + 6).toString('latin1'), 'CD001')
  return iso.readUInt32LE(descriptor + 80) * iso.readUInt16LE(descriptor + 128)
}

interface SocketResponse {
  status: number
  body: string
}

/**
 * Sends one request through `agent` and rejects when no response arrives within `timeoutMs`.
 * A Buffer body is written in 8 KiB pieces, as Python's http.client sends a file body.
 */
function sendOnAgent(
  server: RunningServer,
  agent: Agent,
  token: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: Buffer; timeoutMs: number },
): Promise<SocketResponse> {
  return new Promise((resolve, reject) => {
    const headers = { 'x-auth-token': token, ...options.headers }
    const url = new URL(path, server.imageUrl)
    const req = httpsRequest(url, { method, agent, ca: server.ca, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', reject)
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() })
      })
    })
    req.setTimeout(options.timeoutMs, () => {
      req.destroy(new Error(`${method} ${path}: no response within ${options.timeoutMs} ms`))
    })
    req.on('error', reject)

    const body = options.body
    if (body === undefined) {
      req.end()
      return
    }
    let offset = 0
    const writeNext = (): void => {
      if (offset >= body.length) {
        req.end()
        return
      }
      const piece = body.subarray(offset, offset + 8192)
      offset += piece.length
      if (req.write(piece)) setImmediate(writeNext)
      else req.once('drain', writeNext)
    }
    writeNext()
  })
}

interface ImageRow {
  ID: string
  Name: string
  Status: string
}

function rowNames(rows: ImageRow[]): string[] {
  return rows.map((row) => row.Name).sort()
}

describe('openstack CLI against image-library serve', () => {
  let server: RunningServer
  let workDir: string
  /** The admin's variables from admin-openrc.sh, TLS verified with OS_CACERT. */
  let adminEnv: Env
  let qcow2Path: string
  let qcow2: Buffer
  let rawPath: string
  let raw: Buffer
  let isoPath: string
  let iso: Buffer

  /** Builds the variables of a member user, as a tenant's own RC file would set them. */
  function tenantEnv(tenant: Tenant): Env {
    return {
      ...adminEnv,
      OS_USERNAME: tenant.username,
      OS_PASSWORD: tenant.password,
      OS_PROJECT_NAME: tenant.project,
      OS_INTERFACE: 'public',
    }
  }

  before(async () => {
    server = await startServer()
    workDir = await mkdtemp(join(tmpdir(), 'openstack-cli-e2e-'))
    const home = join(workDir, 'home')
    await mkdir(home)
    // Only PATH, HOME and the RC file's OS_* variables, so no clouds.yaml or OS_* variable of
    // the machine that runs the tests reaches the client.
    adminEnv = { PATH: process.env['PATH'] ?? '', HOME: home, ...server.env }
    assert.ok(adminEnv['OS_CACERT'], 'admin-openrc.sh sets no OS_CACERT')

    qcow2Path = join(workDir, 'disk.qcow2')
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', qcow2Path, '64M'])
    qcow2 = await readFile(qcow2Path)

    // A sparse 8 MiB raw disk with 2 MiB of random bytes from 1 MiB on, so it is not all zeros.
    rawPath = join(workDir, 'disk.raw')
    await run('qemu-img', ['create', '-q', '-f', 'raw', rawPath, '8M'])
    const ddArgs = ['bs=1M', 'count=2', 'seek=1', 'conv=notrunc', 'status=none']
    await run('dd', ['if=/dev/urandom', `of=${rawPath}`, ...ddArgs])
    raw = await readFile(rawPath)

    const isoDir = join(workDir, 'iso-root')
    await mkdir(isoDir)
    await writeFile(join(isoDir, 'README.txt'), 'image-library e2e\n')
    isoPath = join(workDir, 'x.iso')
    await run('xorriso', ['-as', 'mkisofs', '-quiet', '-V', 'E2E', '-o', isoPath, isoDir])
    iso = await readFile(isoPath)
  })

  after(async () => {
    await server?.stop()
    if (workDir !== undefined) await rm(workDir, { recursive: true, force: true })
  })

  describe('image lifecycle', () => {
    it('creates a protected public qcow2 image', async () => {
      const created = await openstackJson(adminEnv, [
        'image',
        'create',
        '--container-format',
        'bare',
        '--disk-format',
        'qcow2',
        '--public',
        '--file',
        qcow2Path,
        '--property',
        'os_distro=cirros',
        '--tag',
        't1',
        '--protected',
        'cirros-e2e',
      ])
      assert.equal(created.name, 'cirros-e2e')
      assert.match(created.id, /^[0-9a-f-]{36}$/)

      const details = await openstackJson(adminEnv, ['image', 'show', 'cirros-e2e'])
      assert.equal(details.id, created.id)
      assert.equal(details.status, 'active')
      assert.equal(details.checksum, digest('md5', qcow2))
      assert.equal(details.size, qcow2.length)
      assert.equal(details.virtual_size, 67108864)
      assert.equal(details.disk_format, 'qcow2')
      assert.equal(details.container_format, 'bare')
      assert.equal(details.visibility, 'public')
      assert.equal(details.protected, true)
      assert.deepEqual(details.tags, ['t1'])
      assert.equal(details.properties.os_distro, 'cirros')
      assert.equal(details.properties.os_hash_algo, 'sha512')
      assert.equal(details.properties.os_hash_value, digest('sha512', qcow2))
    })

    it('uploads a private raw disk', async () => {
      await openstackOk(adminEnv, [
        'image',
        'create',
        '--container-format',
        'bare',
        '--disk-format',
        'raw',
        '--private',
        '--file',
        rawPath,
        'raw-e2e',
      ])

      const details = await openstackJson(adminEnv, ['image', 'show', 'raw-e2e'])
      assert.equal(details.status, 'active')
      assert.equal(details.disk_format, 'raw')
      assert.equal(details.visibility, 'private')
      assert.equal(details.checksum, digest('md5', raw))
      assert.equal(details.size, raw.length)
      assert.equal(details.virtual_size, raw.length)
    })

    it('uploads an ISO made by xorriso', async () => {
      await openstackOk(adminEnv, [
        'image',
        'create',
        '--container-format',
        'bare',
        '--disk-format',
        'iso',
        '--file',
        isoPath,
        'iso-e2e',
      ])

      const details = await openstackJson(adminEnv, ['image', 'show', 'iso-e2e'])
      assert.equal(details.status, 'active')
      assert.equal(details.disk_format, 'iso')
      assert.equal(details.checksum, digest('md5', iso))
      assert.equal(details.size, iso.length)
      // Glance's format inspector computes an ISO's virtual_size as the volume space size times
      // the logical block size, both read from the primary volume descriptor.
      assert.equal(details.virtual_size, isoVolumeBytes(iso))
      // Glance has made `shared` the default visibility since the Ocata release.
      assert.equal(details.visibility, 'shared')
    })

    it('lists images with visibility and property filters', async () => {
      const all = await openstackJson<ImageRow[]>(adminEnv, ['image', 'list'])
      assert.deepEqual(rowNames(all), ['cirros-e2e', 'iso-e2e', 'raw-e2e'])
      for (const row of all) assert.equal(row.Status, 'active')

      const publicRows = await openstackJson<ImageRow[]>(adminEnv, ['image', 'list', '--public'])
      assert.deepEqual(rowNames(publicRows), ['cirros-e2e'])

      const privateRows = await openstackJson<ImageRow[]>(adminEnv, ['image', 'list', '--private'])
      assert.deepEqual(rowNames(privateRows), ['raw-e2e'])

      const cirrosRows = await openstackJson<ImageRow[]>(adminEnv, [
        'image',
        'list',
        '--property',
        'os_distro=cirros',
      ])
      assert.deepEqual(rowNames(cirrosRows), ['cirros-e2e'])
    })

    it('lists details with --long', async () => {
      const rows = await openstackJson<Record<string, unknown>[]>(adminEnv, [
        'image',
        'list',
        '--long',
      ])
      const cirros = rows.find((row) => row['Name'] === 'cirros-e2e')
      assert.ok(cirros, `cirros-e2e missing from ${JSON.stringify(rows)}`)
      assert.equal(cirros['Disk Format'], 'qcow2')
      assert.equal(cirros['Container Format'], 'bare')
      assert.equal(cirros['Size'], qcow2.length)
      assert.equal(cirros['Checksum'], digest('md5', qcow2))
      assert.equal(cirros['Status'], 'active')
      assert.equal(cirros['Visibility'], 'public')
      assert.equal(cirros['Protected'], true)
      assert.deepEqual(cirros['Tags'], ['t1'])
    })

    it('saves data identical to the upload', async () => {
      for (const [name, source] of [
        ['cirros-e2e', qcow2],
        ['raw-e2e', raw],
        ['iso-e2e', iso],
      ] as const) {
        const output = join(workDir, `${name}.out`)
        await openstackOk(adminEnv, ['image', 'save', '--file', output, name])
        assert.equal(digest('sha256', await readFile(output)), digest('sha256', source), name)
      }
    })

    it('sets and unsets name, property and min_disk', async () => {
      await openstackOk(adminEnv, [
        'image',
        'set',
        '--name',
        'cirros-renamed',
        '--property',
        'k=v',
        '--min-disk',
        '1',
        'cirros-e2e',
      ])
      const changed = await openstackJson(adminEnv, ['image', 'show', 'cirros-renamed'])
      assert.equal(changed.name, 'cirros-renamed')
      assert.equal(changed.properties.k, 'v')
      assert.equal(changed.properties.os_distro, 'cirros')
      assert.equal(changed.min_disk, 1)

      await openstackOk(adminEnv, ['image', 'unset', '--property', 'k', 'cirros-renamed'])
      const unset = await openstackJson(adminEnv, ['image', 'show', 'cirros-renamed'])
      assert.equal('k' in unset.properties, false)
      assert.equal(unset.properties.os_distro, 'cirros')
      assert.equal(unset.min_disk, 1)

      const old = await openstack(adminEnv, ['image', 'show', 'cirros-e2e'])
      assert.notEqual(old.code, 0, 'the old name still finds the image')
    })

    it('rejects deleting a protected image', async () => {
      // openstacksdk prints only the status reason ("Forbidden") for a text/plain error body,
      // as it does for Glance, so the server's explanation is read from the --debug log.
      const result = await openstack(adminEnv, ['--debug', 'image', 'delete', 'cirros-renamed'])
      assert.notEqual(result.code, 0)
      assert.match(result.stderr, /Failed to delete 1 of 1 images/)
      assert.match(result.stderr, /HttpException: 403/)
      assert.match(debugResponseBody(result.stderr, 403), /protected/)

      const details = await openstackJson(adminEnv, ['image', 'show', 'cirros-renamed'])
      assert.equal(details.status, 'active')
      assert.equal(details.protected, true)
    })

    it('deletes several images once unprotected', async () => {
      await openstackOk(adminEnv, ['image', 'set', '--unprotected', 'cirros-renamed'])
      const details = await openstackJson(adminEnv, ['image', 'show', 'cirros-renamed'])
      assert.equal(details.protected, false)

      await openstackOk(adminEnv, ['image', 'delete', 'cirros-renamed', 'raw-e2e', 'iso-e2e'])
      const rows = await openstackJson<ImageRow[]>(adminEnv, ['image', 'list'])
      assert.deepEqual(rows, [])
    })
  })

  describe('upload that does not match disk_format', () => {
    it('fails the CLI with both formats named', async () => {
      const result = await openstack(adminEnv, [
        '--debug',
        'image',
        'create',
        '--container-format',
        'bare',
        '--disk-format',
        'raw',
        '--file',
        qcow2Path,
        'mismatch-e2e',
      ])
      assert.notEqual(result.code, 0)
      assert.match(result.stderr, /BadRequestException: 400/)
      const body = debugResponseBody(result.stderr, 400)
      assert.match(body, /qcow2/)
      assert.match(body, /\braw\b/)

      // openstacksdk 0.101 deletes the image itself when the upload fails
      // (Proxy._upload_image_put), so nothing is left for the CLI to show.
      const rows = await openstackJson<ImageRow[]>(adminEnv, ['image', 'list'])
      assert.deepEqual(rowNames(rows), [])
    })

    it('leaves the image queued for a correct upload', async () => {
      // The image is created through the API because the CLI cannot create an image without
      // data when stdin is not a terminal (see openstack() above).
      const token = await issueToken(server)
      const create = await call(server, server.imageUrl, 'POST', '/v2/images', {
        token,
        body: { name: 'queued-e2e', disk_format: 'raw', container_format: 'bare' },
      })
      assert.equal(create.status, 201)
      const imageId: string = create.json().id

      const upload = (data: Buffer) =>
        call(server, server.imageUrl, 'PUT', `/v2/images/${imageId}/file`, {
          token,
          headers: { 'content-type': 'application/octet-stream' },
          body: data,
        })
      const rejected = await upload(qcow2)
      assert.equal(rejected.status, 400)
      assert.match(rejected.text(), /qcow2/)
      assert.match(rejected.text(), /\braw\b/)

      const queued = await openstackJson(adminEnv, ['image', 'show', 'queued-e2e'])
      assert.equal(queued.id, imageId)
      assert.equal(queued.status, 'queued')
      assert.equal(queued.checksum ?? null, null)
      assert.equal(queued.size ?? null, null)

      const accepted = await upload(raw)
      assert.equal(accepted.status, 204)
      const active = await openstackJson(adminEnv, ['image', 'show', 'queued-e2e'])
      assert.equal(active.status, 'active')
      assert.equal(active.checksum, digest('md5', raw))

      await openstackOk(adminEnv, ['image', 'delete', 'queued-e2e'])
    })
  })

  describe('connection reuse after a rejected upload', () => {
    it('answers the next request on the same connection', async () => {
      // openstacksdk deletes the image after a failed upload, on the same keep-alive
      // connection. A server that stops reading the rest of a rejected body leaves that DELETE
      // unanswered until its keep-alive timeout (75 s) closes the connection, and the CLI then
      // retries on a new one. Whether the body is still unread when the upload is rejected
      // depends on timing (a build with that fault stalled in about 1 round in 25), so the
      // sequence of create, PUT of qcow2 data declared raw and DELETE repeats.
      const data = Buffer.concat([qcow2.subarray(0, 64 * 1024), randomBytes(960 * 1024)])
      const token = await issueToken(server)
      const rounds = 150
      for (let round = 1; round <= rounds; round++) {
        const agent = new Agent({ keepAlive: true, maxSockets: 1 })
        try {
          const created = await sendOnAgent(server, agent, token, 'POST', '/v2/images', {
            headers: { 'content-type': 'application/json' },
            body: Buffer.from(
              JSON.stringify({ name: 'reuse-e2e', disk_format: 'raw', container_format: 'bare' }),
            ),
            timeoutMs: 10_000,
          })
          assert.equal(created.status, 201, created.body)
          const imageId = JSON.parse(created.body).id as string

          const uploaded = await sendOnAgent(
            server,
            agent,
            token,
            'PUT',
            `/v2/images/${imageId}/file`,
            {
              headers: {
                'content-type': 'application/octet-stream',
                'content-length': String(data.length),
              },
              body: data,
              timeoutMs: 10_000,
            },
          )
          assert.equal(uploaded.status, 400, uploaded.body)

          const deleted = await sendOnAgent(
            server,
            agent,
            token,
            'DELETE',
            `/v2/images/${imageId}`,
            {
              timeoutMs: 5_000,
            },
          ).catch((error: Error) => {
            assert.fail(`round ${round} of ${rounds}: ${error.message} after a rejected upload`)
          })
          assert.equal(deleted.status, 204, deleted.body)
        } finally {
          agent.destroy()
        }
      }
    })
  })

  describe('TLS verification', () => {
    it('works with --insecure and no OS_CACERT', async () => {
      const insecureEnv = { ...adminEnv }
      delete insecureEnv['OS_CACERT']
      const token = await openstackJson(insecureEnv, ['--insecure', 'token', 'issue'])
      assert.ok(token.id)
      const rows = await openstackJson<ImageRow[]>(insecureEnv, ['--insecure', 'image', 'list'])
      assert.ok(Array.isArray(rows))
    })

    it('rejects the certificate without OS_CACERT', async () => {
      const untrustingEnv = { ...adminEnv }
      delete untrustingEnv['OS_CACERT']
      const result = await openstack(untrustingEnv, ['token', 'issue', '-f', 'json'])
      assert.notEqual(result.code, 0)
      assert.match(result.stderr, /CERTIFICATE_VERIFY_FAILED/)
    })
  })

  describe('image sharing between two projects', () => {
    let owner: Tenant
    let consumer: Tenant
    let imageId: string

    before(async () => {
      owner = await createTenant(server, 'alpha')
      consumer = await createTenant(server, 'beta')
    })

    it('adds the second project as a pending member', async () => {
      const created = await openstackJson(tenantEnv(owner), [
        'image',
        'create',
        '--container-format',
        'bare',
        '--disk-format',
        'qcow2',
        '--shared',
        '--file',
        qcow2Path,
        'shared-e2e',
      ])
      imageId = created.id
      assert.equal(created.visibility, 'shared')
      assert.equal(created.owner, owner.projectId)

      // A member-role user may not look projects up in Keystone, so the client would send a
      // project name unchanged as the member id. The owner therefore passes the project id.
      const member = await openstackJson(tenantEnv(owner), [
        'image',
        'add',
        'project',
        imageId,
        consumer.projectId,
      ])
      assert.equal(member.image_id, imageId)
      assert.equal(member.member_id, consumer.projectId)
      assert.equal(member.status, 'pending')

      const members = await openstackJson(tenantEnv(owner), ['image', 'member', 'list', imageId])
      assert.deepEqual(members, [
        { 'Image ID': imageId, 'Member ID': consumer.projectId, Status: 'pending' },
      ])

      const consumerRows = await openstackJson<ImageRow[]>(tenantEnv(consumer), ['image', 'list'])
      assert.deepEqual(rowNames(consumerRows), [])
    })

    it('shows the image to the member after it accepts', async () => {
      await openstackOk(tenantEnv(consumer), ['image', 'set', '--accept', imageId])

      const rows = await openstackJson<ImageRow[]>(tenantEnv(consumer), ['image', 'list'])
      assert.deepEqual(
        rows.map((row) => row.ID),
        [imageId],
      )
      const members = await openstackJson(tenantEnv(owner), ['image', 'member', 'list', imageId])
      assert.equal(members[0]['Status'], 'accepted')

      const output = join(workDir, 'shared.out')
      await openstackOk(tenantEnv(consumer), ['image', 'save', '--file', output, imageId])
      assert.equal(digest('sha256', await readFile(output)), digest('sha256', qcow2))
    })

    it('hides the image again after the owner removes the member', async () => {
      await openstackOk(tenantEnv(owner), [
        'image',
        'remove',
        'project',
        imageId,
        consumer.projectId,
      ])
      const members = await openstackJson(tenantEnv(owner), ['image', 'member', 'list', imageId])
      assert.deepEqual(members, [])

      const rows = await openstackJson<ImageRow[]>(tenantEnv(consumer), ['image', 'list'])
      assert.deepEqual(rows, [])
      const hidden = await openstack(tenantEnv(consumer), ['image', 'show', imageId, '-f', 'json'])
      assert.notEqual(hidden.code, 0)
    })

    it('resolves a project name when the admin shares', async () => {
      // The admin may read projects, so the client turns the name into the project id.
      const created = await openstackJson(adminEnv, [
        'image',
        'create',
        '--container-format',
        'bare',
        '--disk-format',
        'qcow2',
        '--shared',
        '--file',
        qcow2Path,
        'admin-shared-e2e',
      ])
      const member = await openstackJson(adminEnv, [
        'image',
        'add',
        'project',
        created.id,
        consumer.project,
      ])
      assert.equal(member.member_id, consumer.projectId)

      await openstackOk(adminEnv, ['image', 'delete', created.id])
    })
  })

  describe('identity commands', () => {
    it('issues a token for the admin project', async () => {
      const token = await openstackJson(adminEnv, ['token', 'issue'])
      const projects = await openstackJson<{ ID: string; Name: string }[]>(adminEnv, [
        'project',
        'list',
      ])
      const users = await openstackJson<{ ID: string; Name: string }[]>(adminEnv, ['user', 'list'])
      const adminProject = projects.find((row) => row.Name === adminEnv['OS_PROJECT_NAME'])
      const adminUser = users.find((row) => row.Name === adminEnv['OS_USERNAME'])
      assert.ok(token.id)
      assert.equal(token.project_id, adminProject?.ID)
      assert.equal(token.user_id, adminUser?.ID)
      assert.ok(Date.parse(token.expires) > Date.now(), `expired token: ${token.expires}`)
    })

    it('manages a project, a user and its role', async () => {
      const project = await openstackJson(adminEnv, ['project', 'create', 'gamma'])
      assert.equal(project.name, 'gamma')
      assert.equal(project.enabled, true)
      assert.match(project.id, /^[0-9a-f]{32}$/)

      const user = await openstackJson(adminEnv, [
        'user',
        'create',
        '--project',
        'gamma',
        '--password',
        'gamma-password',
        'gamma-user',
      ])
      assert.equal(user.name, 'gamma-user')
      assert.equal(user.default_project_id, project.id)

      // As in Keystone, a default project grants no role, so the user cannot scope to it yet.
      const userEnv = {
        ...adminEnv,
        OS_USERNAME: 'gamma-user',
        OS_PASSWORD: 'gamma-password',
        OS_PROJECT_NAME: 'gamma',
        OS_INTERFACE: 'public',
      }
      const assignmentArgs = ['role', 'assignment', 'list', '--user', 'gamma-user']
      assignmentArgs.push('--project', 'gamma', '--names')
      assert.deepEqual(await openstackJson(adminEnv, assignmentArgs), [])
      const unscoped = await openstack(userEnv, ['token', 'issue', '-f', 'json'])
      assert.notEqual(unscoped.code, 0)
      assert.match(unscoped.stderr, /HTTP 401/)

      await openstackOk(adminEnv, [
        'role',
        'add',
        '--project',
        'gamma',
        '--user',
        'gamma-user',
        'member',
      ])
      const assignments = await openstackJson(adminEnv, assignmentArgs)
      assert.equal(assignments.length, 1)
      assert.equal(assignments[0]['Role'], 'member')
      assert.equal(assignments[0]['User'], 'gamma-user@Default')
      assert.equal(assignments[0]['Project'], 'gamma@Default')

      const token = await openstackJson(userEnv, ['token', 'issue'])
      assert.equal(token.project_id, project.id)
      assert.equal(token.user_id, user.id)
      assert.deepEqual(await openstackJson(userEnv, ['image', 'list']), [])

      const projectNames = (await openstackJson(adminEnv, ['project', 'list'])).map(
        (row: { Name: string }) => row.Name,
      )
      assert.ok(projectNames.includes('gamma'), `gamma missing from ${projectNames}`)
      const userNames = (await openstackJson(adminEnv, ['user', 'list'])).map(
        (row: { Name: string }) => row.Name,
      )
      assert.ok(userNames.includes('gamma-user'), `gamma-user missing from ${userNames}`)

      await openstackOk(adminEnv, ['user', 'delete', 'gamma-user'])
      await openstackOk(adminEnv, ['project', 'delete', 'gamma'])

      const projectsAfter = await openstackJson(adminEnv, ['project', 'list'])
      assert.equal(
        projectsAfter.some((row: { Name: string }) => row.Name === 'gamma'),
        false,
      )
      const usersAfter = await openstackJson(adminEnv, ['user', 'list'])
      assert.equal(
        usersAfter.some((row: { Name: string }) => row.Name === 'gamma-user'),
        false,
      )
      const deleted = await openstack(userEnv, ['token', 'issue', '-f', 'json'])
      assert.notEqual(deleted.code, 0)
    })
  })

  describe('server log', () => {
    it('contains no errors after the client runs', async () => {
      const log = await readFile(join(server.dataDir, 'logs', 'image-library.log'), 'utf8')
      const errors = log
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { level: number; msg: string })
        .filter((entry) => entry.level >= 50)
      assert.deepEqual(errors, [])
    })
  })
})

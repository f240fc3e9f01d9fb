import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { imageClient, issueToken } from '../helpers/client.js'
import {
  postgresSkipReason,
  startPostgres,
  stopPostgres,
  type PostgresCluster,
} from '../helpers/postgres.js'
import {
  createTenant,
  imageLibraryBin,
  startServer,
  type RunningServer,
} from '../helpers/server.js'
import {
  createActiveImage,
  createImage,
  followLink,
  getImage,
  hexDigest,
  mib,
  uploadData,
  waitForImage,
  type ImageClient,
  type WireImage,
} from './fixtures.js'

const run = promisify(execFile)
const skip = postgresSkipReason ?? false

after(stopPostgres)

/** Follows the `next` links of a listing and returns the images of every page, in order. */
async function listAllPages(server: RunningServer, token: string, first: string) {
  const images: WireImage[] = []
  let link: string | undefined = first
  for (let page = 0; link !== undefined && page < 100; page++) {
    const response = await followLink(server, token, link)
    assert.equal(response.status, 200, response.text())
    const body = response.json() as { images: WireImage[]; next?: string }
    images.push(...body.images)
    link = body.next
  }
  return images
}

async function waitForImportEnd(api: ImageClient, id: string): Promise<WireImage> {
  return waitForImage(
    api,
    id,
    (image) =>
      image.os_glance_importing_to_stores === '' &&
      image.os_glance_import_task === undefined &&
      image.status !== 'importing',
  )
}

describe('server on PostgreSQL', { skip }, () => {
  let cluster: PostgresCluster
  let server: RunningServer
  let token: string
  let api: ImageClient

  before(async () => {
    cluster = await startPostgres()
    server = await startServer({ databaseUrl: await cluster.createDatabase() })
    token = await issueToken(server)
    api = imageClient(server, token)
  })

  after(async () => {
    await server?.stop()
  })

  it('uploads and downloads image data', async () => {
    const data = randomBytes(3 * mib + 17)
    const image = await createActiveImage(server, token, data, { name: 'pg-upload' })
    assert.equal(image.status, 'active')
    assert.equal(image.size, data.length)
    assert.equal(image.checksum, hexDigest('md5', data))
    assert.equal(image.os_hash_value, hexDigest('sha512', data))

    const download = await api('GET', `/v2/images/${image.id}/file`)
    assert.equal(download.status, 200)
    assert.equal(hexDigest('sha256', download.body), hexDigest('sha256', data))
  })

  it('sorts and pages a listing by name', async () => {
    for (const name of ['b', 'B', 'a', null, 'A', '_x']) {
      await createImage(api, { name, batch: 'pg-list' })
    }
    const expected = [null, 'A', 'B', '_x', 'a', 'b']
    for (const limit of [1, 2, 4]) {
      const images = await listAllPages(
        server,
        token,
        `/v2/images?batch=pg-list&sort=name:asc&limit=${limit}`,
      )
      assert.deepEqual(
        images.map((image) => image.name),
        expected,
        `pages of ${limit}`,
      )
    }
    const descending = await listAllPages(server, token, '/v2/images?batch=pg-list&sort_key=name')
    assert.deepEqual(
      descending.map((image) => image.name),
      [...expected].reverse(),
    )
  })

  it('shares an image with a member project', async () => {
    const owner = await createTenant(server, 'pg-owner')
    const guest = await createTenant(server, 'pg-guest')
    const ownerToken = await issueToken(server, owner)
    const guestApi = imageClient(server, await issueToken(server, guest))
    const data = randomBytes(64 * 1024)
    const image = await createActiveImage(server, ownerToken, data, { visibility: 'shared' })
    const ownerApi = imageClient(server, ownerToken)

    const added = await ownerApi('POST', `/v2/images/${image.id}/members`, {
      body: { member: guest.projectId },
    })
    assert.equal(added.status, 200, added.text())
    const listed = async (query: string) =>
      (await guestApi('GET', `/v2/images${query}`)).json().images.map((i: WireImage) => i.id)
    assert.deepEqual(await listed('?member_status=pending'), [image.id])
    assert.deepEqual(await listed(''), [])

    const accepted = await guestApi('PUT', `/v2/images/${image.id}/members/${guest.projectId}`, {
      body: { status: 'accepted' },
    })
    assert.equal(accepted.status, 200, accepted.text())
    assert.deepEqual(await listed(''), [image.id])
    const download = await guestApi('GET', `/v2/images/${image.id}/file`)
    assert.equal(hexDigest('sha256', download.body), hexDigest('sha256', data))
  })

  it('imports staged data and records the task', async () => {
    const data = randomBytes(256 * 1024)
    const image = await createImage(api, { disk_format: 'raw', container_format: 'bare' })
    const staged = await api('PUT', `/v2/images/${image.id}/stage`, {
      headers: { 'content-type': 'application/octet-stream' },
      body: data,
    })
    assert.equal(staged.status, 204, staged.text())

    const started = await api('POST', `/v2/images/${image.id}/import`, {
      body: { method: { name: 'glance-direct' } },
    })
    assert.equal(started.status, 202, started.text())
    const active = await waitForImportEnd(api, image.id)
    assert.equal(active.status, 'active')
    assert.equal(active.os_hash_value, hexDigest('sha512', data))

    const tasks = (await api('GET', `/v2/images/${image.id}/tasks`)).json().tasks
    assert.equal(tasks.length, 1)
    assert.equal(tasks[0].status, 'success')
    assert.equal(tasks[0].input.import_req.method.name, 'glance-direct')
  })

  it('reports quota usage of a project', async () => {
    const tenant = await createTenant(server, 'pg-usage')
    const tenantToken = await issueToken(server, tenant)
    const tenantApi = imageClient(server, tenantToken)
    await createActiveImage(server, tenantToken, randomBytes(1000))
    await createActiveImage(server, tenantToken, randomBytes(2345))
    await createImage(tenantApi, { name: 'no data' })

    const usage = (await tenantApi('GET', '/v2/info/usage')).json().usage
    assert.deepEqual(usage.image_size_total, { limit: -1, usage: 3345 })
    assert.deepEqual(usage.image_count_total, { limit: -1, usage: 3 })
    assert.deepEqual(usage.image_count_uploading, { limit: -1, usage: 0 })
  })

  it('keeps images, members and tokens across a restart', async () => {
    const data = randomBytes(mib)
    const image = await createActiveImage(server, token, data, {
      name: 'pg-survivor',
      tags: ['keep'],
      os_distro: 'debian',
      visibility: 'shared',
    })
    const member = { member: 'pg-survivor-member' }
    const added = await api('POST', `/v2/images/${image.id}/members`, { body: member })
    assert.equal(added.status, 200, added.text())
    assert.equal(await server.kill(), 0, 'the server should stop cleanly on SIGTERM')
    server = await startServer({ dataDir: server.dataDir, databaseUrl: server.databaseUrl! })
    api = imageClient(server, token)

    assert.deepEqual(await getImage(api, image.id), image)
    const members = (await api('GET', `/v2/images/${image.id}/members`)).json().members
    assert.deepEqual(
      members.map((entry: WireImage) => [entry.member_id, entry.status]),
      [['pg-survivor-member', 'pending']],
    )
    const download = await api('GET', `/v2/images/${image.id}/file`)
    assert.equal(hexDigest('sha256', download.body), hexDigest('sha256', data))
    const shared = await listAllPages(server, token, '/v2/images?batch=pg-list&sort=name:asc')
    assert.equal(shared.length, 6)
  })

  it('never logs the database password', async () => {
    const logFile = await readFile(join(server.dataDir, 'logs', 'image-library.log'), 'utf8')
    assert.ok(logFile.length > 0, 'the log file is empty')
    assert.equal(logFile.includes(cluster.password), false, 'the log file has the password')
    assert.equal(server.stderr().includes(cluster.password), false, 'stderr has the password')
  })
})

describe('admin db commands on PostgreSQL', { skip }, () => {
  it('migrates and lists migrations', async () => {
    const url = await (await startPostgres()).createDatabase()
    const admin = (...args: string[]) =>
      run(process.execPath, [imageLibraryBin, 'admin', '--database-url', url, 'db', ...args])

    const pending = await admin('version')
    assert.match(pending.stdout, /^0001-initial: pending$/m)
    const migrated = await admin('migrate')
    assert.match(migrated.stdout, /^0001-initial: Success$/m)
    assert.match(migrated.stdout, /^0004-image-locations: Success$/m)

    const applied = (await admin('version')).stdout.trim().split('\n')
    assert.ok(applied.length >= 4)
    for (const line of applied) assert.match(line, /^\d{4}-[a-z-]+: applied \d{4}-/)
    assert.equal((await admin('migrate')).stdout, 'The schema is up to date.\n')
  })
})

/**
 * Two hosts of one library: two server processes with their own data directories, one
 * PostgreSQL database, and two file stores in directories that both use, as on a shared mount.
 */
describe('two servers on one PostgreSQL database', { skip }, () => {
  let shared: string
  let hostA: RunningServer
  let hostB: RunningServer
  let token: string
  let apiA: ImageClient
  let apiB: ImageClient

  before(async () => {
    shared = await mkdtemp(join(tmpdir(), 'image-library-shared-'))
    const configToml = (hostName: string) => `
[cluster]
host_name = "${hostName}"
[store]
default = "fast"
[stores.fast]
type = "file"
directory = "${join(shared, 'fast')}"
[stores.slow]
type = "file"
directory = "${join(shared, 'slow')}"
`
    const databaseUrl = await (await startPostgres()).createDatabase()
    // The first host to start on a new database creates the admin user.
    hostA = await startServer({ configToml: configToml('host-a'), databaseUrl })
    hostB = await startServer({ configToml: configToml('host-b'), databaseUrl })
    token = await issueToken(hostA)
    apiA = imageClient(hostA, token)
    apiB = imageClient(hostB, token)
  })

  after(async () => {
    await Promise.all([hostA?.stop(), hostB?.stop()])
    if (shared !== undefined) await rm(shared, { recursive: true, force: true })
  })

  async function storeFiles(store: string) {
    const files = (await readdir(join(shared, store))).sort()
    const incomplete = await readdir(join(shared, store, '.incomplete'))
    return { files: files.filter((name) => name !== '.incomplete'), incomplete }
  }

  it('shares tokens and images between the hosts', async () => {
    const image = await createImage(apiA, { name: 'seen-by-both' })
    assert.equal((await getImage(apiB, image.id)).name, 'seen-by-both')
    const tokenFromB = await issueToken(hostB, {
      username: hostA.env.OS_USERNAME!,
      password: hostA.env.OS_PASSWORD!,
      project: hostA.env.OS_PROJECT_NAME!,
    })
    assert.equal((await getImage(imageClient(hostA, tokenFromB), image.id)).id, image.id)
  })

  it('lets one of two concurrent uploads win', async () => {
    const ids: string[] = []
    for (let round = 0; round < 4; round++) {
      const image = await createImage(apiA, { disk_format: 'raw', container_format: 'bare' })
      ids.push(image.id)
      const dataA = randomBytes(4 * mib)
      const dataB = randomBytes(4 * mib)
      const [viaA, viaB] = await Promise.all([
        uploadData(hostA, token, image.id, dataA),
        uploadData(hostB, token, image.id, dataB),
      ])
      const statuses = [viaA.status, viaB.status].sort()
      assert.deepEqual(statuses, [204, 409], `round ${round}: ${viaA.text()} ${viaB.text()}`)

      const winner = viaA.status === 204 ? dataA : dataB
      const active = await getImage(apiB, image.id)
      assert.equal(active.status, 'active')
      assert.equal(active.checksum, hexDigest('md5', winner))
      for (const api of [apiA, apiB]) {
        const download = await api('GET', `/v2/images/${image.id}/file`)
        assert.equal(hexDigest('sha256', download.body), hexDigest('sha256', winner))
      }
    }
    const fast = await storeFiles('fast')
    assert.deepEqual(fast.incomplete, [])
    for (const id of ids) assert.ok(fast.files.includes(id), `no data file for ${id}`)
    assert.equal(fast.files.length, ids.length, `unexpected files: ${fast.files.join(', ')}`)
  })

  it('accepts one of two concurrent copy-image imports', async () => {
    const data = randomBytes(8 * mib)
    const image = await createActiveImage(hostA, token, data)
    const body = { method: { name: 'copy-image' }, stores: ['slow'] }
    const [viaA, viaB] = await Promise.all([
      apiA('POST', `/v2/images/${image.id}/import`, { body }),
      apiB('POST', `/v2/images/${image.id}/import`, { body }),
    ])
    const statuses = [viaA.status, viaB.status].sort()
    assert.deepEqual(statuses, [202, 409], `${viaA.text()} ${viaB.text()}`)

    const copied = await waitForImportEnd(apiA, image.id)
    const tasks = (await apiB('GET', `/v2/images/${image.id}/tasks`)).json().tasks
    assert.equal(tasks.length, 1)
    assert.equal(tasks[0].status, 'success', tasks[0].message)
    assert.equal(copied.stores, 'fast,slow')
    assert.equal(copied.os_glance_failed_import, '')

    const slow = await storeFiles('slow')
    assert.deepEqual(slow.files, [image.id])
    assert.deepEqual(slow.incomplete, [])
    const download = await apiB('GET', `/v2/images/${image.id}/file`)
    assert.equal(hexDigest('sha256', download.body), hexDigest('sha256', data))
  })
})

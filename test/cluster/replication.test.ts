import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { imageClient, issueToken } from '../helpers/client.js'
import { admin, startServer, type RunningServer } from '../helpers/server.js'
import { createActiveImage, getImage, hexDigest, sleep } from '../api/fixtures.js'

let shared: string
let hostA: RunningServer
let hostB: RunningServer

/** Two hosts on one database, each with a store on its own disk. */
function hostConfig(name: string, interval: number): string {
  const lines = [
    '[database]',
    `url = "sqlite://${join(shared, 'library.db')}"`,
    '[store]',
    'default = "local"',
    '[stores.local]',
    'type = "file"',
    `directory = "${join(shared, `disk-${name}`)}"`,
    'local = true',
    '[cluster]',
    `host_name = "${name}"`,
    'heartbeat_interval = 1',
    'heartbeat_timeout = 3',
    'replicas = 2',
    `replication_interval = ${interval}`,
  ]
  return lines.join('\n')
}

async function onDisk(host: string): Promise<string[]> {
  const names = await readdir(join(shared, `disk-${host}`))
  return names.filter((name) => name !== '.incomplete')
}

async function seesHealthy(host: RunningServer, name: string): Promise<boolean> {
  const listed = JSON.parse(await admin(host, ['-f', 'json', 'host', 'list']))
  return listed.some((entry: { name: string; status: string }) => {
    return entry.name === name && entry.status === 'healthy'
  })
}

before(async () => {
  shared = await mkdtemp(join(tmpdir(), 'image-library-replication-'))
  hostA = await startServer({ configToml: hostConfig('host-a', 2) })
  // Host B takes host A's certificate, so that each host trusts the other's.
  const dataB = await mkdtemp(join(tmpdir(), 'image-library-test-'))
  await cp(join(hostA.dataDir, 'tls'), join(dataB, 'tls'), { recursive: true })
  hostB = await startServer({ dataDir: dataB, configToml: hostConfig('host-b', 2) })
  // A host reads from a peer only once it has seen the peer's heartbeat.
  const bothHealthy = async () =>
    (await seesHealthy(hostA, 'host-b')) && (await seesHealthy(hostB, 'host-a'))
  for (let i = 0; i < 100 && !(await bothHealthy()); i++) await sleep(100)
  await sleep(1100) // one heartbeat, after which each host's own list has the other
})

after(async () => {
  await hostA?.stop()
  await hostB?.stop()
  await rm(shared, { recursive: true, force: true })
})

describe('images on hosts own disks', () => {
  it('are fetched from the peer that has them on first read', async () => {
    const data = randomBytes(300_000)
    const token = await issueToken(hostA)
    const image = await createActiveImage(hostA, token, data)
    assert.deepEqual(await onDisk('host-a'), [image.id])

    const download = await imageClient(hostB, token)('GET', `/v2/images/${image.id}/file`)
    assert.equal(download.status, 200, `${download.text()}\nhost-b log:\n${hostB.stderr()}`)
    assert.equal(hexDigest('sha256', download.body), hexDigest('sha256', data))
    assert.ok((await onDisk('host-b')).includes(image.id))
  })

  it('are copied to enough hosts in the background and survive a host loss', async () => {
    const data = randomBytes(200_000)
    const token = await issueToken(hostA)
    const image = await createActiveImage(hostA, token, data)
    for (let i = 0; i < 50 && !(await onDisk('host-b')).includes(image.id); i++) await sleep(100)
    assert.ok((await onDisk('host-b')).includes(image.id), 'host-b never got a copy')

    const status = await admin(hostA, ['-f', 'json', 'replication', 'status'])
    assert.deepEqual(JSON.parse(status), [])

    process.kill(hostA.pid, 'SIGKILL')
    await hostA.kill()
    const fromB = await imageClient(hostB, token)('GET', `/v2/images/${image.id}/file`)
    assert.equal(fromB.status, 200)
    assert.equal(hexDigest('sha256', fromB.body), hexDigest('sha256', data))

    await sleep(3500)
    const left = JSON.parse(await admin(hostB, ['-f', 'json', 'replication', 'status']))
    assert.ok(
      left.some((entry: { image_id: string; copies: number }) => entry.image_id === image.id),
      'the image should be under-replicated with host-a down',
    )
    hostA = await startServer({ dataDir: hostA.dataDir })
  })

  it('lose every copy when the image is deleted', async () => {
    // Host B copies only from hosts it lists as healthy, so it must see host A back first.
    for (let i = 0; i < 50 && !(await seesHealthy(hostB, 'host-a')); i++) await sleep(100)
    await sleep(1100) // one heartbeat, after which host B's own list has host A
    const token = await issueToken(hostA)
    const image = await createActiveImage(hostA, token, randomBytes(50_000))
    const api = imageClient(hostA, token)
    await imageClient(hostB, token)('GET', `/v2/images/${image.id}/file`)
    assert.ok((await onDisk('host-b')).includes(image.id))
    assert.equal((await getImage(api, image.id)).id, image.id)

    assert.equal((await api('DELETE', `/v2/images/${image.id}`)).status, 204)
    assert.equal((await onDisk('host-a')).includes(image.id), false)
    assert.equal((await onDisk('host-b')).includes(image.id), false)
  })
})

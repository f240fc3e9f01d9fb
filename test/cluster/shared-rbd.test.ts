import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { after, before, describe, it } from 'node:test'
import {
  cephSkipReason,
  startCephCluster,
  type CephCluster,
} from '../../src/store/testing/ceph-cluster.js'
import { imageClient, issueToken } from '../helpers/client.js'
import { startServer, type RunningServer } from '../helpers/server.js'
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

const run = promisify(execFile)
const skip = cephSkipReason()

describe('two hosts sharing an rbd store', { skip: skip ?? false }, () => {
  let ceph: CephCluster
  let shared: string
  let hostA: RunningServer
  let hostB: RunningServer

  /** Both hosts keep metadata in one SQLite file and data in one Ceph pool. */
  function hostConfig(name: string): string {
    return [
      '[database]',
      `url = "sqlite://${join(shared, 'library.db')}"`,
      '[store]',
      'default = "ceph"',
      '[stores.ceph]',
      'type = "rbd"',
      `pool = "${ceph.pool}"`,
      `ceph_conf = "${ceph.cephConf}"`,
      `keyring = "${ceph.keyring}"`,
      '[cluster]',
      `host_name = "${name}"`,
      'heartbeat_interval = 1',
      'heartbeat_timeout = 2',
    ].join('\n')
  }

  async function rbdImages(): Promise<string[]> {
    const args = ['-c', ceph.cephConf, '--keyring', ceph.keyring, 'ls', '-p', ceph.pool]
    const { stdout } = await run('rbd', args)
    return stdout.split('\n').filter((name) => name !== '')
  }

  before(async () => {
    ceph = await startCephCluster()
    shared = await mkdtemp(join(tmpdir(), 'image-library-shared-rbd-'))
    hostA = await startServer({ configToml: hostConfig('host-a') })
    hostB = await startServer({ configToml: hostConfig('host-b') })
  })

  after(async () => {
    await hostA?.stop()
    await hostB?.stop()
    await ceph?.stop()
    if (shared !== undefined) await rm(shared, { recursive: true, force: true })
  })

  it('serve through either host an image uploaded through one', async () => {
    const data = randomBytes(3 * mib)
    const token = await issueToken(hostA)
    const image = await createImage(imageClient(hostA, token), {
      disk_format: 'raw',
      container_format: 'bare',
    })
    assert.equal((await uploadData(hostA, token, image.id, data)).status, 204)
    const download = await imageClient(hostB, token)('GET', `/v2/images/${image.id}/file`)
    assert.equal(download.status, 200)
    assert.equal(hexDigest('sha256', download.body), hexDigest('sha256', data))
  })

  it('requeue an upload whose host died and remove its partial rbd image', async () => {
    const token = await issueToken(hostA)
    const api = imageClient(hostA, token)
    const image = await createImage(api, { disk_format: 'raw', container_format: 'bare' })
    const data = randomBytes(8 * mib)
    const upload = startPartialUpload(hostB, token, image.id, data, data.length, 2 * mib)
    await upload.written
    await waitForImage(api, image.id, (current) => current.status === 'saving')
    const partial = async () => (await rbdImages()).some((name) => name.includes(image.id))
    for (let i = 0; i < 50 && !(await partial()); i++) await sleep(100)
    assert.ok(await partial(), 'the upload should have a partial rbd image')

    process.kill(hostB.pid, 'SIGKILL')
    await hostB.kill()
    upload.abort()
    await upload.done
    await waitForImage(api, image.id, (current) => current.status === 'queued')
    assert.equal(await partial(), false, 'a partial rbd image is left')

    assert.equal((await uploadData(hostA, token, image.id, data)).status, 204)
    assert.equal((await getImage(api, image.id)).checksum, hexDigest('md5', data))
  })
})

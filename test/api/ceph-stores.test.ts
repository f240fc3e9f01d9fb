import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import type { S3Client } from '@aws-sdk/client-s3'
import {
  cephSkipReason,
  startCephCluster,
  type CephCluster,
} from '../../src/store/testing/ceph-cluster.js'
import {
  createBucket,
  listBucketContents,
  testS3Client,
} from '../../src/store/testing/s3-bucket.js'
import { imageClient, issueToken } from '../helpers/client.js'
import { startServer, type RunningServer } from '../helpers/server.js'
import {
  createImage,
  getImage,
  hexDigest,
  uploadData,
  waitForImage,
  type ImageClient,
} from './fixtures.js'

const run = promisify(execFile)
const skip = cephSkipReason()
const bucket = 'images'

/** Returns a config with a file store as the default, and rbd and s3 stores on `ceph`. */
function configFor(ceph: CephCluster): string {
  return `
[stores.local]
type = "file"
directory = "images"
[stores.block]
type = "rbd"
pool = "${ceph.pool}"
ceph_conf = "${ceph.cephConf}"
client = "admin"
keyring = "${ceph.keyring}"
[stores.objects]
type = "s3"
endpoint = "${ceph.s3.endpoint}"
region = "${ceph.s3.region}"
bucket = "${bucket}"
credentials_file = "${join(ceph.directory, 's3.env')}"
`
}

describe('rbd and s3 stores behind the image API', { skip: skip ?? false }, () => {
  let ceph: CephCluster
  let s3: S3Client
  let server: RunningServer
  let adminToken: string
  let api: ImageClient
  let imageId: string
  const data = randomBytes(6 * 1024 * 1024 + 123)

  before(async () => {
    ceph = await startCephCluster()
    s3 = testS3Client(ceph)
    await createBucket(s3, bucket)
    server = await startServer({ configToml: configFor(ceph) })
    adminToken = await issueToken(server)
    api = imageClient(server, adminToken)
  })

  after(async () => {
    await server?.stop()
    s3?.destroy()
    await ceph?.stop()
  })

  async function rbdImages(): Promise<string[]> {
    const args = ['--conf', ceph.cephConf, '--id', 'admin', 'ls', '--format', 'json', ceph.pool]
    return JSON.parse((await run('rbd', args)).stdout) as string[]
  }

  async function download(range?: string) {
    return api('GET', `/v2/images/${imageId}/file`, {
      headers: range === undefined ? {} : { range },
    })
  }

  it('lists the rbd and s3 stores with their types', async () => {
    const stores = (await api('GET', '/v2/info/stores/detail')).json().stores
    assert.deepEqual(
      stores.map((store: { id: string; type: string }) => [store.id, store.type]),
      [
        ['local', 'file'],
        ['block', 'rbd'],
        ['objects', 's3'],
      ],
    )
  })

  it('uploads to the store named by X-Image-Meta-Store', async () => {
    const image = await createImage(api, { disk_format: 'raw', container_format: 'bare' })
    imageId = image.id
    const upload = await uploadData(server, adminToken, imageId, data, {
      'x-image-meta-store': 'block',
    })
    assert.equal(upload.status, 204, upload.text())

    const stored = await getImage(api, imageId)
    assert.equal(stored.status, 'active')
    assert.equal(stored.stores, 'block')
    assert.equal(stored.size, data.length)
    assert.deepEqual(await rbdImages(), [imageId])
  })

  it('downloads the rbd copy whole and as a range', async () => {
    const whole = await download()
    assert.equal(whole.status, 200)
    assert.equal(hexDigest('sha256', whole.body), hexDigest('sha256', data))

    const start = 4 * 1024 * 1024 - 10
    const part = await download(`bytes=${start}-${start + 19}`)
    assert.equal(part.status, 206)
    assert.equal(part.headers['content-range'], `bytes ${start}-${start + 19}/${data.length}`)
    assert.ok(part.body.equals(data.subarray(start, start + 20)))
  })

  it('copies the image to the s3 store with copy-image', async () => {
    const started = await api('POST', `/v2/images/${imageId}/import`, {
      body: { method: { name: 'copy-image' }, stores: ['objects'] },
    })
    assert.equal(started.status, 202, started.text())

    const done = await waitForImage(
      api,
      imageId,
      (image) => image.os_glance_importing_to_stores === '' && image.status === 'active',
      30_000,
    )
    assert.equal(done.stores, 'block,objects')
    assert.equal(done.os_glance_failed_import, '')
    assert.deepEqual(await listBucketContents(s3, bucket), [imageId])
  })

  it('serves the s3 copy once the rbd copy is removed', async () => {
    const removed = await api('DELETE', `/v2/stores/block/${imageId}`)
    assert.equal(removed.status, 204, removed.text())
    assert.equal((await getImage(api, imageId)).stores, 'objects')
    assert.deepEqual(await rbdImages(), [])

    const whole = await download()
    assert.equal(whole.status, 200)
    assert.equal(hexDigest('sha256', whole.body), hexDigest('sha256', data))
    const part = await download(`bytes=-7`)
    assert.equal(part.status, 206)
    assert.ok(part.body.equals(data.subarray(data.length - 7)))
  })

  it('removes the s3 object when the image is deleted', async () => {
    const deleted = await api('DELETE', `/v2/images/${imageId}`)
    assert.equal(deleted.status, 204, deleted.text())
    assert.deepEqual(await listBucketContents(s3, bucket), [])
  })

  it('keeps the S3 secret key out of the log', () => {
    assert.equal(server.stderr().includes(ceph.s3.secretKey), false)
  })
})

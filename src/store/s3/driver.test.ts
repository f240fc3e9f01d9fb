import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import { after, describe, it } from 'node:test'
import { CreateMultipartUploadCommand, UploadPartCommand } from '@aws-sdk/client-s3'
import pino from 'pino'
import { CheckedStore } from '../base.js'
import { runStoreConformance } from '../conformance.js'
import { BlobExists, StoreUnavailable } from '../errors.js'
import { cephSkipReason, startCephCluster, type CephCluster } from '../testing/ceph-cluster.js'
import { createBucket, listBucketContents, testS3Client } from '../testing/s3-bucket.js'
import type { S3Store } from './driver.js'
import { createS3Store, type S3StoreOptions } from './index.js'

const log = pino({ level: 'silent' })
const skip = cephSkipReason()
const partSizeBytes = 5 * 1024 * 1024

let started: Promise<CephCluster> | undefined
/** Starts one cluster for this file, with the buckets `contract` and `driver`, on first call. */
function cluster(): Promise<CephCluster> {
  started ??= startCephCluster().then(async (ceph) => {
    const client = testS3Client(ceph)
    await createBucket(client, 'contract')
    await createBucket(client, 'driver')
    client.destroy()
    return ceph
  })
  return started
}
after(async () => {
  if (started !== undefined) await (await started).stop()
})

function openStore(ceph: CephCluster, bucket: string, changes: Partial<S3StoreOptions> = {}) {
  return createS3Store({
    endpoint: ceph.s3.endpoint,
    region: ceph.s3.region,
    bucket,
    accessKey: ceph.s3.accessKey,
    secretKey: ceph.s3.secretKey,
    credentialsFile: null,
    partSizeBytes,
    log,
    ...changes,
  })
}

async function contents(ceph: CephCluster, bucket: string): Promise<string[]> {
  const client = testS3Client(ceph)
  try {
    return await listBucketContents(client, bucket)
  } finally {
    client.destroy()
  }
}

/** Waits until the bucket lists an unfinished multipart upload of `key`. */
async function untilUploadStarts(ceph: CephCluster, key: string): Promise<void> {
  while (!(await contents(ceph, 'driver')).includes(`upload:${key}`)) {
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

runStoreConformance(
  's3',
  async () => {
    const ceph = await cluster()
    const store = openStore(ceph, 'contract')
    return {
      store: new CheckedStore(store, log),
      listResidue: () => contents(ceph, 'contract'),
      async close() {
        store.close()
      },
    }
  },
  skip === undefined ? {} : { skip },
)

describe('s3 store on radosgw', { skip: skip ?? false }, () => {
  let store: S3Store
  const openDriverStore = async () => (store ??= openStore(await cluster(), 'driver'))

  it('aborts the multipart upload when a write is aborted', async () => {
    const ceph = await cluster()
    await openDriverStore()
    const controller = new AbortController()
    const source = new Readable({ read() {} })
    source.push(randomBytes(3 * partSizeBytes))
    const writing = store.write('aborted-late', source, controller.signal)
    await untilUploadStarts(ceph, 'aborted-late')
    controller.abort(new Error('upload cancelled'))

    await assert.rejects(writing)
    assert.deepEqual(await contents(ceph, 'driver'), [])
  })

  it('aborts the multipart upload when the source fails', async () => {
    const ceph = await cluster()
    await openDriverStore()
    const failure = new Error('client went away')
    const source = Readable.from(
      (async function* () {
        yield randomBytes(2 * partSizeBytes + 1)
        await untilUploadStarts(ceph, 'failed-late')
        throw failure
      })(),
    )

    await assert.rejects(store.write('failed-late', source), (error) => error === failure)
    assert.deepEqual(await contents(ceph, 'driver'), [])
  })

  it('rejects a second multipart write to a key', async () => {
    const ceph = await cluster()
    await openDriverStore()
    const first = randomBytes(partSizeBytes + 1)
    await store.write('taken-large', Readable.from([first]))

    const second = Readable.from([randomBytes(partSizeBytes + 1)])
    await assert.rejects(store.write('taken-large', second), BlobExists)
    assert.ok((await buffer(await store.read('taken-large'))).equals(first))
    assert.equal(await store.delete('taken-large'), true)
    assert.deepEqual(await contents(ceph, 'driver'), [])
  })

  it('reads ranges across part boundaries', async () => {
    await openDriverStore()
    const data = randomBytes(2 * partSizeBytes + 7)
    await store.write('ranges', Readable.from([data]))

    const cases = [
      { start: 0, end: 0 },
      { start: partSizeBytes - 3, end: partSizeBytes + 2 },
      { start: partSizeBytes + 1, end: 2 * partSizeBytes + 6 },
      { start: data.length - 1, end: data.length - 1 },
    ]
    for (const range of cases) {
      const back = await buffer(await store.read('ranges', range))
      assert.ok(back.equals(data.subarray(range.start, range.end + 1)), JSON.stringify(range))
    }
    const past = await buffer(await store.read('ranges', { start: data.length, end: 1e12 }))
    assert.equal(past.length, 0, 'a range after the end')
    assert.equal((await store.stat('ranges')).size, data.length)
    assert.equal(await store.delete('ranges'), true)
  })

  it('removes leftovers of a crashed write by key and by age', async () => {
    const ceph = await cluster()
    await openDriverStore()
    // A write whose process died: its multipart upload stays open with one part.
    const client = testS3Client(ceph)
    const { UploadId } = await client.send(
      new CreateMultipartUploadCommand({ Bucket: 'driver', Key: 'crashed' }),
    )
    await client.send(
      new UploadPartCommand({
        ...{ Bucket: 'driver', Key: 'crashed', UploadId, PartNumber: 1 },
        Body: randomBytes(1000),
      }),
    )
    client.destroy()

    assert.equal(await store.removeIncomplete({ key: 'other' }), 0)
    assert.equal(await store.removeIncomplete({ olderThanMs: 3_600_000 }), 0)
    assert.equal(await store.removeIncomplete({ key: 'crashed', olderThanMs: 0 }), 1)
    assert.deepEqual(await contents(ceph, 'driver'), [])
  })

  it('reads its keys from a credentials file', async () => {
    const ceph = await cluster()
    const fromFile = openStore(ceph, 'driver', {
      accessKey: null,
      secretKey: null,
      credentialsFile: join(ceph.directory, 's3.env'),
    })
    await fromFile.ping()
    fromFile.close()
  })

  it('reports StoreUnavailable for wrong keys and a missing bucket', async () => {
    const ceph = await cluster()
    const wrongKey = openStore(ceph, 'driver', { secretKey: 'not-the-secret' })
    await assert.rejects(wrongKey.ping(), StoreUnavailable)
    await assert.rejects(wrongKey.stat('anything'), StoreUnavailable)
    wrongKey.close()

    const noBucket = openStore(ceph, 'no-such-bucket')
    await assert.rejects(noBucket.ping(), StoreUnavailable)
    await assert.rejects(noBucket.write('x', Readable.from([Buffer.from('x')])), StoreUnavailable)
    noBucket.close()
  })

  // Runs last: it stops this file's cluster.
  it('reports StoreUnavailable once the cluster is down', async () => {
    const ceph = await cluster()
    await openDriverStore()
    await ceph.stop()

    await assert.rejects(store.ping(), StoreUnavailable)
    await assert.rejects(store.stat('anything'), StoreUnavailable)
    await assert.rejects(store.read('anything'), StoreUnavailable)
    await assert.rejects(store.write('lost', Readable.from([Buffer.from('x')])), StoreUnavailable)
    store.close()
  })
})

import { createReadStream } from 'node:fs'
import type { Readable } from 'node:stream'
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import type { BenchCeph } from './ceph.js'
import { timeCommand } from './commands.js'
import { downloadDiscard, secondsSince, sendJson, uploadFile, type Target } from './https-client.js'
import type { InputFile } from './inputs.js'
import { createImage, type BenchServer } from './service.js'
import { median } from './statistics.js'

/** The ids of the stores in the server's configuration that `storeConfig` writes. */
export const storeIds = { rbd: 'block', s3: 'objects' } as const
export const s3Bucket = 'bench-images'

// The S3 client talks only to the cluster's radosgw on 127.0.0.1 with static keys, so the SDK
// must not look for an EC2 instance metadata service. Server processes inherit this too.
process.env.AWS_EC2_METADATA_DISABLED = 'true'
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'

// The same part size and concurrency as the service's s3 driver, so that both upload alike.
const s3PartBytes = 32 * 1024 * 1024
const s3QueueSize = 4

export interface StorePathOptions {
  server: BenchServer
  token: string
  ceph: BenchCeph
  input: InputFile
  /** Timed downloads from the service and from the reference; the report gives the median. */
  downloadRuns: number
  log: (message: string) => void
}

/** Rates in MB/s of the service and of the reference that reads or writes the store directly. */
export interface RateComparison {
  service: number
  reference: number
}

export interface StoreResult {
  store: 'rbd' | 's3'
  upload: RateComparison
  download: RateComparison
}

/** Returns the server configuration: a file store as the default, plus rbd and s3 stores. */
export function storeConfig(ceph: BenchCeph): string {
  return `
[stores.local]
type = "file"
directory = "images"
[stores.${storeIds.rbd}]
type = "rbd"
pool = "${ceph.pool}"
ceph_conf = "${ceph.cephConf}"
client = "admin"
keyring = "${ceph.keyring}"
[stores.${storeIds.s3}]
type = "s3"
endpoint = "${ceph.s3.endpoint}"
region = "${ceph.s3.region}"
bucket = "${s3Bucket}"
access_key = "${ceph.s3.accessKey}"
secret_key = "${ceph.s3.secretKey}"
`
}

/** Returns an S3 client for the cluster's radosgw on loopback, with static keys. */
export function createS3Client(ceph: BenchCeph): S3Client {
  return new S3Client({
    endpoint: ceph.s3.endpoint,
    region: ceph.s3.region,
    credentials: { accessKeyId: ceph.s3.accessKey, secretAccessKey: ceph.s3.secretKey },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  })
}

export async function createS3Bucket(client: S3Client): Promise<void> {
  await client.send(new CreateBucketCommand({ Bucket: s3Bucket }))
}

/** Measures the rbd store against `rbd import` and `rbd export` of the same file. */
export async function measureRbdStore(options: StorePathOptions): Promise<StoreResult> {
  const { ceph, input } = options
  const rbd = (...args: string[]) => ['-c', ceph.cephConf, '--keyring', ceph.keyring, ...args]
  const name = `${ceph.pool}/bench-reference`

  options.log('stores: rbd import and upload to the rbd store')
  const imported = await timeCommand('rbd', rbd('import', input.path, name))
  const upload = await uploadToStore(options, 'rbd')
  try {
    const references: number[] = []
    const downloads: number[] = []
    for (let run = 1; run <= options.downloadRuns; run++) {
      options.log(`stores: rbd export and download, run ${run} of ${options.downloadRuns}`)
      const exported = await timeCommand('rbd', rbd('export', name, '-'), { discardStdout: true })
      references.push(megabytesPerSecond(input.size, exported.seconds))
      downloads.push(await downloadRate(options, upload.imageId))
    }
    return {
      store: 'rbd',
      upload: { service: upload.rate, reference: megabytesPerSecond(input.size, imported.seconds) },
      download: { service: median(downloads), reference: median(references) },
    }
  } finally {
    await deleteImage(options, upload.imageId)
    await timeCommand('rbd', rbd('rm', '--no-progress', name))
  }
}

/** Measures the s3 store against a PUT (lib-storage `Upload`) and a GET with the AWS SDK. */
export async function measureS3Store(
  options: StorePathOptions,
  client: S3Client,
): Promise<StoreResult> {
  const { input } = options
  const key = 'bench-reference'

  options.log('stores: S3 PUT and upload to the s3 store')
  const putSeconds = await putObject(client, key, input)
  const upload = await uploadToStore(options, 's3')
  try {
    const references: number[] = []
    const downloads: number[] = []
    for (let run = 1; run <= options.downloadRuns; run++) {
      options.log(`stores: S3 GET and download, run ${run} of ${options.downloadRuns}`)
      references.push(megabytesPerSecond(input.size, await getObject(client, key, input.size)))
      downloads.push(await downloadRate(options, upload.imageId))
    }
    return {
      store: 's3',
      upload: { service: upload.rate, reference: megabytesPerSecond(input.size, putSeconds) },
      download: { service: median(downloads), reference: median(references) },
    }
  } finally {
    await deleteImage(options, upload.imageId)
    await client.send(new DeleteObjectCommand({ Bucket: s3Bucket, Key: key }))
  }
}

async function putObject(client: S3Client, key: string, input: InputFile): Promise<number> {
  const started = process.hrtime.bigint()
  const body = createReadStream(input.path, { highWaterMark: 1024 * 1024 })
  const upload = new Upload({
    client,
    params: { Bucket: s3Bucket, Key: key, Body: body, ContentLength: input.size },
    partSize: s3PartBytes,
    queueSize: s3QueueSize,
  })
  await upload.done()
  return secondsSince(started)
}

/** Reads the object to the end, discarding it, and returns the seconds taken. */
async function getObject(client: S3Client, key: string, size: number): Promise<number> {
  const started = process.hrtime.bigint()
  const response = await client.send(new GetObjectCommand({ Bucket: s3Bucket, Key: key }))
  let bytes = 0
  for await (const chunk of response.Body as Readable) bytes += (chunk as Buffer).length
  const seconds = secondsSince(started)

  if (bytes !== size) throw new Error(`S3 GET of ${key} returned ${bytes} bytes, expected ${size}`)
  return seconds
}

/** Uploads the input through the service to the store, checks the image and returns the rate. */
async function uploadToStore(
  options: StorePathOptions,
  store: 'rbd' | 's3',
): Promise<{ imageId: string; rate: number }> {
  const target = apiTarget(options)
  const storeId = storeIds[store]
  const imageId = await createImage(target, options.token, `bench-${storeId}`)
  const headers = {
    'x-auth-token': options.token,
    'content-type': 'application/octet-stream',
    'x-image-meta-store': storeId,
  }
  const path = `/v2/images/${imageId}/file`
  const transfer = await uploadFile(target, path, headers, options.input, 204)

  const response = await sendJson(target, 'GET', `/v2/images/${imageId}`, options.token)
  const image = response.body as Record<string, unknown>
  if (image.status !== 'active' || image.stores !== storeId || image.size !== options.input.size) {
    throw new Error(
      `image ${imageId} has status ${String(image.status)}, stores ${String(image.stores)} and ` +
        `size ${String(image.size)} after upload, expected active, ${storeId} and ${options.input.size}`,
    )
  }
  return { imageId, rate: megabytesPerSecond(transfer.bytes, transfer.seconds) }
}

async function downloadRate(options: StorePathOptions, imageId: string): Promise<number> {
  const path = `/v2/images/${imageId}/file`
  const transfer = await downloadDiscard(apiTarget(options), path, {
    'x-auth-token': options.token,
  })
  if (transfer.bytes !== options.input.size) {
    throw new Error(`GET ${path} returned ${transfer.bytes} bytes, expected ${options.input.size}`)
  }
  return megabytesPerSecond(transfer.bytes, transfer.seconds)
}

async function deleteImage(options: StorePathOptions, imageId: string): Promise<void> {
  const path = `/v2/images/${imageId}`
  const response = await sendJson(apiTarget(options), 'DELETE', path, options.token)
  if (response.status !== 204) throw new Error(`DELETE ${path} returned ${response.status}`)
}

function apiTarget(options: StorePathOptions): Target {
  return { origin: options.server.imageOrigin, ca: options.server.ca }
}

function megabytesPerSecond(bytes: number, seconds: number): number {
  return bytes / 1e6 / seconds
}

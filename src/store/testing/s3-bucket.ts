import {
  CreateBucketCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3'
import type { CephCluster } from './ceph-cluster.js'

// Tests talk only to the cluster's radosgw on 127.0.0.1; the SDK must not look for an EC2
// instance metadata service. The Node 20 support notice of the SDK would only clutter output.
process.env.AWS_EC2_METADATA_DISABLED = 'true'
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'

/** Returns an S3 client for the cluster's radosgw with the test user's keys. */
export function testS3Client(cluster: CephCluster): S3Client {
  return new S3Client({
    endpoint: cluster.s3.endpoint,
    region: cluster.s3.region,
    credentials: { accessKeyId: cluster.s3.accessKey, secretAccessKey: cluster.s3.secretKey },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  })
}

/** Creates an empty bucket. */
export async function createBucket(client: S3Client, bucket: string): Promise<void> {
  await client.send(new CreateBucketCommand({ Bucket: bucket }))
}

/** Lists the bucket's objects and unfinished multipart uploads (as `upload:<key>`). */
export async function listBucketContents(client: S3Client, bucket: string): Promise<string[]> {
  const objects = await client.send(new ListObjectsV2Command({ Bucket: bucket }))
  const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }))
  return [
    ...(objects.Contents ?? []).map((object) => object.Key!),
    ...(uploads.Uploads ?? []).map((upload) => `upload:${upload.Key!}`),
  ].sort()
}

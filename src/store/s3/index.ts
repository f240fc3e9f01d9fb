import { readFileSync } from 'node:fs'
import { S3Store, type S3StoreConfig } from './driver.js'

/** The settings of the s3 store, with the keys inline or in a credentials file. */
export type S3StoreOptions = Omit<S3StoreConfig, 'accessKey' | 'secretKey'> & {
  accessKey: string | null
  secretKey: string | null
  /** A file of `S3_ACCESS_KEY=...` and `S3_SECRET_KEY=...` lines; other lines are ignored. */
  credentialsFile: string | null
}

const bucketPattern = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/

/** Validates the s3 store's settings and returns the store; it does not contact the endpoint. */
export function createS3Store(options: S3StoreOptions): S3Store {
  const endpoint = URL.canParse(options.endpoint) ? new URL(options.endpoint) : null
  if (endpoint === null || !['http:', 'https:'].includes(endpoint.protocol)) {
    throw new TypeError(`an s3 endpoint must be an http or https URL, got ${options.endpoint}`)
  }
  if (!bucketPattern.test(options.bucket)) {
    throw new TypeError(
      `an s3 bucket name must be 3-63 of [a-z0-9.-], starting and ending with a letter or digit, got ${options.bucket}`,
    )
  }
  const { accessKey, secretKey } = resolveKeys(options)
  return new S3Store({ ...options, accessKey, secretKey })
}

/** Returns the inline keys, or reads them from the credentials file; never prints a key. */
function resolveKeys(options: S3StoreOptions): { accessKey: string; secretKey: string } {
  if (options.credentialsFile === null) {
    if (options.accessKey === null || options.secretKey === null) {
      throw new TypeError('an s3 store needs access_key and secret_key, or credentials_file')
    }
    return { accessKey: options.accessKey, secretKey: options.secretKey }
  }

  const values: Record<string, string> = {}
  for (const line of readFileSync(options.credentialsFile, 'utf8').split('\n')) {
    const match = /^\s*(S3_ACCESS_KEY|S3_SECRET_KEY)\s*=\s*(\S+)\s*$/.exec(line)
    if (match !== null) values[match[1]!] = match[2]!
  }
  const accessKey = options.accessKey ?? values.S3_ACCESS_KEY
  const secretKey = options.secretKey ?? values.S3_SECRET_KEY
  if (accessKey === undefined || secretKey === undefined) {
    throw new TypeError(
      `s3 credentials file ${options.credentialsFile} must contain S3_ACCESS_KEY=... and S3_SECRET_KEY=... lines`,
    )
  }
  return { accessKey, secretKey }
}

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, open, readdir, readFile, writeFile } from 'node:fs/promises'
import { Agent, request as httpsRequest } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { call, imageClient, type Response } from '../helpers/client.js'
import type { RunningServer } from '../helpers/server.js'

const run = promisify(execFile)

export const mib = 1024 * 1024

/** An image as the API returns it, with Glance's field names. */
export type WireImage = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any -- wire JSON

/** A client of the image API with a fixed token, as returned by `imageClient`. */
export type ImageClient = (
  method: string,
  path: string,
  options?: { headers?: Record<string, string>; body?: unknown },
) => Promise<Response>

export function makeWorkDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'image-library-api-test-'))
}

export function hexDigest(algorithm: 'md5' | 'sha256' | 'sha512', data: Buffer): string {
  return createHash(algorithm).update(data).digest('hex')
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** The fields of `qemu-img info --output=json` that the tests compare. */
export interface QemuImageInfo {
  format: string
  'virtual-size': number
}

export async function qemuInfo(path: string): Promise<QemuImageInfo> {
  const { stdout } = await run('qemu-img', ['info', '--output=json', path])
  return JSON.parse(stdout) as QemuImageInfo
}

/** Creates an empty qcow2 image with `qemu-img create` and returns its path and bytes. */
export async function createQcow2(dir: string, name: string, virtualSize = '64M') {
  const path = join(dir, name)
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', path, virtualSize])
  return { path, data: await readFile(path) }
}

/** Creates a qcow2 image whose header names a backing file or an external data file. */
export async function createQcow2WithReference(
  dir: string,
  name: string,
  reference: 'backing-file' | 'data-file',
) {
  const path = join(dir, name)
  const base = join(dir, `${name}.base`)
  if (reference === 'backing-file') {
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', base, '64M'])
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', path])
  } else {
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', `data_file=${base}`, path, '64M'])
  }
  return { path, data: await readFile(path) }
}

/**
 * Creates a raw image with `qemu-img create` and writes random bytes at 4 KiB and 1 MiB, so
 * that the data is not all zeros.
 */
export async function createRaw(dir: string, name: string, size = 4 * mib) {
  const path = join(dir, name)
  await run('qemu-img', ['create', '-q', '-f', 'raw', path, String(size)])
  const handle = await open(path, 'r+')
  try {
    await handle.write(randomBytes(8192), 0, 8192, 4096)
    await handle.write(randomBytes(65536), 0, 65536, mib)
  } finally {
    await handle.close()
  }
  return { path, data: await readFile(path) }
}

/** Creates an ISO 9660 image of a small directory with `xorriso -as mkisofs`. */
export async function createIso(dir: string, name: string) {
  const content = join(dir, `${name}.d`)
  await mkdir(content, { recursive: true })
  await writeFile(join(content, 'README.TXT'), randomBytes(20_000).toString('hex'))
  const path = join(dir, name)
  await run('xorriso', ['-as', 'mkisofs', '-quiet', '-o', path, content])
  return { path, data: await readFile(path) }
}

/**
 * Returns the size that the ISO 9660 primary volume descriptor at byte 32768 declares: the
 * volume space size (LSB half at offset 80) times the logical block size (LSB half at 128).
 */
export function isoVolumeSize(data: Buffer): number {
  const descriptor = data.subarray(32768, 32768 + 2048)
  assert.equal(descriptor.toString('latin1', 1, 6), 'CD001', 'no primary volume descriptor')
  return descriptor.readUInt32LE(80) * descriptor.readUInt16LE(128)
}

/** Lists `<dataDir>/images` and its `.incomplete` folder, sorted. */
export async function storeEntries(dataDir: string) {
  const directory = join(dataDir, 'images')
  const entries = (await readdir(directory)).sort()
  const incomplete = (await readdir(join(directory, '.incomplete'))).sort()
  return { entries, incomplete }
}

/** Creates an image, checks for 201 and returns the image body. */
export async function createImage(client: ImageClient, body: Record<string, unknown>) {
  const response = await client('POST', '/v2/images', { body })
  assert.equal(response.status, 201, `create failed: ${response.text()}`)
  return response.json() as WireImage
}

export async function getImage(client: ImageClient, id: string) {
  const response = await client('GET', `/v2/images/${id}`)
  assert.equal(response.status, 200, `GET ${id} failed: ${response.text()}`)
  return response.json() as WireImage
}

/**
 * Uploads image data as `PUT /v2/images/{id}/file` on a connection of its own, which is closed
 * once the response has arrived. If a change to the server ever breaks connection reuse after
 * a rejected upload, only the test that checks reuse fails, not whichever test runs next.
 */
export function uploadData(
  server: RunningServer,
  token: string,
  id: string,
  data: Buffer,
  headers: Record<string, string> = {},
): Promise<Response> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  return new Promise<Response>((resolve, reject) => {
    const request = httpsRequest(new URL(`/v2/images/${id}/file`, server.imageUrl), {
      method: 'PUT',
      ca: server.ca,
      agent,
      headers: {
        accept: 'application/json',
        'x-auth-token': token,
        'content-type': 'application/octet-stream',
        'content-length': String(data.length),
        ...headers,
      },
    })
    request.on('error', reject)
    request.on('response', (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('error', reject)
      response.on('end', () => {
        const body = Buffer.concat(chunks)
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body,
          json: () => JSON.parse(body.toString()),
          text: () => body.toString(),
        })
      })
    })
    request.end(data)
  }).finally(() => agent.destroy())
}

/** Creates a bare image, uploads `data` and checks that the image becomes active. */
export async function createActiveImage(
  server: RunningServer,
  token: string,
  data: Buffer,
  attributes: Record<string, unknown> = {},
) {
  const client = imageClient(server, token)
  const image = await createImage(client, {
    disk_format: 'raw',
    container_format: 'bare',
    ...attributes,
  })
  const upload = await uploadData(server, token, image.id, data)
  assert.equal(upload.status, 204, `upload failed: ${upload.text()}`)
  return getImage(client, image.id)
}

export interface PartialUpload {
  /** Resolves when `sentBytes` have been handed to the socket, which does not mean the server has read them. */
  written: Promise<void>
  /** Destroys the client socket, ending the upload in the middle. */
  abort(): void
  /** Resolves once the request has ended in any way, and never rejects. */
  done: Promise<unknown>
}

/**
 * Starts an upload that declares `declaredBytes` in Content-Length but sends only the first
 * `sentBytes` of `data`, then waits for `abort()`.
 */
export function startPartialUpload(
  server: RunningServer,
  token: string,
  id: string,
  data: Buffer,
  declaredBytes: number,
  sentBytes: number,
): PartialUpload {
  const request = httpsRequest(new URL(`/v2/images/${id}/file`, server.imageUrl), {
    method: 'PUT',
    ca: server.ca,
    agent: false,
    headers: {
      'x-auth-token': token,
      'content-type': 'application/octet-stream',
      'content-length': String(declaredBytes),
    },
  })
  const done = new Promise((resolve) => {
    request.on('error', resolve)
    request.on('response', (response) => {
      response.resume()
      response.on('end', () => resolve(response.statusCode))
      response.on('error', resolve)
    })
  })
  const written = new Promise<void>((resolve) => {
    request.write(data.subarray(0, sentBytes), () => resolve())
  })
  return { written, abort: () => request.destroy(), done }
}

/** Polls an image until `predicate` holds, failing after `timeoutMs`. */
export async function waitForImage(
  client: ImageClient,
  id: string,
  predicate: (image: Record<string, unknown>) => boolean,
  timeoutMs = 10_000,
) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const image = await getImage(client, id)
    if (predicate(image)) return image
    if (Date.now() > deadline) {
      assert.fail(`image ${id} did not reach the expected state: ${JSON.stringify(image)}`)
    }
    await sleep(50)
  }
}

/** Issues an image API request with the server's own base URL, for `next` links. */
export function followLink(server: RunningServer, token: string, link: string) {
  return call(server, server.imageUrl, 'GET', link, { token })
}

/** Validates a token with itself as the caller and returns the token body. */
export async function tokenInfo(server: RunningServer, token: string) {
  const response = await call(server, server.identityUrl, 'GET', '/v3/auth/tokens', {
    token,
    headers: { 'x-subject-token': token },
  })
  assert.equal(response.status, 200, `token validation failed: ${response.text()}`)
  return response.json().token as {
    user: { id: string; name: string }
    project: { id: string; name: string }
    roles: { id: string; name: string }[]
  }
}

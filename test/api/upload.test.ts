import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { once } from 'node:events'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import { after, before, describe, it } from 'node:test'
import { imageClient, issueToken } from '../helpers/client.js'
import { startServer, type RunningServer } from '../helpers/server.js'
import {
  createImage,
  createIso,
  createQcow2,
  createQcow2WithReference,
  createRaw,
  getImage,
  hexDigest,
  isoVolumeSize,
  makeWorkDir,
  mib,
  qemuInfo,
  sleep,
  startPartialUpload,
  storeEntries,
  uploadData,
  waitForImage,
  type ImageClient,
} from './fixtures.js'

let server: RunningServer
let api: ImageClient
let token: string
let workDir: string
let qcow2: { path: string; data: Buffer }
let raw: { path: string; data: Buffer }
let iso: { path: string; data: Buffer }

before(async () => {
  server = await startServer()
  token = await issueToken(server)
  api = imageClient(server, token)
  workDir = await makeWorkDir()
  qcow2 = await createQcow2(workDir, 'disk.qcow2')
  raw = await createRaw(workDir, 'disk.raw')
  iso = await createIso(workDir, 'disk.iso')
})

after(async () => {
  await server?.stop()
  if (workDir !== undefined) await rm(workDir, { recursive: true, force: true })
})

function bareImage(name: string, diskFormat: string) {
  return createImage(api, { name, disk_format: diskFormat, container_format: 'bare' })
}

/** Checks that the image has data matching `data` and that the store contains those bytes. */
async function assertActiveWith(id: string, data: Buffer) {
  const image = await getImage(api, id)
  assert.equal(image.status, 'active')
  assert.equal(image.size, data.length)
  assert.equal(image.checksum, hexDigest('md5', data))
  assert.equal(image.os_hash_algo, 'sha512')
  assert.equal(image.os_hash_value, hexDigest('sha512', data))

  const stored = await readFile(join(server.dataDir, 'images', id))
  assert.equal(hexDigest('sha256', stored), hexDigest('sha256', data))
  return image
}

/** Checks that a failed upload left the image queued, without data, and nothing in the store. */
async function assertQueuedWithoutData(id: string) {
  const image = await getImage(api, id)
  assert.equal(image.status, 'queued')
  for (const field of ['size', 'checksum', 'os_hash_algo', 'os_hash_value', 'virtual_size']) {
    assert.equal(image[field], null, `${field} should be null`)
  }
  const { entries, incomplete } = await storeEntries(server.dataDir)
  assert.equal(
    entries.some((entry) => entry.includes(id)),
    false,
    `store has data of ${id}: ${entries}`,
  )
  assert.deepEqual(incomplete, [], 'the .incomplete folder should be empty')
}

describe('upload of valid data', () => {
  it("activates qcow2 with the header's virtual size", async () => {
    const image = await bareImage('qcow2-upload', 'qcow2')
    const response = await uploadData(server, token, image.id, qcow2.data)
    assert.equal(response.status, 204, response.text())

    const active = await assertActiveWith(image.id, qcow2.data)
    const info = await qemuInfo(qcow2.path)
    assert.equal(info['virtual-size'], 64 * mib)
    assert.equal(active.virtual_size, info['virtual-size'])
  })

  it('activates raw with the byte size as virtual size', async () => {
    const image = await bareImage('raw-upload', 'raw')
    const response = await uploadData(server, token, image.id, raw.data)
    assert.equal(response.status, 204, response.text())

    const active = await assertActiveWith(image.id, raw.data)
    assert.equal(active.virtual_size, raw.data.length)
    assert.equal(active.virtual_size, (await qemuInfo(raw.path))['virtual-size'])
  })

  it('activates ISO with the volume size as virtual size', async () => {
    const image = await bareImage('iso-upload', 'iso')
    const response = await uploadData(server, token, image.id, iso.data)
    assert.equal(response.status, 204, response.text())

    const active = await assertActiveWith(image.id, iso.data)
    assert.equal(active.virtual_size, isoVolumeSize(iso.data))
  })

  it('accepts a correct x-openstack-image-size header', async () => {
    const image = await bareImage('size-header-ok', 'raw')
    const response = await uploadData(server, token, image.id, raw.data, {
      'x-openstack-image-size': String(raw.data.length),
    })
    assert.equal(response.status, 204, response.text())
    await assertActiveWith(image.id, raw.data)
  })
})

describe('upload of data that does not match disk_format', () => {
  it('rejects qcow2 declared raw, naming both formats', async () => {
    const image = await bareImage('qcow2-as-raw', 'raw')
    const response = await uploadData(server, token, image.id, qcow2.data)

    assert.equal(response.status, 400)
    const message: string = response.json().message
    assert.match(message, /qcow2/)
    assert.match(message, /\braw\b/)
    await assertQueuedWithoutData(image.id)
  })

  it('rejects raw content declared qcow2 with 400', async () => {
    const image = await bareImage('raw-as-qcow2', 'qcow2')
    const response = await uploadData(server, token, image.id, raw.data)

    assert.equal(response.status, 400)
    await assertQueuedWithoutData(image.id)
  })

  it('accepts matching data after a rejected upload', async () => {
    const image = await bareImage('retry-after-mismatch', 'qcow2')
    assert.equal((await uploadData(server, token, image.id, raw.data)).status, 400)
    const retry = await uploadData(server, token, image.id, qcow2.data)
    assert.equal(retry.status, 204, retry.text())
    await assertActiveWith(image.id, qcow2.data)
  })
})

describe('upload of a qcow2 image that refers to another file', () => {
  for (const reference of ['backing-file', 'data-file'] as const) {
    it(`rejects a ${reference} with 400`, async () => {
      const unsafe = await createQcow2WithReference(workDir, `${reference}.qcow2`, reference)
      const image = await bareImage(`qcow2-${reference}`, 'qcow2')
      const response = await uploadData(server, token, image.id, unsafe.data)

      assert.equal(response.status, 400)
      await assertQueuedWithoutData(image.id)
    })
  }
})

describe('upload that ends badly', () => {
  it('rejects an empty body with 400', async () => {
    const image = await bareImage('empty-body', 'raw')
    const response = await uploadData(server, token, image.id, Buffer.alloc(0))

    assert.equal(response.status, 400)
    await assertQueuedWithoutData(image.id)
  })

  it('rejects a wrong x-openstack-image-size with 400', async () => {
    const image = await bareImage('size-header-wrong', 'raw')
    const response = await uploadData(server, token, image.id, raw.data, {
      'x-openstack-image-size': String(raw.data.length + 1),
    })

    assert.equal(response.status, 400)
    await assertQueuedWithoutData(image.id)
  })

  it('resets the image when the client disconnects halfway', async () => {
    const image = await bareImage('half-upload', 'raw')
    const upload = startPartialUpload(
      server,
      token,
      image.id,
      raw.data,
      raw.data.length,
      raw.data.length / 2,
    )
    await upload.written
    await waitForImage(api, image.id, (current) => current.status === 'saving')
    upload.abort()
    await upload.done

    await sleep(500)
    await waitForImage(api, image.id, (current) => current.status !== 'saving')
    await assertQueuedWithoutData(image.id)
  })
})

describe('upload that is not allowed', () => {
  it('returns 409 for an active image', async () => {
    const image = await bareImage('already-active', 'raw')
    assert.equal((await uploadData(server, token, image.id, raw.data)).status, 204)

    const again = await uploadData(server, token, image.id, randomBytes(4096))
    assert.equal(again.status, 409)
    await assertActiveWith(image.id, raw.data)
  })

  it('returns 415 for application/json', async () => {
    const image = await bareImage('json-upload', 'raw')
    const response = await uploadData(server, token, image.id, raw.data, {
      'content-type': 'application/json',
    })

    assert.equal(response.status, 415)
    await assertQueuedWithoutData(image.id)
  })

  it('returns 415 for a small JSON-labelled body', async () => {
    const image = await bareImage('json-small-upload', 'raw')
    const response = await uploadData(server, token, image.id, raw.data.subarray(0, 4096), {
      'content-type': 'application/json',
    })

    assert.equal(response.status, 415)
    await assertQueuedWithoutData(image.id)
  })

  it('returns 400 before disk_format is set', async () => {
    const image = await createImage(api, { name: 'no-disk-format', container_format: 'bare' })
    const response = await uploadData(server, token, image.id, raw.data)

    assert.equal(response.status, 400)
    assert.match(response.json().message, /disk_format/)
    await assertQueuedWithoutData(image.id)
  })
})

describe('concurrent uploads to one image', () => {
  it('lets exactly one of them succeed', async () => {
    const image = await bareImage('concurrent', 'raw')
    const bodies = [randomBytes(8 * mib), randomBytes(8 * mib)]
    const responses = await Promise.all(
      bodies.map((body) => uploadData(server, token, image.id, body)),
    )

    const statuses = responses.map((response) => response.status)
    assert.deepEqual(
      [...statuses].sort(),
      [204, 409],
      `statuses ${statuses}: ${responses.map((r) => r.text())}`,
    )
    const winner = bodies[statuses.indexOf(204)]!
    await assertActiveWith(image.id, winner)
    assert.deepEqual((await storeEntries(server.dataDir)).incomplete, [])
  })
})

describe('connection after a rejected upload', () => {
  it('stays usable for the next request', async () => {
    const image = await bareImage('connection-reuse', 'qcow2')
    const connection = await RawConnection.open(server)
    try {
      const bodyWritten = connection.send(
        `PUT /v2/images/${image.id}/file HTTP/1.1\r\nHost: localhost\r\n` +
          `X-Auth-Token: ${token}\r\nContent-Type: application/octet-stream\r\n` +
          `Content-Length: ${raw.data.length}\r\n\r\n`,
        raw.data,
      )
      // A server that closes the connection instead of reading the body fails this write.
      bodyWritten.catch(() => {})
      const rejected = await connection.nextResponse(10_000)
      assert.equal(rejected.status, 400)
      if (/^close$/i.test(rejected.headers.connection ?? '')) {
        await connection.closed(10_000)
        return
      }

      assert.ok(
        await withTimeout(bodyWritten, 10_000),
        'the server kept the connection alive but stopped reading the request body',
      )
      void connection.send(
        `GET /v2/images/${image.id} HTTP/1.1\r\nHost: localhost\r\nX-Auth-Token: ${token}\r\n\r\n`,
      )
      const next = await connection.nextResponse(10_000)
      assert.equal(next.status, 200)
    } finally {
      connection.destroy()
    }
  })
})

/** Resolves to true when `promise` settles within `ms`, false otherwise. */
async function withTimeout(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<false>((resolve) => (timer = setTimeout(resolve, ms, false)))
  try {
    return await Promise.race([promise.then(() => true), expired])
  } finally {
    clearTimeout(timer)
  }
}

interface RawResponse {
  status: number
  headers: Record<string, string>
  body: Buffer
}

/**
 * One TLS connection to the image API that writes requests byte for byte and parses the
 * responses by Content-Length, so that a test controls which request uses which connection.
 */
class RawConnection {
  readonly #socket: TLSSocket
  #received = Buffer.alloc(0)
  #isClosed = false
  #wake: () => void = () => {}

  private constructor(socket: TLSSocket) {
    this.#socket = socket
    socket.on('data', (chunk: Buffer) => {
      this.#received = Buffer.concat([this.#received, chunk])
      this.#wake()
    })
    socket.on('close', () => {
      this.#isClosed = true
      this.#wake()
    })
    socket.on('error', () => {})
  }

  static async open(target: RunningServer): Promise<RawConnection> {
    const url = new URL(target.imageUrl)
    const socket = tlsConnect({
      host: url.hostname,
      port: Number(url.port),
      ca: target.ca,
      servername: 'localhost',
    })
    await once(socket, 'secureConnect')
    return new RawConnection(socket)
  }

  /** Writes a request and resolves once the socket has accepted every byte of it. */
  send(head: string, body?: Buffer): Promise<void> {
    this.#socket.write(head)
    return new Promise((resolve, reject) => {
      this.#socket.write(body ?? Buffer.alloc(0), (error) => (error ? reject(error) : resolve()))
    })
  }

  async nextResponse(timeoutMs: number): Promise<RawResponse> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const response = this.#takeResponse()
      if (response !== null) return response
      if (this.#isClosed) assert.fail('the server closed the connection without a response')
      const remaining = deadline - Date.now()
      if (remaining <= 0) assert.fail(`no response within ${timeoutMs} ms`)
      await this.#waitForData(remaining)
    }
  }

  async closed(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!this.#isClosed) {
      const remaining = deadline - Date.now()
      if (remaining <= 0) assert.fail('the server announced Connection: close but kept it open')
      await this.#waitForData(remaining)
    }
  }

  destroy(): void {
    this.#socket.destroy()
  }

  #waitForData(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.#wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }

  #takeResponse(): RawResponse | null {
    const headEnd = this.#received.indexOf('\r\n\r\n')
    if (headEnd < 0) return null
    const [statusLine = '', ...lines] = this.#received.toString('latin1', 0, headEnd).split('\r\n')
    const headers: Record<string, string> = {}
    for (const line of lines) {
      const colon = line.indexOf(':')
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
    }
    const length = Number(headers['content-length'] ?? 0)
    const end = headEnd + 4 + length
    if (this.#received.length < end) return null

    const body = this.#received.subarray(headEnd + 4, end)
    this.#received = this.#received.subarray(end)
    return { status: Number(statusLine.split(' ')[1]), headers, body }
  }
}

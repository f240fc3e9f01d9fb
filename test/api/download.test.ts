import assert from 'node:assert/strict'
import { rm } from 'node:fs/promises'
import { after, before, describe, it } from 'node:test'
import { imageClient, issueToken } from '../helpers/client.js'
import { startServer, type RunningServer } from '../helpers/server.js'
import {
  createActiveImage,
  createImage,
  createRaw,
  hexDigest,
  makeWorkDir,
  type ImageClient,
} from './fixtures.js'

let server: RunningServer
let api: ImageClient
let workDir: string
let data: Buffer
let imageId: string
let size: number

before(async () => {
  server = await startServer()
  const token = await issueToken(server)
  api = imageClient(server, token)
  workDir = await makeWorkDir()
  data = (await createRaw(workDir, 'download.raw')).data
  const image = await createActiveImage(server, token, data, { name: 'download' })
  imageId = image.id
  size = image.size
  assert.equal(size, data.length)
})

after(async () => {
  await server?.stop()
  if (workDir !== undefined) await rm(workDir, { recursive: true, force: true })
})

function download(headers: Record<string, string> = {}) {
  return api('GET', `/v2/images/${imageId}/file`, { headers })
}

describe('download of a whole image', () => {
  it('returns the uploaded bytes with their length and MD5', async () => {
    const response = await download()

    assert.equal(response.status, 200)
    assert.equal(hexDigest('sha256', response.body), hexDigest('sha256', data))
    assert.equal(response.headers['content-length'], String(data.length))
    assert.equal(response.headers['content-type'], 'application/octet-stream')
    assert.equal(response.headers['content-md5'], hexDigest('md5', data))
  })

  it('sends a Content-MD5 equal to the image checksum', async () => {
    const image = (await api('GET', `/v2/images/${imageId}`)).json()
    const response = await download()
    assert.equal(response.headers['content-md5'], image.checksum)
  })
})

describe('download of a byte range', () => {
  it('returns 206 with bytes 10-19', async () => {
    const response = await download({ range: 'bytes=10-19' })

    assert.equal(response.status, 206)
    assert.equal(response.headers['content-range'], `bytes 10-19/${size}`)
    assert.equal(response.headers['content-length'], '10')
    assert.deepEqual(response.body, data.subarray(10, 20))
  })

  it('returns the last 5 bytes for a suffix range', async () => {
    const response = await download({ range: 'bytes=-5' })

    assert.equal(response.status, 206)
    assert.equal(response.headers['content-range'], `bytes ${size - 5}-${size - 1}/${size}`)
    assert.deepEqual(response.body, data.subarray(size - 5))
  })

  it('returns the rest of the data for an open range', async () => {
    const start = size - 100
    const response = await download({ range: `bytes=${start}-` })

    assert.equal(response.status, 206)
    assert.equal(response.headers['content-range'], `bytes ${start}-${size - 1}/${size}`)
    assert.deepEqual(response.body, data.subarray(start))
  })

  it('returns 416 for a range starting at the end', async () => {
    const response = await download({ range: `bytes=${size}-` })
    assert.equal(response.status, 416)
  })
})

describe('download of an image without data', () => {
  it('returns 204 with an empty body', async () => {
    const image = await createImage(api, {
      name: 'no-data',
      disk_format: 'raw',
      container_format: 'bare',
    })
    const response = await api('GET', `/v2/images/${image.id}/file`)

    assert.equal(response.status, 204)
    assert.equal(response.body.length, 0)
  })
})

describe('download of a missing image', () => {
  it('returns 404', async () => {
    const response = await api('GET', '/v2/images/00000000-0000-4000-8000-000000000000/file')
    assert.equal(response.status, 404)
  })
})

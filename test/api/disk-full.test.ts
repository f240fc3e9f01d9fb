import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { imageClient, issueToken } from '../helpers/client.js'
import { startServer, type RunningServer } from '../helpers/server.js'
import { createImage, getImage, mib, type ImageClient } from './fixtures.js'

/** A 3 MiB tmpfs is the store, so that a larger upload runs out of space for real. */
function mountSmallFilesystem(directory: string): string | null {
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root'
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', directory])
    return null
  } catch (error) {
    return `mount -t tmpfs failed: ${(error as Error).message}`
  }
}

const mountPoint = await mkdtemp(join(tmpdir(), 'image-library-full-'))
const skipReason = mountSmallFilesystem(mountPoint)

describe('upload to a full store', { skip: skipReason ?? false }, () => {
  let server: RunningServer
  let api: ImageClient
  const data = Buffer.alloc(8 * mib, 0x61)

  before(async () => {
    server = await startServer({ configToml: `[store]\nfile_directory = "${mountPoint}"\n` })
    api = imageClient(server, await issueToken(server))
  })

  after(async () => {
    await server?.stop()
    execFileSync('umount', [mountPoint])
    await rm(mountPoint, { recursive: true, force: true })
  })

  async function assertQueuedAndEmpty(id: string) {
    const image = await getImage(api, id)
    assert.equal(image.status, 'queued')
    assert.equal(image.size, null)
    assert.equal(image.checksum, null)
    const used = execFileSync('find', [mountPoint, '-type', 'f']).toString().trim()
    assert.equal(used, '', 'the store holds files after a failed upload')
  }

  it('rejects an announced size above the free space before reading', async () => {
    const image = await createImage(api, {
      name: 'big',
      disk_format: 'raw',
      container_format: 'bare',
    })
    const response = await api('PUT', `/v2/images/${image.id}/file`, {
      headers: { 'content-type': 'application/octet-stream' },
      body: data,
    })
    assert.equal(response.status, 413)
    assert.match(response.json().message, /bytes free/)
    await assertQueuedAndEmpty(image.id)
  })

  it('answers 413 when the disk fills during a chunked upload', async () => {
    const image = await createImage(api, {
      name: 'chunked',
      disk_format: 'raw',
      container_format: 'bare',
    })
    const chunks = Array.from({ length: 8 }, (_, i) => data.subarray(i * mib, (i + 1) * mib))
    const response = await api('PUT', `/v2/images/${image.id}/file`, {
      headers: { 'content-type': 'application/octet-stream' },
      body: Readable.from(chunks),
    })
    assert.equal(response.status, 413)
    assert.match(response.json().message, /no free space/)
    await assertQueuedAndEmpty(image.id)
  })

  it('accepts an upload that fits once space is left', async () => {
    const image = await createImage(api, {
      name: 'small',
      disk_format: 'raw',
      container_format: 'bare',
    })
    const response = await api('PUT', `/v2/images/${image.id}/file`, {
      headers: { 'content-type': 'application/octet-stream' },
      body: data.subarray(0, mib),
    })
    assert.equal(response.status, 204)
    assert.equal((await getImage(api, image.id)).status, 'active')
  })
})

if (skipReason !== null) await rm(mountPoint, { recursive: true, force: true })

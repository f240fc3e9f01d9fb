import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { imageClient, issueToken } from '../helpers/client.js'
import { startServer, type RunningServer } from '../helpers/server.js'
import {
  createActiveImage,
  createImage,
  getImage,
  hexDigest,
  mib,
  startPartialUpload,
  storeEntries,
  uploadData,
  waitForImage,
} from './fixtures.js'

let server: RunningServer

before(async () => {
  server = await startServer()
})

after(async () => {
  await server?.stop()
})

/** Stops the server with SIGTERM and starts a new one on the same data directory. */
async function restart(): Promise<void> {
  assert.equal(await server.kill(), 0, 'the server should stop cleanly on SIGTERM')
  server = await startServer({ dataDir: server.dataDir })
}

describe('restart after a clean stop', () => {
  it('keeps images, their data and issued tokens', async () => {
    const token = await issueToken(server)
    const data = randomBytes(2 * mib)
    const image = await createActiveImage(server, token, data, {
      name: 'survivor',
      os_distro: 'debian',
      tags: ['keep'],
      visibility: 'private',
    })
    const queued = await createImage(imageClient(server, token), { name: 'survivor-queued' })

    await restart()
    const api = imageClient(server, await issueToken(server))
    assert.deepEqual(await getImage(api, image.id), image)
    assert.deepEqual(await getImage(api, queued.id), queued)

    const download = await api('GET', `/v2/images/${image.id}/file`)
    assert.equal(download.status, 200)
    assert.equal(hexDigest('sha256', download.body), hexDigest('sha256', data))

    const oldToken = await imageClient(server, token)('GET', `/v2/images/${image.id}`)
    assert.equal(oldToken.status, 200, 'a token issued before the restart should still work')
  })
})

describe('restart after SIGKILL during an upload', () => {
  it('requeues the image and removes partial data', async () => {
    const token = await issueToken(server)
    const api = imageClient(server, token)
    const image = await createImage(api, {
      name: 'killed-upload',
      disk_format: 'raw',
      container_format: 'bare',
    })
    const data = randomBytes(16 * mib)
    const upload = startPartialUpload(server, token, image.id, data, data.length, 4 * mib)
    await upload.written
    await waitForImage(api, image.id, (current) => current.status === 'saving')
    const partial = await storeEntries(server.dataDir)
    assert.equal(partial.incomplete.length, 1, 'the upload should have a partial file')

    process.kill(server.pid, 'SIGKILL')
    await server.kill()
    upload.abort()
    await upload.done
    server = await startServer({ dataDir: server.dataDir })

    const newToken = await issueToken(server)
    const newApi = imageClient(server, newToken)
    const recovered = await getImage(newApi, image.id)
    assert.equal(recovered.status, 'queued')
    for (const field of ['size', 'checksum', 'os_hash_value', 'virtual_size']) {
      assert.equal(recovered[field], null, `${field} should be null`)
    }
    const store = await storeEntries(server.dataDir)
    assert.equal(store.entries.includes(image.id), false)
    assert.deepEqual(store.incomplete, [])

    const retry = await uploadData(server, newToken, image.id, data)
    assert.equal(retry.status, 204, retry.text())
    assert.equal((await getImage(newApi, image.id)).checksum, hexDigest('md5', data))
  })
})

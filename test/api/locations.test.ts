import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { imageClient, issueToken } from '../helpers/client.js'
import { createTenant, startServer, type RunningServer } from '../helpers/server.js'
import {
  createActiveImage,
  createImage,
  getImage,
  hexDigest,
  type ImageClient,
} from './fixtures.js'

const patchType = 'application/openstack-images-v2.1-json-patch'
const remoteData = randomBytes(100_000)

let origin: Server
let remoteUrl: string
let server: RunningServer
let token: string
let api: ImageClient
const requests: string[] = []

/** A plain HTTP server on loopback that serves `remoteData` at every path, with ranges. */
function serveRemoteData(): Promise<Server> {
  const http = createServer((request, response) => {
    requests.push(`${request.method} ${request.url}`)
    if (request.url?.startsWith('/missing')) {
      response.writeHead(404).end()
      return
    }
    const range = /^bytes=(\d+)-(\d+)$/.exec(request.headers.range ?? '')
    if (range !== null) {
      const [start, end] = [Number(range[1]), Number(range[2])]
      response.writeHead(206, {
        'content-length': end - start + 1,
        'content-range': `bytes ${start}-${end}/${remoteData.length}`,
      })
      response.end(request.method === 'HEAD' ? undefined : remoteData.subarray(start, end + 1))
      return
    }
    response.writeHead(200, { 'content-length': remoteData.length })
    response.end(request.method === 'HEAD' ? undefined : remoteData)
  })
  return new Promise((resolve) => http.listen(0, '127.0.0.1', () => resolve(http)))
}

before(async () => {
  origin = await serveRemoteData()
  const port = (origin.address() as AddressInfo).port
  remoteUrl = `http://127.0.0.1:${port}/remote.raw`
  server = await startServer({
    configToml: [
      '[images]',
      'show_multiple_locations = true',
      'show_image_direct_url = true',
      '[import]',
      `web_download_allowed_hosts = ["127.0.0.1:${port}"]`,
    ].join('\n'),
  })
  token = await issueToken(server)
  api = imageClient(server, token)
})

after(async () => {
  await server?.stop()
  origin?.close()
})

function patch(id: string, operations: unknown[]) {
  return api('PATCH', `/v2/images/${id}`, {
    headers: { 'content-type': patchType },
    body: operations,
  })
}

async function imageWithRemoteLocation(extra: Record<string, unknown> = {}) {
  const image = await createImage(api, { disk_format: 'raw', container_format: 'bare' })
  assert.deepEqual(image.locations, [])
  const added = await patch(image.id, [
    { op: 'add', path: '/locations/-', value: { url: remoteUrl, metadata: { a: 'b' }, ...extra } },
  ])
  assert.equal(added.status, 200, added.text())
  return added.json()
}

describe('image locations, when an operator shows them', () => {
  it('shows the stored copy after an upload, with direct_url', async () => {
    const image = await createActiveImage(server, token, randomBytes(1000))
    assert.equal(image.locations.length, 1)
    assert.match(image.locations[0].url, /^file:\/\/\/.*\/images\//)
    assert.deepEqual(image.locations[0].metadata, { store: 'file' })
    assert.equal(image.direct_url, image.locations[0].url)
  })

  it('activates a queued image with an http location and serves its data', async () => {
    const image = await imageWithRemoteLocation()
    assert.equal(image.status, 'active')
    assert.equal(image.size, remoteData.length)
    assert.deepEqual(image.locations, [{ url: remoteUrl, metadata: { a: 'b' } }])
    assert.equal(image.os_hash_value, null)

    const download = await api('GET', `/v2/images/${image.id}/file`)
    assert.equal(download.status, 200)
    assert.equal(hexDigest('sha256', download.body), hexDigest('sha256', remoteData))
    const ranged = await api('GET', `/v2/images/${image.id}/file`, {
      headers: { range: 'bytes=10-19' },
    })
    assert.equal(ranged.status, 206)
    assert.deepEqual(ranged.body, remoteData.subarray(10, 20))
  })

  it('refuses other schemes, host files and hosts off the allow-list', async () => {
    const image = await createImage(api, { disk_format: 'raw', container_format: 'bare' })
    const before = requests.length
    for (const url of ['gopher://info.cern.ch', 'file:///etc/passwd', 'http://example.invalid/x']) {
      const refused = await patch(image.id, [
        { op: 'add', path: '/locations/-', value: { url, metadata: {} } },
      ])
      assert.equal(refused.status, 400, `${url}: ${refused.text()}`)
    }
    assert.equal((await getImage(api, image.id)).status, 'queued')
    assert.equal(requests.length, before)
  })

  it('changes metadata with a replace but refuses to drop or swap a URL', async () => {
    const image = await imageWithRemoteLocation()
    const second = { url: `${remoteUrl}#second`, metadata: { speed: '88mph' } }
    assert.equal(
      (await patch(image.id, [{ op: 'add', path: '/locations/-', value: second }])).status,
      200,
    )
    const locations = (await getImage(api, image.id)).locations
    assert.equal(locations.length, 2)

    locations[0].metadata.date = '2015-10-15'
    const changed = await patch(image.id, [{ op: 'replace', path: '/locations', value: locations }])
    assert.equal(changed.status, 200, changed.text())
    const dropped = await patch(image.id, [
      { op: 'replace', path: '/locations', value: [locations[0]] },
    ])
    assert.equal(dropped.status, 400, dropped.text())
    const swapped = await patch(image.id, [
      {
        op: 'replace',
        path: '/locations',
        value: [locations[0], { url: `${remoteUrl}#third`, metadata: {} }],
      },
    ])
    assert.equal(swapped.status, 400, swapped.text())
    assert.deepEqual((await getImage(api, image.id)).locations, locations)
  })

  it('removes a location but never the last one', async () => {
    const image = await imageWithRemoteLocation()
    const second = { url: `${remoteUrl}#2`, metadata: {} }
    await patch(image.id, [{ op: 'add', path: '/locations/-', value: second }])
    const removed = await patch(image.id, [{ op: 'remove', path: '/locations/0' }])
    assert.equal(removed.status, 200, removed.text())
    const remaining = (await getImage(api, image.id)) as {
      locations: unknown[]
      direct_url: string
    }
    assert.deepEqual(remaining.locations, [second])
    assert.equal(remaining.direct_url, second.url)
    const last = await patch(image.id, [{ op: 'remove', path: '/locations/0' }])
    assert.equal(last.status, 403, last.text())
  })

  it('takes hashes from validation_data and refuses a location that disagrees', async () => {
    const validation = {
      checksum: '1'.repeat(32),
      os_hash_algo: 'sha512',
      os_hash_value: 'deadbeef'.repeat(16),
    }
    const image = await imageWithRemoteLocation({ validation_data: validation })
    assert.equal(image.checksum, validation.checksum)
    assert.equal(image.os_hash_value, validation.os_hash_value)
    assert.equal(image.locations[0].validation_data, undefined)

    const same = { url: `${remoteUrl}#same`, metadata: {}, validation_data: validation }
    assert.equal(
      (await patch(image.id, [{ op: 'add', path: '/locations/-', value: same }])).status,
      200,
    )
    const other = {
      url: `${remoteUrl}#other`,
      metadata: {},
      validation_data: { ...validation, os_hash_value: 'beefdead'.repeat(16) },
    }
    const refused = await patch(image.id, [{ op: 'add', path: '/locations/-', value: other }])
    assert.equal(refused.status, 409, refused.text())
    assert.equal((await getImage(api, image.id)).locations.length, 2)
  })
})

describe('image locations and tenants', () => {
  let member: ImageClient
  let memberToken: string

  before(async () => {
    memberToken = await issueToken(server, await createTenant(server, 'locations-member'))
    member = imageClient(server, memberToken)
  })

  function memberPatch(id: string, operations: unknown[]) {
    return member('PATCH', `/v2/images/${id}`, {
      headers: { 'content-type': patchType },
      body: operations,
    })
  }

  it('shows locations to the owner and admins only', async () => {
    const image = await createActiveImage(server, token, randomBytes(100), {
      visibility: 'public',
    })
    const seen = await getImage(member, image.id)
    assert.equal(seen.locations, undefined)
    assert.equal(seen.direct_url, undefined)
  })

  it('keeps an owner from swapping the data of an active image', async () => {
    const image = await createActiveImage(server, memberToken, randomBytes(1000))
    const other = { url: remoteUrl, metadata: {} }
    const unvouched = await memberPatch(image.id, [
      { op: 'add', path: '/locations/-', value: other },
    ])
    assert.equal(unvouched.status, 400, unvouched.text())
    assert.match(unvouched.text(), /needs validation_data/)

    const vouched = {
      ...other,
      validation_data: {
        checksum: image.checksum,
        os_hash_algo: 'sha512',
        os_hash_value: image.os_hash_value,
      },
    }
    const wrongSize = await memberPatch(image.id, [
      { op: 'add', path: '/locations/-', value: vouched },
    ])
    assert.equal(wrongSize.status, 400, wrongSize.text())
    assert.match(wrongSize.text(), /is 100000 bytes, but the image has 1000/)
    assert.equal((await getImage(member, image.id)).locations.length, 1)
  })

  it('lets only admins remove a stored copy through the locations API', async () => {
    const image = await createActiveImage(server, memberToken, remoteData)
    const same = {
      url: remoteUrl,
      metadata: {},
      validation_data: {
        checksum: image.checksum,
        os_hash_algo: 'sha512',
        os_hash_value: image.os_hash_value,
      },
    }
    const added = await memberPatch(image.id, [{ op: 'add', path: '/locations/-', value: same }])
    assert.equal(added.status, 200, added.text())
    const byMember = await memberPatch(image.id, [{ op: 'remove', path: '/locations/0' }])
    assert.equal(byMember.status, 403, byMember.text())
    const byAdmin = await patch(image.id, [{ op: 'remove', path: '/locations/0' }])
    assert.equal(byAdmin.status, 200, byAdmin.text())
    const download = await member('GET', `/v2/images/${image.id}/file`)
    assert.equal(hexDigest('sha256', download.body), hexDigest('sha256', remoteData))
  })

  it('reports a URL that fails with 400 and caps the count at 10', async () => {
    const image = await createImage(api, { disk_format: 'raw', container_format: 'bare' })
    const missing = { url: `http://127.0.0.1:${new URL(remoteUrl).port}/missing`, metadata: {} }
    const failed = await patch(image.id, [{ op: 'add', path: '/locations/-', value: missing }])
    assert.equal(failed.status, 400, failed.text())
    assert.match(failed.text(), /404/)

    const many = Array.from({ length: 11 }, (_, i) => ({
      op: 'add',
      path: '/locations/-',
      value: { url: `${remoteUrl}#${i}`, metadata: {} },
    }))
    const capped = await patch(image.id, many)
    assert.equal(capped.status, 413, capped.text())
    assert.equal((await getImage(api, image.id)).status, 'queued')
  })
})

describe('image locations, by default', () => {
  let plain: RunningServer

  before(async () => {
    plain = await startServer()
  })

  after(async () => {
    await plain?.stop()
  })

  it('are hidden and cannot be edited', async () => {
    const plainToken = await issueToken(plain)
    const image = await createActiveImage(plain, plainToken, randomBytes(100))
    assert.equal(image.locations, undefined)
    assert.equal(image.direct_url, undefined)
    const refused = await imageClient(plain, plainToken)('PATCH', `/v2/images/${image.id}`, {
      headers: { 'content-type': patchType },
      body: [{ op: 'add', path: '/locations/-', value: { url: 'http://127.0.0.1:1/x' } }],
    })
    assert.equal(refused.status, 403, refused.text())
    assert.match(refused.text(), /show_multiple_locations/)
  })
})

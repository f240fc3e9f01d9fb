import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { imageClient, issueToken } from '../helpers/client.js'
import { startServer, type RunningServer } from '../helpers/server.js'
import {
  createActiveImage,
  createImage,
  followLink,
  type ImageClient,
  type WireImage,
} from './fixtures.js'

const pagingCount = 30

let server: RunningServer
let api: ImageClient
let token: string
let pagingIds: string[]

before(async () => {
  server = await startServer()
  token = await issueToken(server)
  api = imageClient(server, token)
  pagingIds = []
  for (let i = 0; i < pagingCount; i++) {
    const name = `page-${String(i).padStart(2, '0')}`
    pagingIds.push((await createImage(api, { name, batch: 'paging' })).id)
  }
})

after(async () => {
  await server?.stop()
})

/** Lists images with a query string, checks for 200 and returns the body. */
async function list(query: string) {
  const response = await api('GET', `/v2/images?${query}`)
  assert.equal(response.status, 200, `GET /v2/images?${query}: ${response.text()}`)
  return response.json() as { images: WireImage[]; next?: string; first: string }
}

async function listIds(query: string): Promise<string[]> {
  return (await list(query)).images.map((image) => image.id as string)
}

describe('image list paging', () => {
  it('returns every image once across pages', async () => {
    const seen: string[] = []
    let link: string | undefined = '/v2/images?batch=paging&limit=7'
    let pages = 0
    while (link !== undefined) {
      const response = await followLink(server, token, link)
      assert.equal(response.status, 200, response.text())
      const body = response.json()
      assert.ok(body.images.length <= 7, `page of ${body.images.length} images`)
      seen.push(...body.images.map((image: { id: string }) => image.id))
      link = body.next
      pages++
      assert.ok(pages <= pagingCount, 'paging does not end')
    }

    assert.equal(seen.length, pagingCount)
    assert.equal(new Set(seen).size, pagingCount, 'an image was returned twice')
    assert.deepEqual([...seen].sort(), [...pagingIds].sort())
  })

  it('returns no next link on the last page', async () => {
    const body = await list(`batch=paging&limit=${pagingCount}`)
    assert.equal(body.images.length, pagingCount)
    assert.equal(body.next, undefined)
  })

  it('starts after the marker', async () => {
    const all = await listIds('batch=paging&sort_key=name&sort_dir=asc&limit=100')
    const rest = await listIds(`batch=paging&sort_key=name&sort_dir=asc&limit=100&marker=${all[9]}`)
    assert.equal(all.length, pagingCount)
    assert.deepEqual(rest, all.slice(10))
  })
})

describe('image list sorting', () => {
  it('sorts by name ascending with sort_key and sort_dir', async () => {
    const names = (await list('batch=paging&sort_key=name&sort_dir=asc&limit=100')).images.map(
      (image) => image.name as string,
    )
    assert.equal(names.length, pagingCount)
    assert.deepEqual(names, [...names].sort())
    assert.equal(names[0], 'page-00')
  })

  it('sorts by name ascending, then size descending, with sort', async () => {
    const images = []
    for (const [name, bytes] of [
      ['sort-b', 500],
      ['sort-a', 1000],
      ['sort-b', 2000],
      ['sort-a', 3000],
    ] as const) {
      images.push(
        await createActiveImage(server, token, randomBytes(bytes), { name, batch: 'sort' }),
      )
    }
    const order = (await list('batch=sort&sort=name:asc,size:desc')).images.map((image) => [
      image.name,
      image.size,
    ])
    assert.deepEqual(order, [
      ['sort-a', 3000],
      ['sort-a', 1000],
      ['sort-b', 2000],
      ['sort-b', 500],
    ])
  })
})

describe('image list filters', () => {
  it('filters by name', async () => {
    const body = await list('name=page-03')
    assert.deepEqual(
      body.images.map((image) => image.name),
      ['page-03'],
    )
  })

  it('filters by status', async () => {
    const active = await createActiveImage(server, token, randomBytes(1024), {
      name: 'status-active',
      batch: 'status',
    })
    const queued = await createImage(api, { name: 'status-queued', batch: 'status' })

    assert.deepEqual(await listIds('batch=status&status=active'), [active.id])
    assert.deepEqual(await listIds('batch=status&status=queued'), [queued.id])
  })

  it('filters by visibility', async () => {
    const hidden = await createImage(api, {
      name: 'vis-private',
      visibility: 'private',
      batch: 'vis',
    })
    const open = await createImage(api, { name: 'vis-public', visibility: 'public', batch: 'vis' })

    assert.deepEqual(await listIds('batch=vis&visibility=private'), [hidden.id])
    assert.deepEqual(await listIds('batch=vis&visibility=public'), [open.id])
  })

  it('filters by tag, all given tags required', async () => {
    const both = await createImage(api, {
      name: 'tag-both',
      tags: ['gold', 'silver'],
      batch: 'tag',
    })
    const gold = await createImage(api, { name: 'tag-gold', tags: ['gold'], batch: 'tag' })
    await createImage(api, { name: 'tag-none', batch: 'tag' })

    assert.deepEqual((await listIds('batch=tag&tag=gold')).sort(), [both.id, gold.id].sort())
    assert.deepEqual(await listIds('batch=tag&tag=gold&tag=silver'), [both.id])
  })

  it('filters by disk_format', async () => {
    const qcow2 = await createImage(api, { name: 'fmt-qcow2', disk_format: 'qcow2', batch: 'fmt' })
    await createImage(api, { name: 'fmt-raw', disk_format: 'raw', batch: 'fmt' })

    assert.deepEqual(await listIds('batch=fmt&disk_format=qcow2'), [qcow2.id])
  })

  it('filters by a free-form property', async () => {
    const matching = await createImage(api, { name: 'distro-x', os_distro: 'x' })
    await createImage(api, { name: 'distro-y', os_distro: 'y' })

    assert.deepEqual(await listIds('os_distro=x'), [matching.id])
  })
})

describe('image list limits', () => {
  it('caps limit at 1000', async () => {
    const batch = `bulk-${randomUUID()}`
    const ids = Array.from({ length: 1001 }, () => randomUUID())
    for (let i = 0; i < ids.length; i += 25) {
      await Promise.all(
        ids.slice(i, i + 25).map((id) => createImage(api, { id, name: 'bulk', batch })),
      )
    }

    const body = await list(`batch=${batch}&limit=5000`)
    assert.equal(body.images.length, 1000)
    assert.ok(body.next !== undefined, 'a capped page should link to the next one')
  })

  it('rejects limit=-1 with 400', async () => {
    assert.equal((await api('GET', '/v2/images?limit=-1')).status, 400)
  })

  it('rejects an unknown marker with 400', async () => {
    const response = await api('GET', `/v2/images?marker=${randomUUID()}`)
    assert.equal(response.status, 400)
  })

  it('rejects an invalid sort_key with 400', async () => {
    assert.equal((await api('GET', '/v2/images?sort_key=colour')).status, 400)
  })

  it('rejects an invalid sort direction with 400', async () => {
    assert.equal((await api('GET', '/v2/images?sort=name:sideways')).status, 400)
  })
})

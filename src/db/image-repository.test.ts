import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import type { Kysely } from 'kysely'
import { ConflictError } from '../domain/errors.js'
import type { Image } from '../domain/image.js'
import type { ListQuery, SortSpec } from '../domain/ports.js'
import { migrateToLatest, openDatabase } from './connection.js'
import { SqlImageRepository } from './image-repository.js'
import type { Database } from './schema.js'

function makeImage(overrides: Partial<Image> = {}): Image {
  const now = new Date()
  return {
    id: randomUUID(),
    name: null,
    status: 'queued',
    visibility: 'private',
    protected: false,
    osHidden: false,
    checksum: null,
    osHashAlgo: null,
    osHashValue: null,
    size: null,
    virtualSize: null,
    diskFormat: null,
    containerFormat: null,
    minDisk: 0,
    minRam: 0,
    owner: 'p1',
    createdAt: now,
    updatedAt: now,
    tags: [],
    properties: {},
    locations: [],
    ...overrides,
  }
}

function query(sort: SortSpec[], limit: number, marker: Image | null): ListQuery {
  return {
    scope: { projectId: null, visibility: null, memberStatus: 'accepted' },
    filters: {},
    sort,
    limit,
    marker,
  }
}

describe('SQL image repository on SQLite', () => {
  let db: Kysely<Database>
  let repo: SqlImageRepository

  before(async () => {
    db = openDatabase(':memory:')
    await migrateToLatest(db)
    repo = new SqlImageRepository(db)
  })

  after(async () => {
    await db.destroy()
  })

  it('stores and reads back tags and properties', async () => {
    const image = makeImage({ name: 'a', tags: ['x', 'y'], properties: { os_distro: 'cirros' } })
    await repo.create(image)
    const read = await repo.get(image.id)
    assert.deepEqual(read?.tags.sort(), ['x', 'y'])
    assert.deepEqual(read?.properties, { os_distro: 'cirros' })
    assert.equal(read?.createdAt.toISOString(), image.createdAt.toISOString())
  })

  it('adds a location once per store and removes it', async () => {
    const image = makeImage()
    await repo.create(image)
    const fast = { store: 'fast', key: image.id, url: null, metadata: { store: 'fast' } }
    await repo.addLocation(image.id, fast)
    await repo.addLocation(image.id, { ...fast, metadata: { other: true } })
    assert.deepEqual((await repo.get(image.id))?.locations, [fast])
    await repo.removeLocation(image.id, 'fast')
    assert.deepEqual((await repo.get(image.id))?.locations, [])
  })

  it('activates a queued image only through setLocations', async () => {
    const image = makeImage()
    await repo.create(image)
    const remote = { store: 'http', key: null, url: 'http://127.0.0.1/x', metadata: {} }
    const data = { size: 10, checksum: null, osHashAlgo: null, osHashValue: null }
    const active = await repo.setLocations(image.id, [remote], data, null)
    assert.equal(active?.status, 'active')
    assert.equal(active?.size, 10)
    assert.equal(await repo.setLocations(image.id, [remote], data, null), null)
  })

  it('grants the import lock to one task at a time', async () => {
    const image = makeImage()
    await repo.create(image)
    assert.equal(await repo.lockImport(image.id, 'task-1'), true)
    assert.equal(await repo.lockImport(image.id, 'task-2'), false)
    await repo.unlockImport(image.id, 'task-2')
    assert.equal((await repo.get(image.id))?.properties.os_glance_import_task, 'task-1')
    await repo.unlockImport(image.id, 'task-1')
    assert.equal(await repo.lockImport(image.id, 'task-2'), true)
  })

  it('keeps service properties through a user update', async () => {
    const image = makeImage({ properties: { color: 'red' } })
    await repo.create(image)
    await repo.setProperties(image.id, { os_glance_failed_import: 'spare' })
    const read = (await repo.get(image.id))!
    await repo.update({ ...read, properties: { color: 'blue' } })
    assert.deepEqual((await repo.get(image.id))?.properties, {
      color: 'blue',
      os_glance_failed_import: 'spare',
    })
    await repo.setProperties(image.id, { os_glance_failed_import: null })
    assert.deepEqual((await repo.get(image.id))?.properties, { color: 'blue' })
  })

  it('never reuses the id of a deleted image', async () => {
    const image = makeImage()
    await repo.create(image)
    assert.notEqual(await repo.delete(image.id), null)
    assert.equal(await repo.get(image.id), null)
    await assert.rejects(repo.create(makeImage({ id: image.id })), ConflictError)
  })

  it('moves status only from the expected state', async () => {
    const image = makeImage()
    await repo.create(image)
    assert.equal((await repo.transition(image.id, ['queued'], 'saving'))?.status, 'saving')
    assert.equal(await repo.transition(image.id, ['queued'], 'saving'), null)
    await repo.resetUpload(image.id)
    assert.equal((await repo.get(image.id))?.status, 'queued')
  })

  it('pages through every image exactly once in any order, ties included', async () => {
    const created = new Date('2026-01-01T00:00:00.000Z')
    const names = ['b', 'a', null, 'b', 'c', 'a', null, 'd']
    for (let i = 0; i < 40; i++) {
      await repo.create(
        makeImage({
          name: names[i % names.length]!,
          size: i % 3 === 0 ? null : (i % 5) * 100,
          owner: 'paging',
          // Four images share each timestamp, so only the id breaks some ties.
          createdAt: new Date(created.getTime() + Math.floor(i / 4) * 1000),
        }),
      )
    }
    const all = (await repo.list(query([], 1000, null))).filter((i) => i.owner === 'paging')
    assert.equal(all.length, 40)

    const orders: SortSpec[][] = [
      [],
      [{ key: 'name', direction: 'asc' }],
      [
        { key: 'name', direction: 'desc' },
        { key: 'size', direction: 'asc' },
      ],
      [{ key: 'size', direction: 'desc' }],
      [{ key: 'created_at', direction: 'asc' }],
    ]
    for (const sort of orders) {
      const seen: string[] = []
      let marker: Image | null = null
      for (let page = 0; page < 100; page++) {
        const found: Image[] = await repo.list(query(sort, 7, marker))
        if (found.length === 0) break
        seen.push(...found.map((i) => i.id))
        marker = found.at(-1)!
      }
      const paging = seen.filter((id) => all.some((i) => i.id === id))
      assert.equal(new Set(paging).size, paging.length, `duplicates with ${JSON.stringify(sort)}`)
      assert.equal(paging.length, 40, `missing images with ${JSON.stringify(sort)}`)
    }
  })

  it('filters by tag and property together', async () => {
    await repo.create(makeImage({ owner: 'f', tags: ['gold'], properties: { os: 'linux' } }))
    await repo.create(makeImage({ owner: 'f', tags: ['gold'], properties: { os: 'bsd' } }))
    const q = query([], 100, null)
    q.filters = { match: { owner: ['f'] }, tags: ['gold'], properties: { os: 'linux' } }
    const found = await repo.list(q)
    assert.equal(found.length, 1)
    assert.equal(found[0]!.properties.os, 'linux')
  })

  it('lists shared images to members by membership status', async () => {
    const image = makeImage({ owner: 'owner', visibility: 'shared' })
    await repo.create(image)
    const now = new Date()
    await repo.addMember({
      imageId: image.id,
      memberId: 'guest',
      status: 'pending',
      createdAt: now,
      updatedAt: now,
    })

    const scoped = (memberStatus: 'accepted' | 'pending' | 'all'): ListQuery => ({
      ...query([], 100, null),
      scope: { projectId: 'guest', visibility: null, memberStatus },
    })
    assert.equal((await repo.list(scoped('accepted'))).length, 0)
    assert.equal((await repo.list(scoped('pending'))).length, 1)
    assert.equal((await repo.list(scoped('all'))).length, 1)
    await assert.rejects(
      repo.addMember({
        imageId: image.id,
        memberId: 'guest',
        status: 'pending',
        createdAt: now,
        updatedAt: now,
      }),
      ConflictError,
    )
  })
})

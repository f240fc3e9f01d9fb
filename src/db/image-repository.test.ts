import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import type { Kysely } from 'kysely'
import { ConflictError, NotFoundError } from '../domain/errors.js'
import type { Image } from '../domain/image.js'
import type { ListQuery, SortSpec } from '../domain/ports.js'
import { testDatabases, stopTestDatabases } from '../../test/helpers/databases.js'
import { migrateToLatest } from './connection.js'
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

after(stopTestDatabases)

for (const database of testDatabases) {
  describe(`SQL image repository on ${database.name}`, { skip: database.skip }, () => {
    let db: Kysely<Database>
    let repo: SqlImageRepository

    before(async () => {
      db = await database.open()
      await migrateToLatest(db)
      repo = new SqlImageRepository(db)
    })

    after(async () => {
      await db?.destroy()
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

    /** Lists the images of one owner, so that each test gets only the images it created. */
    function listOwned(owner: string, sort: SortSpec[], limit = 1000, marker: Image | null = null) {
      const q = query(sort, limit, marker)
      q.filters = { match: { owner: [owner] } }
      return repo.list(q)
    }

    async function pageThrough(owner: string, sort: SortSpec[], pageSize: number) {
      const seen: Image[] = []
      let marker: Image | null = null
      for (let page = 0; page < 100; page++) {
        const found: Image[] = await listOwned(owner, sort, pageSize, marker)
        if (found.length === 0) break
        seen.push(...found)
        marker = found.at(-1)!
      }
      return seen
    }

    it('sorts NULL first ascending and last descending', async () => {
      const owner = 'null-order'
      for (const [name, size] of [
        ['b', 20],
        [null, null],
        ['', 0],
        ['a', null],
        [null, 10],
      ] as const) {
        await repo.create(makeImage({ owner, name, size }))
      }

      const names = async (direction: 'asc' | 'desc') =>
        (await listOwned(owner, [{ key: 'name', direction }])).map((image) => image.name)
      assert.deepEqual(await names('asc'), [null, null, '', 'a', 'b'])
      assert.deepEqual(await names('desc'), ['b', 'a', '', null, null])

      const sizes = async (direction: 'asc' | 'desc') =>
        (await listOwned(owner, [{ key: 'size', direction }])).map((image) => image.size)
      assert.deepEqual(await sizes('asc'), [null, null, 0, 10, 20])
      assert.deepEqual(await sizes('desc'), [20, 10, 0, null, null])
    })

    it('pages like one full listing', async () => {
      const owner = 'null-paging'
      const created = new Date('2026-02-01T00:00:00.000Z')
      for (let i = 0; i < 24; i++) {
        await repo.create(
          makeImage({
            owner,
            name: i % 3 === 0 ? null : `n${i % 4}`,
            size: i % 4 === 0 ? null : (i % 3) * 2 ** 32,
            diskFormat: i % 2 === 0 ? null : 'raw',
            createdAt: new Date(created.getTime() + Math.floor(i / 3) * 1000),
          }),
        )
      }
      const orders: SortSpec[][] = [
        [{ key: 'name', direction: 'asc' }],
        [{ key: 'name', direction: 'desc' }],
        [
          { key: 'size', direction: 'asc' },
          { key: 'name', direction: 'desc' },
        ],
        [
          { key: 'disk_format', direction: 'desc' },
          { key: 'size', direction: 'asc' },
        ],
      ]
      for (const sort of orders) {
        const full = (await listOwned(owner, sort)).map((image) => image.id)
        assert.equal(full.length, 24)
        for (const pageSize of [1, 5, 7]) {
          const paged = (await pageThrough(owner, sort, pageSize)).map((image) => image.id)
          assert.deepEqual(paged, full, `pages of ${pageSize} by ${JSON.stringify(sort)}`)
        }
      }
    })

    it('sorts names by byte', async () => {
      const owner = 'byte-order'
      for (const name of ['b', 'B', 'a', 'A', '_x', 'é', 'z']) {
        await repo.create(makeImage({ owner, name }))
      }
      const names = (await listOwned(owner, [{ key: 'name', direction: 'asc' }])).map(
        (image) => image.name,
      )
      assert.deepEqual(names, ['A', 'B', '_x', 'a', 'b', 'z', 'é'])
    })

    it('returns sizes above 2^31 and 2^32 as numbers', async () => {
      for (const size of [2 ** 31 + 1, 2 ** 32 + 7, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER]) {
        const image = makeImage({ owner: 'big', size, virtualSize: size - 1 })
        await repo.create(image)
        const read = await repo.get(image.id)
        assert.equal(typeof read?.size, 'number')
        assert.equal(read?.size, size)
        assert.equal(read?.virtualSize, size - 1)
      }
    })

    it('filters and sorts sizes above 2^32', async () => {
      const owner = 'big-filter'
      for (const size of [2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 3 * 2 ** 32]) {
        await repo.create(makeImage({ owner, size }))
      }
      const q = query([{ key: 'size', direction: 'asc' }], 100, null)
      q.filters = { match: { owner: [owner] }, sizeMin: 2 ** 32, sizeMax: 2 ** 32 + 1 }
      assert.deepEqual(
        (await repo.list(q)).map((image) => image.size),
        [2 ** 32, 2 ** 32 + 1],
      )
      q.filters = { match: { owner: [owner] }, size: 3 * 2 ** 32 }
      assert.deepEqual(
        (await repo.list(q)).map((image) => image.size),
        [3 * 2 ** 32],
      )
    })

    it('matches names and properties case-sensitively', async () => {
      const owner = 'case'
      await repo.create(makeImage({ owner, name: 'Ubuntu', properties: { os: 'Linux' } }))
      await repo.create(makeImage({ owner, name: 'ubuntu', properties: { os: 'linux' } }))
      const q = query([], 100, null)
      q.filters = { match: { owner: [owner], name: ['Ubuntu'] } }
      assert.deepEqual(
        (await repo.list(q)).map((image) => image.name),
        ['Ubuntu'],
      )
      q.filters = { match: { owner: [owner] }, properties: { os: 'linux' } }
      assert.deepEqual(
        (await repo.list(q)).map((image) => image.name),
        ['ubuntu'],
      )
    })

    it('updates properties resembling reserved ones', async () => {
      const properties = { OS_GLANCE_note: 'upper', 'os-glance-note': 'dashes' }
      const image = makeImage({ properties })
      await repo.create(image)
      const changed = { OS_GLANCE_note: 'upper 2', 'os-glance-note': 'dashes 2' }
      await repo.update({ ...image, properties: changed })
      assert.deepEqual((await repo.get(image.id))?.properties, changed)
    })

    it('sums usage over large images as numbers', async () => {
      const owner = 'usage'
      await repo.create(makeImage({ owner, status: 'active', size: 3 * 2 ** 32 }))
      await repo.create(makeImage({ owner, status: 'active', size: 2 ** 31 }))
      await repo.create(makeImage({ owner, status: 'uploading', size: 2 ** 33 }))
      await repo.create(makeImage({ owner, status: 'saving', size: null }))
      await repo.create(makeImage({ owner }))
      const deleted = makeImage({ owner, status: 'active', size: 5 })
      await repo.create(deleted)
      await repo.delete(deleted.id)

      const usage = await repo.usage(owner)
      assert.deepEqual(usage, {
        sizeTotal: 3 * 2 ** 32 + 2 ** 31,
        countTotal: 5,
        countUploading: 2,
        stageTotal: 2 ** 33,
      })
      for (const value of Object.values(usage)) assert.equal(typeof value, 'number')
      assert.deepEqual(await repo.usage('nobody'), {
        sizeTotal: 0,
        countTotal: 0,
        countUploading: 0,
        stageTotal: 0,
      })
    })

    it('reads each image from one snapshot', async () => {
      const image = makeImage({ name: 'v0', properties: { version: 'v0' } })
      await repo.create(image)
      const byId = query([], 10, null)
      byId.filters = { match: { id: [image.id] } }

      let writing = true
      const writer = (async () => {
        for (let i = 1; i <= 150; i++) {
          await repo.update({ ...image, name: `v${i}`, properties: { version: `v${i}` } })
        }
        writing = false
      })()
      const mismatches: string[] = []
      const reader = async (read: () => Promise<Image | undefined>) => {
        while (writing) {
          const found = await read()
          if (found?.name !== found?.properties.version) {
            mismatches.push(`${found?.name} with ${found?.properties.version}`)
          }
        }
      }
      await Promise.all([
        writer,
        reader(async () => (await repo.get(image.id)) ?? undefined),
        reader(async () => (await repo.get(image.id)) ?? undefined),
        reader(async () => (await repo.list(byId))[0]),
      ])
      assert.deepEqual(mismatches, [])
    })

    it('keeps every location added concurrently', async () => {
      const image = makeImage({ status: 'active' })
      await repo.create(image)
      const stores = Array.from({ length: 12 }, (_, i) => `store-${i}`)
      await Promise.all(
        stores.map((store) =>
          repo.addLocation(image.id, { store, key: image.id, url: null, metadata: {} }),
        ),
      )
      const locations = (await repo.get(image.id))!.locations
      assert.deepEqual(locations.map((location) => location.store).sort(), [...stores].sort())

      await Promise.all(stores.slice(0, 6).map((store) => repo.removeLocation(image.id, store)))
      const left = (await repo.get(image.id))!.locations
      assert.deepEqual(left.map((location) => location.store).sort(), stores.slice(6).sort())
    })

    it('applies concurrent property changes and updates', async () => {
      const image = makeImage({ properties: { color: 'red' } })
      await repo.create(image)
      const writes: Promise<unknown>[] = []
      for (let i = 0; i < 10; i++) {
        writes.push(repo.setProperties(image.id, { os_glance_progress: String(i), color: null }))
        writes.push(repo.update({ ...image, tags: [`t${i}`], properties: { color: `c${i}` } }))
      }
      await Promise.all(writes)
      const read = (await repo.get(image.id))!
      assert.equal(read.tags.length, 1)
      assert.match(read.properties.os_glance_progress ?? '', /^\d$/)
    })

    it('deletes concurrently exactly once', async () => {
      const image = makeImage({ tags: ['x'] })
      await repo.create(image)
      const results = await Promise.all([1, 2, 3, 4].map(() => repo.delete(image.id)))
      const deleted = results.filter((result) => result !== null)
      assert.equal(deleted.length, 1)
      assert.deepEqual(deleted[0]?.tags, ['x'])
    })

    it('adds no member to a deleted image', async () => {
      const image = makeImage({ visibility: 'shared' })
      await repo.create(image)
      await repo.delete(image.id)
      const now = new Date()
      const member = {
        imageId: image.id,
        memberId: 'late',
        status: 'pending' as const,
        createdAt: now,
        updatedAt: now,
      }
      await assert.rejects(repo.addMember(member), NotFoundError)
      assert.equal(await repo.getMember(image.id, 'late'), null)
    })

    it('lists interrupted uploads by host', async () => {
      const hostA = new SqlImageRepository(db, 'host-a')
      const hostB = new SqlImageRepository(db, 'host-b')
      const onA = makeImage({ owner: 'by-host' })
      const onB = makeImage({ owner: 'by-host' })
      await repo.create(onA)
      await repo.create(onB)
      await hostA.transition(onA.id, ['queued'], 'saving')
      await hostB.transition(onB.id, ['queued'], 'saving')

      const ids = (images: Image[]) =>
        images.filter((image) => image.owner === 'by-host').map((image) => image.id)
      assert.deepEqual(ids(await hostA.listInterruptedUploads()), [onA.id])
      assert.deepEqual(ids(await hostA.listInterruptedUploads(['saving'], 'host-b')), [onB.id])
      await hostB.resetUpload(onB.id)
      assert.deepEqual(ids(await hostA.listInterruptedUploads(['saving'], 'host-b')), [])
    })

    it('pages active images by id', async () => {
      const ids = ['B-1', 'a-2', 'b-3', 'c-4'].map((suffix) => `list-active-${suffix}`)
      for (const id of ids) {
        await repo.create(makeImage({ id, owner: 'list-active', status: 'active', tags: [id] }))
      }
      await repo.create(makeImage({ id: 'list-active-queued', owner: 'list-active' }))

      const seen: Image[] = []
      let after: string | null = 'list-active-'
      for (let page = 0; page < 10 && after !== null; page++) {
        const found: Image[] = (await repo.listActive(after, 2)).filter((image) =>
          image.id.startsWith('list-active-'),
        )
        seen.push(...found)
        after = found.length === 2 ? found[1]!.id : null
      }
      assert.deepEqual(
        seen.map((image) => image.id),
        ids,
      )
      for (const image of seen) assert.deepEqual(image.tags, [image.id])
    })
  })
}

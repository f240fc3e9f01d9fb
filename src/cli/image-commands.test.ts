import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DictCell, ListCell } from './cells.js'
import { buildCreateRequest } from './commands/image-create.js'
import { parseSortKeys, sortImages } from './commands/image-list.js'
import { buildSetOperations, toPointer, type SetOptions } from './commands/image-set.js'
import { buildUnsetOperations } from './commands/image-unset.js'
import { UsageError } from './errors.js'
import type { ImageRecord } from './image-client.js'
import { formatHumanSize, toImageShowResult } from './image-view.js'

const image: ImageRecord = {
  id: '11111111-1111-4111-8111-111111111111',
  name: 'ubuntu',
  status: 'active',
  size: null,
  tags: ['b', 'a'],
  os_distro: 'ubuntu',
  os_hidden: false,
  self: '/v2/images/11111111-1111-4111-8111-111111111111',
}

describe('buildCreateRequest', () => {
  it('sends only the flags given, with properties at the top level', () => {
    const body = buildCreateRequest(
      'my-image',
      { containerFormat: 'bare', diskFormat: 'qcow2', property: { os_distro: 'ubuntu' }, tag: [] },
      undefined,
    )
    assert.deepEqual(body, {
      os_distro: 'ubuntu',
      name: 'my-image',
      disk_format: 'qcow2',
      container_format: 'bare',
    })
  })

  it('maps visibility, protection, sizes, tags and owner', () => {
    const options = {
      containerFormat: 'bare',
      diskFormat: 'raw',
      property: {},
      tag: ['lts', 'lts', 'x'],
      id: '22222222-2222-4222-8222-222222222222',
      minDisk: 10,
      minRam: 512,
      public: true,
      protected: true,
    }
    const body = buildCreateRequest('n', options, 'project-1')
    assert.equal(body['visibility'], 'public')
    assert.equal(body['protected'], true)
    assert.equal(body['min_disk'], 10)
    assert.equal(body['min_ram'], 512)
    assert.deepEqual(body['tags'], ['lts', 'x'])
    assert.equal(body['id'], '22222222-2222-4222-8222-222222222222')
    assert.equal(body['owner'], 'project-1')
  })

  it('lets flags win over a property of the same name', () => {
    const options = {
      containerFormat: 'bare',
      diskFormat: 'raw',
      property: { visibility: 'x' },
      tag: [],
      private: true,
    }
    assert.equal(buildCreateRequest('n', options, undefined)['visibility'], 'private')
  })
})

function setOptions(overrides: Partial<SetOptions>): SetOptions {
  return { property: {}, tag: [], ...overrides }
}

describe('buildSetOperations', () => {
  it('replaces core fields', () => {
    const options = setOptions({ name: 'new', minDisk: 3, diskFormat: 'qcow2' })
    assert.deepEqual(
      buildSetOperations(image, options, { public: true, unprotected: true }, undefined),
      [
        { op: 'replace', path: '/name', value: 'new' },
        { op: 'replace', path: '/min_disk', value: 3 },
        { op: 'replace', path: '/disk_format', value: 'qcow2' },
        { op: 'replace', path: '/visibility', value: 'public' },
        { op: 'replace', path: '/protected', value: false },
      ],
    )
  })

  it('adds new properties and replaces existing ones', () => {
    const options = setOptions({
      property: { os_distro: 'debian', 'hw/a~b': 'x' },
      architecture: 'x86_64',
    })
    assert.deepEqual(buildSetOperations(image, options, {}, undefined), [
      { op: 'replace', path: '/os_distro', value: 'debian' },
      { op: 'add', path: '/hw~1a~0b', value: 'x' },
      { op: 'add', path: '/architecture', value: 'x86_64' },
    ])
  })

  it('replaces the tag list only when a tag is new', () => {
    assert.deepEqual(buildSetOperations(image, setOptions({ tag: ['a'] }), {}, undefined), [])
    assert.deepEqual(buildSetOperations(image, setOptions({ tag: ['c', 'a'] }), {}, undefined), [
      { op: 'replace', path: '/tags', value: ['b', 'a', 'c'] },
    ])
  })

  it('sets the owner and the hidden flag', () => {
    assert.deepEqual(buildSetOperations(image, setOptions({ hidden: true }), {}, 'p-2'), [
      { op: 'replace', path: '/os_hidden', value: true },
      { op: 'replace', path: '/owner', value: 'p-2' },
    ])
  })
})

describe('buildUnsetOperations', () => {
  it('removes properties and filters tags', () => {
    const { operations, problems } = buildUnsetOperations(image, {
      property: ['os_distro'],
      tag: ['a'],
    })
    assert.deepEqual(operations, [
      { op: 'remove', path: '/os_distro' },
      { op: 'replace', path: '/tags', value: ['b'] },
    ])
    assert.deepEqual(problems, [])
  })

  it('reports missing properties and tags but keeps the others', () => {
    const { operations, problems } = buildUnsetOperations(image, {
      property: ['nope', 'os_distro'],
      tag: ['zz'],
    })
    assert.deepEqual(operations, [{ op: 'remove', path: '/os_distro' }])
    assert.equal(problems.length, 2)
    assert.match(problems[0] ?? '', /no property 'nope'/)
    assert.match(problems[1] ?? '', /no tag 'zz'/)
  })
})

describe('toPointer', () => {
  it('escapes ~ and / as RFC 6901 requires', () => {
    assert.equal(toPointer('a/b~c'), '/a~1b~0c')
  })
})

describe('parseSortKeys', () => {
  it('defaults the direction to asc', () => {
    assert.deepEqual(parseSortKeys('name,size:desc'), [
      { key: 'name', direction: 'asc' },
      { key: 'size', direction: 'desc' },
    ])
  })

  it('rejects an unknown direction or an empty key', () => {
    assert.throws(() => parseSortKeys('name:up'), UsageError)
    assert.throws(() => parseSortKeys(':asc'), UsageError)
  })
})

describe('sortImages', () => {
  it('sorts by several keys as text', () => {
    const images = [
      { id: '1', name: 'b', status: 'active' },
      { id: '2', name: 'a', status: 'queued' },
      { id: '3', name: 'a', status: 'active' },
    ]
    const sorted = sortImages(images, parseSortKeys('name,status:desc'))
    assert.deepEqual(
      sorted.map((entry) => entry.id),
      ['2', '3', '1'],
    )
  })
})

describe('toImageShowResult', () => {
  it('drops null fields and self, and moves extra fields into properties', () => {
    const { fields } = toImageShowResult(image)
    assert.deepEqual(
      fields.map(([name]) => name),
      ['id', 'name', 'properties', 'status', 'tags'],
    )
    const properties = fields.find(([name]) => name === 'properties')?.[1]
    assert.ok(properties instanceof DictCell)
    assert.deepEqual(properties.entries, { os_distro: 'ubuntu', os_hidden: false })
    const tags = fields.find(([name]) => name === 'tags')?.[1]
    assert.ok(tags instanceof ListCell)
  })

  it('omits properties when there are none', () => {
    const { fields } = toImageShowResult({ id: 'x', name: 'n', status: 'queued' })
    assert.deepEqual(
      fields.map(([name]) => name),
      ['id', 'name', 'status', 'tags'],
    )
  })
})

describe('formatHumanSize', () => {
  it('uses decimal units as the openstack CLI does', () => {
    assert.equal(formatHumanSize(0), '0')
    assert.equal(formatHumanSize(999), '999')
    assert.equal(formatHumanSize(1500000), '1.5M')
    assert.equal(formatHumanSize(2000000000), '2G')
    assert.equal(formatHumanSize(null), '0')
  })
})

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { renderWebobError } from '../../src/api/middleware/webob-errors.js'
import { describeApiError, errorDetailOf } from '../../web/src/lib/api-error.js'
import {
  buildImagePatch,
  editedTags,
  formatTags,
  parseTags,
  propertiesOf,
  type WireImage,
} from '../../web/src/lib/image-fields.js'
import { buildImageListQuery, emptyFilters } from '../../web/src/lib/list-query.js'
import { parseRoute } from '../../web/src/lib/route.js'
import { TransferRate } from '../../web/src/lib/transfer-rate.js'
import { formatBytes, formatDuration } from '../../web/src/lib/units.js'

describe('error message of an API response', () => {
  const detail = 'Image data is qcow2, but the image disk_format is raw.'

  it('takes the detail from the JSON body the image API sends', () => {
    const rendered = renderWebobError(400, 'Bad Request', detail, 'application/json')
    assert.equal(errorDetailOf(rendered.body, rendered.contentType), detail)
  })

  it('takes the detail from the plain-text body', () => {
    const rendered = renderWebobError(413, 'Request Entity Too Large', 'Quota exceeded.', '*/*')
    assert.equal(errorDetailOf(rendered.body, rendered.contentType), 'Quota exceeded.')
  })

  it('takes the message of a Keystone error', () => {
    const body = JSON.stringify({
      error: { code: 401, title: 'Unauthorized', message: 'The password is incorrect.' },
    })
    assert.equal(errorDetailOf(body, 'application/json'), 'The password is incorrect.')
  })

  it('falls back to a sentence for the status', () => {
    assert.match(describeApiError(413, '', 'text/html', null), /quota/)
  })

  it('adds the request ID to server errors', () => {
    const message = describeApiError(500, 'oops', 'text/html', 'req-123')
    assert.match(message, /\(request ID req-123\)$/)
  })
})

describe('image list query', () => {
  const base = {
    filters: emptyFilters,
    sortKey: 'name' as const,
    sortDir: 'asc' as const,
    limit: 25,
    marker: null,
  }

  it('sorts by id after the chosen column', () => {
    const query = new URLSearchParams(buildImageListQuery(base))
    assert.equal(query.get('sort'), 'name:asc,id:asc')
    assert.equal(query.get('limit'), '25')
    assert.equal(query.has('marker'), false)
  })

  it('sends each filter with the API name', () => {
    const query = new URLSearchParams(
      buildImageListQuery({
        ...base,
        marker: 'abc',
        filters: {
          name: 'web',
          visibility: 'shared',
          status: 'active',
          diskFormat: 'qcow2',
          tags: ['a', 'b'],
        },
        properties: { image_type: 'snapshot' },
        memberStatus: 'pending',
      }),
    )
    assert.equal(query.get('marker'), 'abc')
    assert.equal(query.get('name'), 'web')
    assert.equal(query.get('visibility'), 'shared')
    assert.equal(query.get('status'), 'active')
    assert.equal(query.get('disk_format'), 'qcow2')
    assert.deepEqual(query.getAll('tag'), ['a', 'b'])
    assert.equal(query.get('image_type'), 'snapshot')
    assert.equal(query.get('member_status'), 'pending')
  })

  it('quotes a name that starts with in:', () => {
    const query = buildImageListQuery({ ...base, filters: { ...emptyFilters, name: 'in:x' } })
    assert.equal(new URLSearchParams(query).get('name'), 'in:"in:x"')
  })
})

describe('image JSON patch', () => {
  const image: WireImage = {
    id: 'id-1',
    name: 'old',
    status: 'active',
    visibility: 'private',
    protected: false,
    owner: 'p1',
    size: 1,
    virtual_size: 1,
    disk_format: 'raw',
    container_format: 'bare',
    min_disk: 0,
    min_ram: 0,
    tags: ['a'],
    created_at: '2024-01-01T00:00:00Z',
    updated_at: '2024-01-01T00:00:00Z',
    os_distro: 'debian',
    'a/b~c': 'x',
    hw_disk_bus: 'virtio',
  }
  const unchanged = {
    name: 'old',
    visibility: 'private' as const,
    protected: false,
    minDisk: 0,
    minRam: 0,
    tags: ['a'],
    properties: propertiesOf(image),
  }

  it('is empty when nothing changed', () => {
    assert.deepEqual(buildImagePatch(image, unchanged), [])
  })

  it('replaces fields and tags, and adds, replaces and removes properties', () => {
    const operations = buildImagePatch(image, {
      ...unchanged,
      name: 'new',
      protected: true,
      minRam: 512,
      tags: ['a', 'b'],
      properties: [
        ['os_distro', 'ubuntu'],
        ['a/b~c', 'x'],
        ['architecture', 'x86_64'],
      ],
    })
    assert.deepEqual(operations, [
      { op: 'replace', path: '/name', value: 'new' },
      { op: 'replace', path: '/protected', value: true },
      { op: 'replace', path: '/min_ram', value: 512 },
      { op: 'replace', path: '/tags', value: ['a', 'b'] },
      { op: 'replace', path: '/os_distro', value: 'ubuntu' },
      { op: 'add', path: '/architecture', value: 'x86_64' },
      { op: 'remove', path: '/hw_disk_bus' },
    ])
  })

  it('escapes / and ~ in property names as JSON pointers', () => {
    const operations = buildImagePatch(image, {
      ...unchanged,
      properties: propertiesOf(image).filter(([key]) => key !== 'a/b~c'),
    })
    assert.deepEqual(operations, [{ op: 'remove', path: '/a~1b~0c' }])
  })

  it('lists only free-form properties', () => {
    assert.deepEqual(
      propertiesOf(image).map(([key]) => key),
      ['a/b~c', 'hw_disk_bus', 'os_distro'],
    )
  })

  it('keeps a missing name when the name field stays empty', () => {
    const unnamed = { ...image, name: null }
    assert.deepEqual(buildImagePatch(unnamed, { ...unchanged, name: '' }), [])
  })

  it('keeps tags with commas and spaces when their text is untouched', () => {
    const tagged = { ...image, tags: ['a,b', ' padded '] }
    const tags = editedTags(tagged.tags, formatTags(tagged.tags))
    assert.deepEqual(tags, ['a,b', ' padded '])
    assert.deepEqual(buildImagePatch(tagged, { ...unchanged, tags }), [])
  })

  it('splits edited tag text on commas', () => {
    assert.deepEqual(editedTags(['a,b'], 'a,b, c'), ['a', 'b', 'c'])
  })

  it('splits tags on commas without blanks or duplicates', () => {
    assert.deepEqual(parseTags(' a, b,,a ,c '), ['a', 'b', 'c'])
  })
})

describe('units and transfer rate', () => {
  it('formats byte counts with binary units', () => {
    assert.equal(formatBytes(null), '–')
    assert.equal(formatBytes(512), '512 bytes')
    assert.equal(formatBytes(1536), '1.5 KiB')
    assert.equal(formatBytes(5 * 1024 ** 3), '5.0 GiB')
    assert.equal(formatBytes(300 * 1024 ** 2), '300 MiB')
  })

  it('formats durations', () => {
    assert.equal(formatDuration(45), '45 s')
    assert.equal(formatDuration(200), '3 min 20 s')
    assert.equal(formatDuration(3900), '1 h 5 min')
    assert.equal(formatDuration(Number.POSITIVE_INFINITY), 'unknown')
  })

  it('measures the rate over the recent window only', () => {
    const rate = new TransferRate(5000)
    rate.record(0, 0)
    rate.record(1000, 100 * 1024 * 1024)
    // After a stall of ten seconds, the rate covers only the last window, not the fast start.
    rate.record(11_000, 110 * 1024 * 1024)
    rate.record(12_000, 120 * 1024 * 1024)
    assert.equal(rate.bytesPerSecond(), (10 * 1024 * 1024 * 1000) / 1000)
    assert.equal(rate.secondsLeft(130 * 1024 * 1024), 1)
  })

  it('knows no rate from one sample', () => {
    const rate = new TransferRate()
    rate.record(0, 10)
    assert.equal(rate.bytesPerSecond(), 0)
    assert.equal(rate.secondsLeft(100), null)
  })
})

describe('route of the URL fragment', () => {
  it('decodes an escaped image id', () => {
    assert.deepEqual(parseRoute('#/images/a%20b'), { page: 'image', id: 'a b' })
  })

  it('keeps a malformed escape as typed', () => {
    assert.deepEqual(parseRoute('#/images/%'), { page: 'image', id: '%' })
    assert.deepEqual(parseRoute('#/images/%E0%A4%A'), { page: 'image', id: '%E0%A4%A' })
    assert.deepEqual(parseRoute('#/%zz'), { page: 'list', tab: 'images' })
  })
})

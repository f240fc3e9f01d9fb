import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { CliError, HttpError } from './errors.js'
import type { ImageRecord, QueryParameters } from './image-client.js'
import { findImage, isUuidLike, type ImageFinder } from './image-lookup.js'

const idOne = '11111111-1111-4111-8111-111111111111'
const idTwo = '22222222-2222-4222-8222-222222222222'
const idThree = '33333333-3333-4333-8333-333333333333'

/**
 * Creates a finder over a fixed image list that records each list query. As in Glance, an image
 * whose test-only `member_status` is pending is listed only when the query sets member_status=all.
 */
function createFinder(images: ImageRecord[]): ImageFinder & { queries: QueryParameters[] } {
  const queries: QueryParameters[] = []
  return {
    queries,
    getImage: async (imageId) => {
      const image = images.find((candidate) => candidate.id === imageId)
      if (image === undefined)
        throw new HttpError(404, `No image found with ID ${imageId}`, undefined)
      return image
    },
    listImages: async (query) => {
      queries.push(query)
      const name = query.find(([key]) => key === 'name')?.[1]
      const hidden = query.some(([key, value]) => key === 'os_hidden' && value === 'true')
      const includesEveryMemberStatus = query.some(
        ([key, value]) => key === 'member_status' && value === 'all',
      )
      return images.filter(
        (image) =>
          image.name === name &&
          (image['os_hidden'] === true) === hidden &&
          (image['member_status'] !== 'pending' || includesEveryMemberStatus),
      )
    },
  }
}

const images: ImageRecord[] = [
  { id: idOne, name: 'ubuntu', status: 'active' },
  { id: idTwo, name: 'dup', status: 'active' },
  { id: idThree, name: 'dup', status: 'queued' },
  { id: '44444444-4444-4444-8444-444444444444', name: idOne.replace(/1/g, '5'), status: 'active' },
  { id: '66666666-6666-4666-8666-666666666666', name: 'secret', status: 'active', os_hidden: true },
  {
    id: '77777777-7777-4777-8777-777777777777',
    name: 'offered',
    status: 'active',
    visibility: 'shared',
    member_status: 'pending',
  },
]

describe('findImage', () => {
  it('finds an image by id without listing', async () => {
    const finder = createFinder(images)
    const image = await findImage(finder, idOne)
    assert.equal(image.name, 'ubuntu')
    assert.equal(finder.queries.length, 0)
  })

  it('finds an image by unique name', async () => {
    const image = await findImage(createFinder(images), 'ubuntu')
    assert.equal(image.id, idOne)
  })

  it('falls back to the name when a UUID-shaped value is no id', async () => {
    const image = await findImage(createFinder(images), idOne.replace(/1/g, '5'))
    assert.equal(image.id, '44444444-4444-4444-8444-444444444444')
  })

  it('finds a hidden image by name', async () => {
    const image = await findImage(createFinder(images), 'secret')
    assert.equal(image.id, '66666666-6666-4666-8666-666666666666')
  })

  it('finds a pending share by name', async () => {
    const finder = createFinder(images)
    const image = await findImage(finder, 'offered')
    assert.equal(image.id, '77777777-7777-4777-8777-777777777777')
    const lastQuery = finder.queries.at(-1) ?? []
    assert.ok(lastQuery.some(([key, value]) => key === 'member_status' && value === 'all'))
    assert.ok(lastQuery.some(([key, value]) => key === 'visibility' && value === 'shared'))
  })

  it('lists the candidate ids of an ambiguous name', async () => {
    await assert.rejects(findImage(createFinder(images), 'dup'), (error: unknown) => {
      assert.ok(error instanceof CliError)
      assert.equal(error.exitCode, 1)
      assert.match(error.message, /More than one image is named 'dup'/)
      assert.match(error.message, new RegExp(idTwo))
      assert.match(error.message, new RegExp(idThree))
      return true
    })
  })

  it('reports a name without a match', async () => {
    await assert.rejects(
      findImage(createFinder(images), 'missing'),
      /No image found with name or ID 'missing'\./,
    )
  })

  it('passes on errors other than 404', async () => {
    const finder = createFinder(images)
    finder.getImage = async () => {
      throw new HttpError(503, 'store unavailable', undefined)
    }
    await assert.rejects(findImage(finder, idOne), /store unavailable \(HTTP 503\)/)
  })
})

describe('isUuidLike', () => {
  it('accepts UUIDs with and without dashes', () => {
    assert.equal(isUuidLike(idOne), true)
    assert.equal(isUuidLike(idOne.replace(/-/g, '')), true)
    assert.equal(isUuidLike('my-image'), false)
    assert.equal(isUuidLike(`${idOne}x`), false)
  })
})

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { InvalidInputError } from '../../domain/errors.js'
import { parsePatch, patchMediaTypes, unsupportedPatchType } from './patch.js'

const [v21, v20] = patchMediaTypes

describe('JSON-patch parsing', () => {
  it('reads RFC 6902 operations of the v2.1 media type', () => {
    const ops = parsePatch(
      [
        { op: 'replace', path: '/name', value: 'x' },
        { op: 'remove', path: '/os_distro' },
      ],
      v21,
    )
    assert.deepEqual(ops, [
      { op: 'replace', path: ['name'], value: 'x' },
      { op: 'remove', path: ['os_distro'] },
    ])
  })

  it('reads the operation-as-key form of the v2.0 media type', () => {
    assert.deepEqual(parsePatch([{ add: '/tags', value: ['a'] }], v20), [
      { op: 'add', path: ['tags'], value: ['a'] },
    ])
  })

  it('decodes JSON-pointer escapes', () => {
    const [op] = parsePatch([{ op: 'add', path: '/a~1b~0c', value: '1' }], v21)
    assert.deepEqual(op!.path, ['a/b~c'])
  })

  it('rejects bodies that are not operation arrays', () => {
    assert.throws(() => parsePatch({ op: 'add' }, v21), InvalidInputError)
    assert.throws(
      () => parsePatch([{ op: 'move', path: '/a', from: '/b' }], v21),
      /Unsupported patch operation/,
    )
    assert.throws(() => parsePatch([{ op: 'add', path: 'name', value: 1 }], v21), /must start with/)
    assert.throws(() => parsePatch([{ op: 'add', path: '/name' }], v21), /needs a value/)
    assert.throws(() => parsePatch([{ add: '/a', remove: '/b' }], v20), InvalidInputError)
  })

  it('answers other media types with 415 and Accept-Patch', () => {
    const error = unsupportedPatchType('application/json')
    assert.equal(error.status, 415)
    assert.equal(error.headers?.['accept-patch'], patchMediaTypes.join(', '))
  })
})

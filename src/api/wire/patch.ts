import { InvalidInputError, ServiceError } from '../../domain/errors.js'
import type { PatchOperation } from '../../domain/image-service.js'

export const patchMediaTypes = [
  'application/openstack-images-v2.1-json-patch',
  'application/openstack-images-v2.0-json-patch',
] as const

/** The 415 for a PATCH in any other media type, with the `Accept-Patch` header clients read. */
export function unsupportedPatchType(contentType: string | undefined): ServiceError {
  return new ServiceError(
    'UNSUPPORTED_MEDIA_TYPE',
    `Content type ${contentType ?? '(none)'} is not supported for PATCH; use ${patchMediaTypes[0]}.`,
    { headers: { 'accept-patch': patchMediaTypes.join(', ') } },
  )
}

/**
 * Parses a patch body. The v2.1 type is RFC 6902 (`{"op": "add", "path": "/a"}`); the older
 * v2.0 type names the operation as the key (`{"add": "/a"}`).
 */
export function parsePatch(body: unknown, mediaType: string): PatchOperation[] {
  if (!Array.isArray(body)) {
    throw new InvalidInputError('A JSON-patch body must be a JSON array of operations.')
  }
  const legacy = mediaType === patchMediaTypes[1]
  return body.map((item: unknown) => (legacy ? parseLegacy(item) : parseStandard(item)))
}

function parseStandard(item: unknown): PatchOperation {
  if (typeof item !== 'object' || item === null) throw invalidOperation(item)
  const { op, path, value } = item as Record<string, unknown>
  if (op !== 'add' && op !== 'replace' && op !== 'remove') {
    throw new InvalidInputError(
      `Unsupported patch operation ${JSON.stringify(op)}: use add, replace or remove.`,
    )
  }
  return build(op, path, item, value)
}

function parseLegacy(item: unknown): PatchOperation {
  if (typeof item !== 'object' || item === null) throw invalidOperation(item)
  const record = item as Record<string, unknown>
  const ops = (['add', 'replace', 'remove'] as const).filter((op) => op in record)
  if (ops.length !== 1) throw invalidOperation(item)
  const op = ops[0]!
  return build(op, record[op], item, record.value)
}

function build(
  op: PatchOperation['op'],
  path: unknown,
  item: unknown,
  value: unknown,
): PatchOperation {
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new InvalidInputError(`Invalid patch path ${JSON.stringify(path)}: it must start with /.`)
  }
  if (op !== 'remove' && !(typeof item === 'object' && item !== null && 'value' in item)) {
    throw new InvalidInputError(`Patch operation ${op} ${path} needs a value.`)
  }
  const segments = path
    .slice(1)
    .split('/')
    .map((segment) => segment.replaceAll('~1', '/').replaceAll('~0', '~'))
  return op === 'remove' ? { op, path: segments } : { op, path: segments, value }
}

function invalidOperation(item: unknown): InvalidInputError {
  return new InvalidInputError(`Invalid patch operation ${JSON.stringify(item)}.`)
}

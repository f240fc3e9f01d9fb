import { InvalidInputError } from '../../domain/errors.js'
import {
  validateImageStatus,
  validateMemberStatus,
  validateVisibility,
  type MemberStatus,
  type Visibility,
} from '../../domain/image.js'
import {
  matchColumns,
  sortKeys,
  timeOperators,
  type ImageFilters,
  type MatchColumn,
  type SortKey,
  type SortSpec,
  type TimeOperator,
} from '../../domain/ports.js'

export const defaultLimit = 25
export const maxLimit = 1000

/** Query parameters that are not property filters. */
const reservedParams = new Set([
  'limit',
  'marker',
  'sort',
  'sort_key',
  'sort_dir',
  'name',
  'status',
  'visibility',
  'owner',
  'disk_format',
  'container_format',
  'member_status',
  'protected',
  'os_hidden',
  'tag',
  'size_min',
  'size_max',
  'size',
  'checksum',
  'id',
  'created_at',
  'updated_at',
])

export type QueryValues = Record<string, string | string[] | undefined>

export interface ParsedListQuery {
  limit: number
  marker: string | null
  sort: SortSpec[]
  visibility: Visibility | 'all' | null
  memberStatus: MemberStatus | 'all'
  filters: ImageFilters
}

function single(query: QueryValues, name: string): string | undefined {
  const value = query[name]
  if (Array.isArray(value)) {
    throw new InvalidInputError(`Query parameter ${name} may be given only once.`)
  }
  return value
}

function list(query: QueryValues, name: string): string[] {
  const value = query[name]
  if (value === undefined) return []
  return Array.isArray(value) ? value : [value]
}

/** Parses `GET /v2/images` parameters with Glance's names, defaults and limits. */
export function parseListQuery(query: QueryValues): ParsedListQuery {
  return {
    limit: parseLimit(single(query, 'limit')),
    marker: single(query, 'marker') ?? null,
    sort: parseSort(query),
    visibility: parseVisibility(single(query, 'visibility')),
    memberStatus: parseMemberStatus(single(query, 'member_status')),
    filters: parseFilters(query),
  }
}

function parseLimit(value: string | undefined): number {
  if (value === undefined) return defaultLimit
  const limit = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(limit)) {
    throw new InvalidInputError(`limit must be a non-negative integer, got ${value}.`)
  }
  return Math.min(limit, maxLimit)
}

function parseVisibility(value: string | undefined): Visibility | 'all' | null {
  if (value === undefined) return null
  if (value === 'all') return 'all'
  return validateVisibility(value)
}

function parseMemberStatus(value: string | undefined): MemberStatus | 'all' {
  if (value === undefined) return 'accepted'
  if (value === 'all') return 'all'
  return validateMemberStatus(value)
}

function validateSortKey(value: string): SortKey {
  if ((sortKeys as readonly string[]).includes(value)) return value as SortKey
  throw new InvalidInputError(`Invalid sort key ${value}: use one of ${sortKeys.join(', ')}.`)
}

function validateSortDir(value: string): 'asc' | 'desc' {
  if (value === 'asc' || value === 'desc') return value
  throw new InvalidInputError(`Invalid sort direction ${value}: use asc or desc.`)
}

/** Accepts `sort=k1:dir,k2` or repeated `sort_key`/`sort_dir`, but not both. */
function parseSort(query: QueryValues): SortSpec[] {
  const sort = single(query, 'sort')
  const keys = list(query, 'sort_key')
  const dirs = list(query, 'sort_dir')
  if (sort !== undefined && (keys.length > 0 || dirs.length > 0)) {
    throw new InvalidInputError('Use either sort or sort_key/sort_dir, not both.')
  }
  if (sort !== undefined) {
    return sort.split(',').map((part) => {
      const [key = '', dir] = part.trim().split(':')
      return {
        key: validateSortKey(key),
        direction: dir === undefined ? 'desc' : validateSortDir(dir),
      }
    })
  }
  if (dirs.length > 1 && dirs.length !== keys.length) {
    throw new InvalidInputError(
      'Give one sort_dir for each sort_key, or a single sort_dir for all.',
    )
  }
  if (keys.length === 0) {
    return [
      { key: 'created_at', direction: dirs.length === 0 ? 'desc' : validateSortDir(dirs[0]!) },
    ]
  }
  return keys.map((key, i) => ({
    key: validateSortKey(key),
    direction: validateSortDir(dirs[dirs.length === 1 ? 0 : i] ?? 'desc'),
  }))
}

function parseBoolean(name: string, value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined
  const normalized = value.toLowerCase()
  if (['true', '1', 'yes', 'on'].includes(normalized)) return true
  if (['false', '0', 'no', 'off'].includes(normalized)) return false
  throw new InvalidInputError(`${name} must be true or false, got ${value}.`)
}

function parseSize(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d+$/.test(value))
    throw new InvalidInputError(`${name} must be a byte count, got ${value}.`)
  return Number(value)
}

function parseFilters(query: QueryValues): ImageFilters {
  const filters: ImageFilters = {}
  const match: Partial<Record<MatchColumn, string[]>> = {}
  for (const column of matchColumns) {
    const value = single(query, column)
    if (value === undefined) continue
    match[column] = value.startsWith('in:') ? parseInList(column, value.slice(3)) : [value]
    if (column === 'status') match.status!.forEach((status) => validateImageStatus(status))
  }
  if (Object.keys(match).length > 0) filters.match = match
  const times = (['created_at', 'updated_at'] as const).flatMap((column) => {
    const value = single(query, column)
    return value === undefined ? [] : [parseTimeComparison(column, value)]
  })
  if (times.length > 0) filters.times = times

  const isProtected = parseBoolean('protected', single(query, 'protected'))
  if (isProtected !== undefined) filters.protected = isProtected
  const osHidden = parseBoolean('os_hidden', single(query, 'os_hidden'))
  if (osHidden !== undefined) filters.osHidden = osHidden
  const sizeMin = parseSize('size_min', single(query, 'size_min'))
  if (sizeMin !== undefined) filters.sizeMin = sizeMin
  const sizeMax = parseSize('size_max', single(query, 'size_max'))
  if (sizeMax !== undefined) filters.sizeMax = sizeMax
  const size = parseSize('size', single(query, 'size'))
  if (size !== undefined) filters.size = size

  const tags = list(query, 'tag')
  if (tags.length > 0) filters.tags = tags
  const properties: Record<string, string> = {}
  for (const [key, value] of Object.entries(query)) {
    if (reservedParams.has(key) || value === undefined) continue
    properties[key] = Array.isArray(value) ? value.at(-1)! : value
  }
  if (Object.keys(properties).length > 0) filters.properties = properties
  return filters
}

/**
 * Splits an `in:` list on commas. A value in double quotes may contain commas, and `\"` is a
 * quote inside it, as in Glance.
 */
export function parseInList(column: string, text: string): string[] {
  const values: string[] = []
  let rest = text
  while (rest.length > 0 || values.length === 0) {
    let value: string
    if (rest.startsWith('"')) {
      const end = /(?<!\\)"/.exec(rest.slice(1))
      if (end === null) throw new InvalidInputError(`Unterminated quote in ${column}=in:${text}.`)
      value = rest.slice(1, end.index + 1).replaceAll('\\"', '"')
      rest = rest.slice(end.index + 2)
      if (rest !== '' && !rest.startsWith(',')) {
        throw new InvalidInputError(
          `Expected a comma after a quoted value in ${column}=in:${text}.`,
        )
      }
    } else {
      const comma = rest.indexOf(',')
      value = comma === -1 ? rest : rest.slice(0, comma)
      rest = comma === -1 ? '' : rest.slice(comma)
    }
    values.push(value)
    if (rest.startsWith(',')) rest = rest.slice(1)
    else break
  }
  return values
}

/** Parses `OP:TIME` for created_at and updated_at, as in `gte:2024-01-01T00:00:00Z`. */
function parseTimeComparison(
  column: 'created_at' | 'updated_at',
  text: string,
): { column: 'created_at' | 'updated_at'; operator: TimeOperator; value: Date } {
  const colon = text.indexOf(':')
  const operator = text.slice(0, colon)
  const value = new Date(text.slice(colon + 1))
  if (colon === -1 || !(timeOperators as readonly string[]).includes(operator)) {
    throw new InvalidInputError(
      `Invalid ${column} filter ${text}: use OPERATOR:TIME with one of ${timeOperators.join(', ')}.`,
    )
  }
  if (Number.isNaN(value.getTime())) {
    throw new InvalidInputError(
      `Invalid time in ${column}=${text}: use ISO 8601, such as 2024-01-31T12:00:00Z.`,
    )
  }
  return { column, operator: operator as TimeOperator, value }
}

import { ServiceError } from '../../domain/errors.js'

export interface RequestedRange {
  /** First byte; negative for a suffix range (`bytes=-500` is `start: -500`). */
  start: number
  /** Last byte, inclusive; `null` for "to the end". */
  end: number | null
}

function unsatisfiable(header: string): ServiceError {
  return new ServiceError(
    'RANGE_NOT_SATISFIABLE',
    `Range ${header} is not supported: request one range as bytes=START-END, bytes=START- or bytes=-COUNT.`,
  )
}

/**
 * Parses a single byte range from `Range` or, as Glance also accepts, from a request
 * `Content-Range: bytes START-END/*`. Several ranges in one request are not supported.
 */
export function parseRange(
  range: string | undefined,
  contentRange: string | undefined,
): RequestedRange | null {
  if (range !== undefined) return parseRangeHeader(range)
  if (contentRange !== undefined) return parseContentRange(contentRange)
  return null
}

function parseRangeHeader(header: string): RequestedRange {
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header)
  if (match === null) throw unsatisfiable(header)
  const [, first = '', last = ''] = match
  if (first === '' && last === '') throw unsatisfiable(header)
  if (first === '') {
    if (Number(last) === 0) throw unsatisfiable(header)
    return { start: -Number(last), end: null }
  }
  const start = Number(first)
  const end = last === '' ? null : Number(last)
  if (end !== null && end < start) throw unsatisfiable(header)
  return { start, end }
}

function parseContentRange(header: string): RequestedRange {
  const match = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(header)
  if (match === null) throw unsatisfiable(header)
  const start = Number(match[1])
  const end = Number(match[2])
  if (end < start) throw unsatisfiable(header)
  return { start, end }
}

import { formatPythonStr, type JsonValue } from './python-format.js'

/**
 * A list value, such as an image's tags. Tables show the items sorted and joined with ", ";
 * json and yaml show the array in server order.
 */
export class ListCell {
  readonly items: readonly JsonValue[]

  constructor(items: readonly JsonValue[] | null | undefined) {
    this.items = items ?? []
  }
}

/**
 * A mapping value, such as an image's extra properties. Tables show `key='value'` pairs sorted
 * by key; json and yaml show the object.
 */
export class DictCell {
  readonly entries: Readonly<Record<string, JsonValue>>

  constructor(entries: Readonly<Record<string, JsonValue>>) {
    this.entries = entries
  }
}

/**
 * A list shown one item per line, in the order given, such as the images in a cache host's
 * cache. Tables show an object item as `key='value'` pairs in the object's key order; json and
 * yaml show the list as it is.
 */
export class LinesCell {
  readonly items: readonly JsonValue[]

  constructor(items: readonly JsonValue[]) {
    this.items = items
  }
}

/** One value in a table cell or a show field. `undefined` prints like `null`. */
export type CellValue = JsonValue | ListCell | DictCell | LinesCell | undefined

/** Renders a cell for the table format. */
export function formatTableCell(value: CellValue): string {
  if (value instanceof ListCell) {
    return value.items.map(formatPythonStr).sort(compareCodePoints).join(', ')
  }
  if (value instanceof DictCell) {
    const keys = Object.keys(value.entries).sort(compareCodePoints)
    return keys.map((key) => `${key}='${formatPythonStr(value.entries[key] ?? null)}'`).join(', ')
  }
  if (value instanceof LinesCell) return value.items.map(formatLine).join('\n')
  return formatPythonStr(value ?? null)
}

function formatLine(item: JsonValue): string {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    return formatPythonStr(item)
  }
  const pairs = Object.entries(item).map(([key, value]) => `${key}='${formatPythonStr(value)}'`)
  return pairs.join(', ')
}

/** Converts a cell to the plain value that the json and yaml formats print. */
export function toJsonValue(value: CellValue): JsonValue {
  if (value instanceof ListCell) return [...value.items]
  if (value instanceof DictCell) return { ...value.entries }
  if (value instanceof LinesCell) return [...value.items]
  return value ?? null
}

/** Renders a cell for the value, shell and csv formats, which print Python's str() of it. */
export function formatPlainCell(value: CellValue): string {
  return formatPythonStr(toJsonValue(value))
}

/** Compares strings by code point, as Python's sorted() does. */
export function compareCodePoints(left: string, right: string): number {
  if (left === right) return 0
  const leftPoints = Array.from(left, (char) => char.codePointAt(0) ?? 0)
  const rightPoints = Array.from(right, (char) => char.codePointAt(0) ?? 0)
  const length = Math.min(leftPoints.length, rightPoints.length)
  for (let i = 0; i < length; i++) {
    const difference = (leftPoints[i] ?? 0) - (rightPoints[i] ?? 0)
    if (difference !== 0) return difference
  }
  return leftPoints.length - rightPoints.length
}

/**
 * Renders values the way Python's str(), repr() and json.dumps() do. The openstack CLI builds
 * its value, shell, csv and json output from these functions, and scripts written for it parse
 * that exact text.
 */

export type JsonValue =
  string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }

/** Renders `value` as Python's str() renders the equivalent Python object. */
export function formatPythonStr(value: JsonValue): string {
  if (typeof value === 'string') return value
  return formatPythonRepr(value)
}

/** Renders `value` as Python's repr() renders the equivalent Python object. */
export function formatPythonRepr(value: JsonValue): string {
  if (value === null) return 'None'
  if (typeof value === 'boolean') return value ? 'True' : 'False'
  if (typeof value === 'number') return String(value)
  if (typeof value === 'string') return quotePythonString(value)
  if (Array.isArray(value)) return `[${value.map(formatPythonRepr).join(', ')}]`

  const entries = Object.entries(value).map(
    ([key, item]) => `${quotePythonString(key)}: ${formatPythonRepr(item)}`,
  )
  return `{${entries.join(', ')}}`
}

function quotePythonString(text: string): string {
  // Python prefers single quotes and switches to double quotes only to avoid escaping.
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'"
  let body = ''
  for (const char of text) {
    body += escapePythonChar(char, quote)
  }
  return `${quote}${body}${quote}`
}

function escapePythonChar(char: string, quote: string): string {
  if (char === '\\' || char === quote) return `\\${char}`
  if (char === '\n') return '\\n'
  if (char === '\r') return '\\r'
  if (char === '\t') return '\\t'

  const code = char.codePointAt(0) ?? 0
  const isControl = code < 0x20 || (code >= 0x7f && code <= 0xa0)
  if (isControl) return `\\x${code.toString(16).padStart(2, '0')}`
  return char
}

/**
 * Renders `value` as Python's json.dumps(value, indent=indent) does: ASCII only, and with the
 * separators ", " and ": " when there is no indent.
 */
export function formatPythonJson(value: JsonValue, indent?: number): string {
  return renderJson(value, indent, 0)
}

function renderJson(value: JsonValue, indent: number | undefined, depth: number): string {
  if (value === null || typeof value !== 'object') return escapeNonAscii(JSON.stringify(value))

  const items = Array.isArray(value)
    ? value.map((item) => renderJson(item, indent, depth + 1))
    : Object.entries(value).map(
        ([key, item]) =>
          `${escapeNonAscii(JSON.stringify(key))}: ${renderJson(item, indent, depth + 1)}`,
      )
  const [open, close] = Array.isArray(value) ? ['[', ']'] : ['{', '}']
  if (items.length === 0) return `${open}${close}`
  if (indent === undefined) return `${open}${items.join(', ')}${close}`

  const inner = '\n' + ' '.repeat(indent * (depth + 1))
  const outer = '\n' + ' '.repeat(indent * depth)
  return `${open}${inner}${items.join(',' + inner)}${outer}${close}`
}

function escapeNonAscii(json: string): string {
  return json.replace(/[\u0080-\uffff]/g, (char) => {
    return `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`
  })
}

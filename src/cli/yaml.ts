import { compareCodePoints } from './cells.js'
import type { JsonValue } from './python-format.js'

/**
 * Renders `value` as block-style YAML with sorted mapping keys, close to what Python's
 * yaml.safe_dump(value, default_flow_style=False) prints for the openstack CLI. Strings that
 * would read back as another type are quoted.
 *
 * NOTE: a multi-line string is double-quoted with `\n` escapes, where PyYAML would fold it
 * inside single quotes. Both read back as the same string.
 */
export function formatYaml(value: JsonValue): string {
  return renderBlock(value, 0).join('\n') + '\n'
}

function renderBlock(value: JsonValue, indent: number): string[] {
  const pad = ' '.repeat(indent)
  if (Array.isArray(value) && value.length > 0) return renderSequence(value, indent)
  if (isMapping(value) && Object.keys(value).length > 0) return renderMapping(value, indent)
  return [pad + formatYamlScalar(value)]
}

function renderSequence(items: JsonValue[], indent: number): string[] {
  const pad = ' '.repeat(indent)
  const lines: string[] = []
  for (const item of items) {
    if (!isNonEmptyCollection(item)) {
      lines.push(`${pad}- ${formatYamlScalar(item)}`)
      continue
    }
    const nested = renderBlock(item, indent + 2)
    lines.push(pad + '- ' + (nested[0] ?? '').slice(indent + 2), ...nested.slice(1))
  }
  return lines
}

function renderMapping(mapping: { [key: string]: JsonValue }, indent: number): string[] {
  const pad = ' '.repeat(indent)
  const lines: string[] = []
  for (const key of Object.keys(mapping).sort(compareCodePoints)) {
    const item = mapping[key] ?? null
    const renderedKey = formatYamlString(key)
    if (!isNonEmptyCollection(item)) {
      lines.push(`${pad}${renderedKey}: ${formatYamlScalar(item)}`)
      continue
    }
    // PyYAML puts a sequence under a key at the key's own indentation.
    const childIndent = Array.isArray(item) ? indent : indent + 2
    lines.push(`${pad}${renderedKey}:`, ...renderBlock(item, childIndent))
  }
  return lines
}

function isMapping(value: JsonValue): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isNonEmptyCollection(value: JsonValue): boolean {
  if (Array.isArray(value)) return value.length > 0
  return isMapping(value) && Object.keys(value).length > 0
}

function formatYamlScalar(value: JsonValue): string {
  if (value === null) return 'null'
  if (typeof value === 'boolean') return value ? 'true' : 'false'
  if (typeof value === 'number') return String(value)
  if (typeof value === 'string') return formatYamlString(value)
  return Array.isArray(value) ? '[]' : '{}'
}

// Plain scalars that YAML 1.1 (PyYAML's resolver) would read as a bool, null, number or date.
const implicitTypePatterns = [
  /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/,
  /^(?:~|null|Null|NULL)$/,
  /^[-+]?(?:0b[01_]+|0[0-7_]+|(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+|[1-9][0-9_]*(?::[0-5]?[0-9])+)$/,
  /^[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?$/,
  /^[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?$/,
  /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*$/,
  /^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$/,
  /^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?$/,
  /^(?:=|<<)$/,
]

function formatYamlString(text: string): string {
  if (needsDoubleQuotes(text)) return quoteDouble(text)
  if (canBePlain(text)) return text
  return `'${text.replace(/'/g, "''")}'`
}

function needsDoubleQuotes(text: string): boolean {
  // Line breaks, control characters and non-ASCII text, which PyYAML escapes without allow_unicode.
  return /[^\x20-\x7e]/.test(text)
}

function canBePlain(text: string): boolean {
  if (text === '' || text !== text.trim()) return false
  if (implicitTypePatterns.some((pattern) => pattern.test(text))) return false
  if (/^[#,[\]{}&*!|>'"%@`]/.test(text)) return false
  if (/^[-?:](?: |$)/.test(text)) return false
  if (text.startsWith('---') || text.startsWith('...')) return false
  return !text.includes(': ') && !text.includes(' #') && !text.endsWith(':')
}

function quoteDouble(text: string): string {
  let body = ''
  for (const char of text) {
    body += escapeDoubleQuoted(char)
  }
  return `"${body}"`
}

const namedEscapes: Record<string, string> = {
  '\0': '\\0',
  '\x07': '\\a',
  '\b': '\\b',
  '\t': '\\t',
  '\n': '\\n',
  '\v': '\\v',
  '\f': '\\f',
  '\r': '\\r',
  '\x1b': '\\e',
  '"': '\\"',
  '\\': '\\\\',
}

function escapeDoubleQuoted(char: string): string {
  const named = namedEscapes[char]
  if (named !== undefined) return named

  const code = char.codePointAt(0) ?? 0
  if (code >= 0x20 && code <= 0x7e) return char
  if (code <= 0xff) return `\\x${code.toString(16).toUpperCase().padStart(2, '0')}`
  if (code <= 0xffff) return `\\u${code.toString(16).toUpperCase().padStart(4, '0')}`
  return `\\U${code.toString(16).toUpperCase().padStart(8, '0')}`
}

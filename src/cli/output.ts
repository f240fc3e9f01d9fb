import type { Writable } from 'node:stream'
import { Option, type Command } from 'commander'
import {
  compareCodePoints,
  formatPlainCell,
  formatTableCell,
  toJsonValue,
  type CellValue,
} from './cells.js'
import { UsageError } from './errors.js'
import { formatPythonJson, type JsonValue } from './python-format.js'
import { formatTable, type Alignment } from './table.js'
import { formatYaml } from './yaml.js'

/** The fields of one resource, in display order, for commands like `image show`. */
export interface ShowResult {
  fields: ReadonlyArray<readonly [string, CellValue]>
}

/** The rows of a listing, for commands like `image list`. */
export interface ListResult {
  columns: readonly string[]
  rows: ReadonlyArray<readonly CellValue[]>
}

/** Output options as commander parses them from the flags that the add…OutputOptions add. */
export interface OutputOptions {
  format: string
  column?: string[]
  noindent?: boolean
  prefix?: string
  quote?: CsvQuoting
  printEmpty?: boolean
  sortColumn?: string[]
  sortDescending?: boolean
}

type CsvQuoting = 'all' | 'minimal' | 'none' | 'nonnumeric'

const showFormats = ['json', 'shell', 'table', 'value', 'yaml'] as const
const listFormats = ['csv', 'json', 'table', 'value', 'yaml'] as const

/** Adds the openstack CLI's output flags for a command that shows one resource. */
export function addShowOutputOptions(command: Command): Command {
  addCommonOutputOptions(command, showFormats)
  command.option('--prefix <prefix>', 'add a prefix to all variable names (shell format)')
  return command
}

/** Adds the openstack CLI's output flags for a command that lists resources. */
export function addListOutputOptions(command: Command): Command {
  addCommonOutputOptions(command, listFormats)
  command
    .addOption(
      new Option('--quote <mode>', 'when to quote fields (csv format)')
        .choices(['all', 'minimal', 'none', 'nonnumeric'])
        .default('nonnumeric'),
    )
    .option('--print-empty', 'print the table header even when there are no rows')
    .option(
      '--sort-column <column>',
      'sort the rows by this column; repeat for more columns',
      appendValue,
    )
    .addOption(new Option('--sort-ascending', 'sort the columns in ascending order'))
    .addOption(
      new Option('--sort-descending', 'sort the columns in descending order').conflicts(
        'sortAscending',
      ),
    )
  return command
}

function addCommonOutputOptions(command: Command, formats: readonly string[]): void {
  command
    .addOption(
      new Option('-f, --format <format>', 'the output format').choices(formats).default('table'),
    )
    .option('-c, --column <column>', 'print only this column; repeat to print several', appendValue)
    .option('--noindent', 'print json on one line (json format)')
}

/** Collects a repeatable option's values in order. */
export function appendValue(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

/** Writes one resource in the requested format. */
export function writeShow(out: Writable, result: ShowResult, options: OutputOptions): void {
  const names = result.fields.map(([name]) => name)
  const selected = selectColumns(names, options.column)
  const fields = result.fields.filter(([name]) => selected.includes(name))

  out.write(formatShow(fields, options))
}

function formatShow(fields: ShowResult['fields'], options: OutputOptions): string {
  switch (options.format) {
    case 'json':
      return formatPythonJson(fieldsToObject(fields), options.noindent ? undefined : 2) + '\n'
    case 'yaml':
      return formatYaml(fieldsToObject(fields))
    case 'value':
      return fields.map(([, value]) => formatPlainCell(value) + '\n').join('')
    case 'shell':
      return fields.map(([name, value]) => formatShellLine(name, value, options.prefix)).join('')
    default: {
      const rows = fields.map(([name, value]) => [name, formatTableCell(value)])
      return formatTable(['Field', 'Value'], rows, ['left', 'left']) + '\n'
    }
  }
}

function fieldsToObject(fields: ShowResult['fields']): { [key: string]: JsonValue } {
  const object: { [key: string]: JsonValue } = {}
  for (const [name, value] of fields) {
    object[name] = toJsonValue(value)
  }
  return object
}

function formatShellLine(name: string, value: CellValue, prefix = ''): string {
  // Colons and dashes are not valid in shell variable names.
  const variable = name.replace(/[:-]/g, '_')
  const text = formatPlainCell(value).replace(/"/g, '\\"')
  return `${prefix}${variable}="${text}"\n`
}

/** Writes a listing in the requested format. */
export function writeList(out: Writable, result: ListResult, options: OutputOptions): void {
  const selected = selectColumns(result.columns, options.column)
  const indexes = selected.map((column) => result.columns.indexOf(column))
  const sortedRows = sortRows(result, options)
  const rows = sortedRows.map((row) => indexes.map((index) => row[index]))

  out.write(formatList(selected, rows, options))
}

function formatList(
  columns: readonly string[],
  rows: readonly (readonly CellValue[])[],
  options: OutputOptions,
): string {
  switch (options.format) {
    case 'json':
      return formatPythonJson(rowsToObjects(columns, rows), options.noindent ? undefined : 2) + '\n'
    case 'yaml':
      return formatYaml(rowsToObjects(columns, rows))
    case 'value':
      return rows.map((row) => row.map(formatPlainCell).join(' ') + '\n').join('')
    case 'csv':
      return formatCsv(columns, rows, options.quote ?? 'nonnumeric')
    default:
      return formatListTable(columns, rows, options.printEmpty === true)
  }
}

function rowsToObjects(
  columns: readonly string[],
  rows: readonly (readonly CellValue[])[],
): JsonValue[] {
  return rows.map((row) => {
    const object: { [key: string]: JsonValue } = {}
    columns.forEach((column, index) => (object[column] = toJsonValue(row[index])))
    return object
  })
}

function formatListTable(
  columns: readonly string[],
  rows: readonly (readonly CellValue[])[],
  printEmpty: boolean,
): string {
  // The openstack CLI prints an empty line, not a table, when there are no rows.
  if (rows.length === 0 && !printEmpty) return '\n'

  // Like the openstack CLI, align each column by the type of its value in the first row.
  const firstRow = rows[0] ?? []
  const alignments: Alignment[] = columns.map((_, index) =>
    typeof firstRow[index] === 'number' ? 'right' : 'left',
  )
  const cells = rows.map((row) => row.map(formatTableCell))
  return formatTable(columns, cells, alignments) + '\n'
}

function formatCsv(
  columns: readonly string[],
  rows: readonly (readonly CellValue[])[],
  quoting: CsvQuoting,
): string {
  const lines = [columns.map((column) => formatCsvField(column, quoting))]
  for (const row of rows) {
    lines.push(row.map((value) => formatCsvField(value, quoting)))
  }
  return lines.map((fields) => fields.join(',') + '\n').join('')
}

// Follows Python's csv.writer with escapechar '\' as the openstack CLI configures it.
function formatCsvField(value: CellValue, quoting: CsvQuoting): string {
  const isNumeric = typeof value === 'number' || typeof value === 'boolean'
  const text = value === null || value === undefined ? '' : formatPlainCell(value)

  if (quoting === 'none') return text.replace(/[\\,"\r\n]/g, (char) => `\\${char}`)

  const escaped = text.replace(/\\/g, '\\\\').replace(/"/g, '""')
  const needsQuotes =
    quoting === 'all' || (quoting === 'nonnumeric' && !isNumeric) || /[,"\r\n]/.test(text)
  return needsQuotes ? `"${escaped}"` : escaped
}

function selectColumns(available: readonly string[], requested: readonly string[] = []): string[] {
  if (requested.length === 0) return [...available]

  // Like the openstack CLI: keep the display order and ignore unknown names, unless none match.
  const selected = available.filter((column) => requested.includes(column))
  if (selected.length === 0) {
    throw new UsageError(
      `No recognized column names in ${requested.join(', ')}. ` +
        `Recognized columns are: ${available.join(', ')}.`,
    )
  }
  return selected
}

function sortRows(result: ListResult, options: OutputOptions): ListResult['rows'] {
  const indexes = (options.sortColumn ?? [])
    .map((column) => result.columns.indexOf(column))
    .filter((index) => index >= 0)
  const direction = options.sortDescending === true ? -1 : 1

  let rows = [...result.rows]
  for (const index of indexes.reverse()) {
    rows = rows.sort((left, right) => direction * compareCells(left[index], right[index]))
  }
  return rows
}

// Empty values sort last, as the openstack CLI sorts them.
function compareCells(left: CellValue, right: CellValue): number {
  const leftEmpty = left === null || left === undefined
  const rightEmpty = right === null || right === undefined
  if (leftEmpty || rightEmpty) return Number(leftEmpty) - Number(rightEmpty)

  if (typeof left === 'number' && typeof right === 'number') return left - right
  return compareCodePoints(formatTableCell(left), formatTableCell(right))
}

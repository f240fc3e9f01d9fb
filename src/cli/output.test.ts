import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { describe, it } from 'node:test'
import { DictCell, ListCell } from './cells.js'
import { UsageError } from './errors.js'
import {
  writeList,
  writeShow,
  type ListResult,
  type OutputOptions,
  type ShowResult,
} from './output.js'
import { formatPythonJson, formatPythonRepr } from './python-format.js'
import { formatTable } from './table.js'
import { formatYaml } from './yaml.js'

function capture(write: (out: Writable) => void): string {
  let text = ''
  const out = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString()
      callback()
    },
  })
  write(out)
  return text
}

function options(overrides: Partial<OutputOptions> = {}): OutputOptions {
  return { format: 'table', column: [], ...overrides }
}

const show: ShowResult = {
  fields: [
    ['id', '1111'],
    ['min_disk', 0],
    ['properties', new DictCell({ os_hidden: false, hw_disk_bus: 'virtio', locations: [] })],
    ['protected', false],
    ['tags', new ListCell(['b', 'a'])],
  ],
}

const list: ListResult = {
  columns: ['ID', 'Name', 'Size', 'Tags'],
  rows: [
    ['2222', 'dup', 1024, new ListCell(['b', 'a'])],
    ['3333', 'dup', null, new ListCell([])],
  ],
}

describe('show output', () => {
  it('prints a Field/Value table with formatted cells', () => {
    const text = capture((out) => writeShow(out, show, options()))
    assert.equal(
      text,
      [
        '+------------+---------------------------------------------------------+',
        '| Field      | Value                                                   |',
        '+------------+---------------------------------------------------------+',
        '| id         | 1111                                                    |',
        '| min_disk   | 0                                                       |',
        "| properties | hw_disk_bus='virtio', locations='[]', os_hidden='False' |",
        '| protected  | False                                                   |',
        '| tags       | a, b                                                    |',
        '+------------+---------------------------------------------------------+',
        '',
      ].join('\n'),
    )
  })

  it('prints json with lowercase field names and native values', () => {
    const text = capture((out) => writeShow(out, show, options({ format: 'json' })))
    assert.deepEqual(JSON.parse(text), {
      id: '1111',
      min_disk: 0,
      properties: { os_hidden: false, hw_disk_bus: 'virtio', locations: [] },
      protected: false,
      tags: ['b', 'a'],
    })
    assert.ok(text.startsWith('{\n  "id": "1111",\n'))
  })

  it('prints json on one line with --noindent', () => {
    const text = capture((out) =>
      writeShow(out, show, options({ format: 'json', column: ['id', 'tags'], noindent: true })),
    )
    assert.equal(text, '{"id": "1111", "tags": ["b", "a"]}\n')
  })

  it('prints one Python str() per line for value', () => {
    const text = capture((out) => writeShow(out, show, options({ format: 'value' })))
    assert.equal(
      text,
      "1111\n0\n{'os_hidden': False, 'hw_disk_bus': 'virtio', 'locations': []}\nFalse\n['b', 'a']\n",
    )
  })

  it('prints shell assignments with the prefix', () => {
    const text = capture((out) =>
      writeShow(out, show, options({ format: 'shell', prefix: 'img_', column: ['tags', 'id'] })),
    )
    assert.equal(text, 'img_id="1111"\nimg_tags="[\'b\', \'a\']"\n')
  })

  it('escapes double quotes and dashes in shell output', () => {
    const result: ShowResult = { fields: [['os-name', 'say "hi"']] }
    const text = capture((out) => writeShow(out, result, options({ format: 'shell' })))
    assert.equal(text, 'os_name="say \\"hi\\""\n')
  })

  it('prints yaml with sorted keys', () => {
    const text = capture((out) => writeShow(out, show, options({ format: 'yaml' })))
    assert.equal(
      text,
      [
        "id: '1111'",
        'min_disk: 0',
        'properties:',
        '  hw_disk_bus: virtio',
        '  locations: []',
        '  os_hidden: false',
        'protected: false',
        'tags:',
        '- b',
        '- a',
        '',
      ].join('\n'),
    )
  })

  it('keeps the display order whatever the order of -c', () => {
    const text = capture((out) =>
      writeShow(out, show, options({ format: 'value', column: ['tags', 'id'] })),
    )
    assert.equal(text, "1111\n['b', 'a']\n")
  })

  it('rejects -c when no column matches', () => {
    assert.throws(
      () => capture((out) => writeShow(out, show, options({ column: ['Foo'] }))),
      (error: unknown) =>
        error instanceof UsageError &&
        error.exitCode === 2 &&
        error.message.includes('Foo') &&
        error.message.includes('id, min_disk, properties, protected, tags'),
    )
  })
})

describe('list output', () => {
  it('prints a table with numbers aligned right', () => {
    const text = capture((out) => writeList(out, list, options()))
    assert.equal(
      text,
      [
        '+------+------+------+------+',
        '| ID   | Name | Size | Tags |',
        '+------+------+------+------+',
        '| 2222 | dup  | 1024 | a, b |',
        '| 3333 | dup  | None |      |',
        '+------+------+------+------+',
        '',
      ].join('\n'),
    )
  })

  it('prints an empty line when there are no rows', () => {
    const empty = { columns: ['ID'], rows: [] }
    assert.equal(
      capture((out) => writeList(out, empty, options())),
      '\n',
    )
  })

  it('prints the header of an empty table with --print-empty', () => {
    const empty = { columns: ['ID'], rows: [] }
    const text = capture((out) => writeList(out, empty, options({ printEmpty: true })))
    assert.equal(text, '+----+\n| ID |\n+----+\n+----+\n')
  })

  it('prints json objects keyed by column name', () => {
    const text = capture((out) =>
      writeList(out, list, options({ format: 'json', column: ['ID', 'Size'] })),
    )
    assert.deepEqual(JSON.parse(text), [
      { ID: '2222', Size: 1024 },
      { ID: '3333', Size: null },
    ])
  })

  it('prints an empty json array when there are no rows', () => {
    const empty = { columns: ['ID'], rows: [] }
    assert.equal(
      capture((out) => writeList(out, empty, options({ format: 'json' }))),
      '[]\n',
    )
  })

  it('prints space-separated values', () => {
    const text = capture((out) => writeList(out, list, options({ format: 'value' })))
    assert.equal(text, "2222 dup 1024 ['b', 'a']\n3333 dup None []\n")
  })

  it('prints yaml as a sequence of mappings', () => {
    const text = capture((out) =>
      writeList(out, list, options({ format: 'yaml', column: ['ID', 'Tags'] })),
    )
    assert.equal(text, "- ID: '2222'\n  Tags:\n  - b\n  - a\n- ID: '3333'\n  Tags: []\n")
  })

  it('quotes csv fields that are not numbers by default', () => {
    const text = capture((out) => writeList(out, list, options({ format: 'csv' })))
    assert.equal(
      text,
      '"ID","Name","Size","Tags"\n"2222","dup",1024,"[\'b\', \'a\']"\n"3333","dup","","[]"\n',
    )
  })

  it('escapes commas in csv without quotes', () => {
    const text = capture((out) =>
      writeList(out, list, options({ format: 'csv', quote: 'none', column: ['Tags'] })),
    )
    assert.equal(text, "Tags\n['b'\\, 'a']\n[]\n")
  })

  it('sorts by --sort-column with empty values last', () => {
    const rows = {
      columns: ['ID', 'Size'],
      rows: [
        ['a', null],
        ['b', 5],
        ['c', 30],
      ],
    }
    const ascending = capture((out) =>
      writeList(out, rows, options({ format: 'value', sortColumn: ['Size'] })),
    )
    const descending = capture((out) =>
      writeList(
        out,
        rows,
        options({ format: 'value', sortColumn: ['Size'], sortDescending: true }),
      ),
    )
    assert.equal(ascending, 'b 5\nc 30\na None\n')
    assert.equal(descending, 'a None\nc 30\nb 5\n')
  })
})

describe('formatTable', () => {
  it('spreads a multi-line cell over several lines', () => {
    const text = formatTable(['ID', 'Size'], [['a\nbb', '12345']], ['left', 'right'])
    assert.equal(
      text,
      [
        '+----+-------+',
        '| ID |  Size |',
        '+----+-------+',
        '| a  | 12345 |',
        '| bb |       |',
        '+----+-------+',
      ].join('\n'),
    )
  })

  it('replaces a lone carriage return with a space', () => {
    const text = formatTable(['A'], [['x\ry']], ['left'])
    assert.ok(text.includes('| x y |'))
  })
})

describe('Python formatting', () => {
  it('renders repr() quotes as Python chooses them', () => {
    assert.equal(
      formatPythonRepr(["it's", 'say "hi"', 'both \'"', 'a\\b\n']),
      `["it's", 'say "hi"', 'both \\'"', 'a\\\\b\\n']`,
    )
  })

  it('renders None, True and nested mappings', () => {
    assert.equal(
      formatPythonRepr({ a: null, b: true, c: { d: [1.5] } }),
      "{'a': None, 'b': True, 'c': {'d': [1.5]}}",
    )
  })

  it('escapes non-ASCII text in json as Python does', () => {
    assert.equal(formatPythonJson({ name: 'ünï' }), '{"name": "\\u00fcn\\u00ef"}')
  })
})

describe('formatYaml', () => {
  it('quotes strings that would read back as other types', () => {
    const text = formatYaml([
      'yes',
      'null',
      '123',
      '1.5',
      '2024-01-01T00:00:00Z',
      '',
      'plain',
      'a: b',
    ])
    assert.equal(
      text,
      "- 'yes'\n- 'null'\n- '123'\n- '1.5'\n- '2024-01-01T00:00:00Z'\n- ''\n- plain\n- 'a: b'\n",
    )
  })

  it('double-quotes line breaks and non-ASCII text', () => {
    assert.equal(formatYaml(['line\nbreak', 'ü']), '- "line\\nbreak"\n- "\\xFC"\n')
  })

  it('indents mappings nested in sequences', () => {
    const text = formatYaml([{ a: [1, { b: [] }], c: {} }])
    assert.equal(text, '- a:\n  - 1\n  - b: []\n  c: {}\n')
  })
})

/** Horizontal alignment of a table column. */
export type Alignment = 'left' | 'right'

/**
 * Renders a table with `+---+` borders, as the openstack CLI prints it. A cell that contains
 * line breaks spans several lines, and a header is aligned like its column. A table without rows
 * ends with two borders, as the Python prettytable package prints it.
 */
export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  alignments: readonly Alignment[],
): string {
  const widths = headers.map((header, column) => {
    const cellWidths = rows.map((row) => maxLineWidth(row[column] ?? ''))
    return Math.max(maxLineWidth(header), ...cellWidths)
  })
  const border = '+' + widths.map((width) => '-'.repeat(width + 2)).join('+') + '+'

  const lines = [border, ...renderRow(headers, widths, alignments), border]
  for (const row of rows) {
    lines.push(...renderRow(row, widths, alignments))
  }
  lines.push(border)
  return lines.join('\n')
}

function renderRow(
  cells: readonly string[],
  widths: readonly number[],
  alignments: readonly Alignment[],
): string[] {
  const cellLines = widths.map((_, column) => splitLines(cells[column] ?? ''))
  const height = Math.max(...cellLines.map((linesOfCell) => linesOfCell.length))

  const lines: string[] = []
  for (let lineIndex = 0; lineIndex < height; lineIndex++) {
    const parts = widths.map((width, column) => {
      const text = cellLines[column]?.[lineIndex] ?? ''
      return alignText(text, width, alignments[column] ?? 'left')
    })
    lines.push(`| ${parts.join(' | ')} |`)
  }
  return lines
}

function alignText(text: string, width: number, alignment: Alignment): string {
  const padding = ' '.repeat(width - displayWidth(text))
  return alignment === 'right' ? padding + text : text + padding
}

function maxLineWidth(text: string): number {
  return Math.max(...splitLines(text).map(displayWidth))
}

// A lone carriage return would move the cursor back over the border, so it becomes a space.
function splitLines(text: string): string[] {
  return text.replace(/\r\n/g, '\n').replace(/\r/g, ' ').split('\n')
}

// NOTE: counts code points, so East Asian wide characters make their row one column short.
function displayWidth(text: string): number {
  return Array.from(text).length
}

interface PropertyRowsProps {
  /** Prefix of the input ids, unique on the page. */
  idPrefix: string
  rows: [string, string][]
  onChange(rows: [string, string][]): void
}

/** Editable key and value pairs of free-form image properties. */
export function PropertyRows({ idPrefix, rows, onChange }: PropertyRowsProps) {
  const update = (index: number, column: 0 | 1, text: string) => {
    onChange(
      rows.map((row, i): [string, string] => {
        if (i !== index) return row
        return column === 0 ? [text, row[1]] : [row[0], text]
      }),
    )
  }
  return (
    <fieldset class="properties">
      <legend>Properties</legend>
      {rows.length === 0 && <p class="hint">No properties.</p>}
      {rows.map(([key, value], index) => (
        <div class="property-row" key={index}>
          <label class="visually-hidden" for={`${idPrefix}-key-${index}`}>
            Property {index + 1} name
          </label>
          <input
            id={`${idPrefix}-key-${index}`}
            placeholder="name"
            value={key}
            onInput={(event) => update(index, 0, event.currentTarget.value)}
          />
          <label class="visually-hidden" for={`${idPrefix}-value-${index}`}>
            Property {index + 1} value
          </label>
          <input
            id={`${idPrefix}-value-${index}`}
            placeholder="value"
            value={value}
            onInput={(event) => update(index, 1, event.currentTarget.value)}
          />
          <button
            type="button"
            onClick={() => onChange(rows.filter((_, i) => i !== index))}
            aria-label={`Remove property ${key === '' ? index + 1 : key}`}
          >
            Remove
          </button>
        </div>
      ))}
      <button type="button" onClick={() => onChange([...rows, ['', '']])}>
        Add property
      </button>
    </fieldset>
  )
}

/** Returns the rows with a name, trimmed; a later row wins over an earlier one of that name. */
export function completeRows(rows: [string, string][]): [string, string][] {
  const result = new Map<string, string>()
  for (const [key, value] of rows) {
    if (key.trim() !== '') result.set(key.trim(), value)
  }
  return [...result]
}

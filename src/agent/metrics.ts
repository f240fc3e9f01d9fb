/** A Prometheus metric family: its name, help text, type and samples by label set. */
interface Family {
  help: string
  type: 'counter' | 'gauge'
  samples: Map<string, number>
}

/**
 * Counters and gauges kept in memory and written in the Prometheus text exposition format
 * (version 0.0.4). Label values are escaped; label sets are given as plain objects.
 */
export class MetricsRegistry {
  readonly #families = new Map<string, Family>()

  /** Declares a metric; samples may be set only for declared names. */
  declare(name: string, type: 'counter' | 'gauge', help: string): void {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name))
      throw new TypeError(`invalid metric name: ${name}`)
    this.#families.set(name, { help, type, samples: new Map() })
  }

  add(name: string, value = 1, labels: Record<string, string> = {}): void {
    const family = this.#family(name)
    const key = formatLabels(labels)
    family.samples.set(key, (family.samples.get(key) ?? 0) + value)
  }

  set(name: string, value: number, labels: Record<string, string> = {}): void {
    this.#family(name).samples.set(formatLabels(labels), value)
  }

  /** Returns the value of one sample, or 0 when it was never set. */
  get(name: string, labels: Record<string, string> = {}): number {
    return this.#family(name).samples.get(formatLabels(labels)) ?? 0
  }

  /** Renders every family, with HELP and TYPE lines, in declaration order. */
  render(): string {
    const lines: string[] = []
    for (const [name, family] of this.#families) {
      lines.push(`# HELP ${name} ${family.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`)
      lines.push(`# TYPE ${name} ${family.type}`)
      if (family.samples.size === 0) lines.push(`${name} 0`)
      for (const [labels, value] of family.samples) lines.push(`${name}${labels} ${value}`)
    }
    return `${lines.join('\n')}\n`
  }

  #family(name: string): Family {
    const family = this.#families.get(name)
    if (family === undefined) throw new TypeError(`metric ${name} was not declared`)
    return family
  }
}

function formatLabels(labels: Record<string, string>): string {
  const pairs = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `${key}="${escapeLabel(value)}"`)
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
}

import { readFileSync } from 'node:fs'
import { relative } from 'node:path'
import { parseArgs } from 'node:util'

const usage = `Usage: node dist/bench/profile-summary.js [--top N] FILE.cpuprofile

Prints where a V8 CPU profile (from node --cpu-prof, e.g. npm run bench -- --cpu-prof) spent its
samples: self time per function, and self time per source file or built-in category.
`

/** The parts of V8's `.cpuprofile` JSON that this summary reads. */
interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame }[]
  samples: number[]
  timeDeltas: number[]
}

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
}

/** Self time per key, in milliseconds. */
type Totals = Map<string, number>

function summarize(profile: CpuProfile): { byFunction: Totals; byFile: Totals; totalMs: number } {
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]))
  const byFunction: Totals = new Map()
  const byFile: Totals = new Map()
  let totalMs = 0

  profile.samples.forEach((nodeId, index) => {
    // timeDeltas[i] is the time since the previous sample, in microseconds.
    const ms = (profile.timeDeltas[index] ?? 0) / 1000
    const frame = frames.get(nodeId)
    if (frame === undefined) return
    add(byFunction, functionKey(frame), ms)
    add(byFile, fileKey(frame), ms)
    totalMs += ms
  })
  return { byFunction, byFile, totalMs }
}

function add(totals: Totals, key: string, ms: number): void {
  totals.set(key, (totals.get(key) ?? 0) + ms)
}

function functionKey(frame: CallFrame): string {
  const name = frame.functionName || '(anonymous)'
  if (frame.url === '') return name
  return `${name} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`
}

/** Pseudo-frames such as `(garbage collector)` and `(program)` have no URL and stand alone. */
function fileKey(frame: CallFrame): string {
  return frame.url === '' ? frame.functionName : shortUrl(frame.url)
}

function shortUrl(url: string): string {
  const path = url.replace(/^file:\/\//, '')
  return path.startsWith('/') ? relative(process.cwd(), path) : path
}

function printTop(title: string, totals: Totals, totalMs: number, top: number): void {
  process.stdout.write(`\n${title}\n`)
  const sorted = [...totals].sort((a, b) => b[1] - a[1]).slice(0, top)
  for (const [key, ms] of sorted) {
    const share = ((ms / totalMs) * 100).toFixed(1).padStart(5)
    process.stdout.write(`${share}%  ${ms.toFixed(0).padStart(7)} ms  ${key}\n`)
  }
}

function main(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { top: { type: 'string', default: '25' }, help: { type: 'boolean', short: 'h' } },
  })
  if (values.help || positionals.length !== 1) {
    process.stdout.write(usage)
    return values.help ? 0 : 2
  }

  const profile = JSON.parse(readFileSync(positionals[0]!, 'utf8')) as CpuProfile
  const { byFunction, byFile, totalMs } = summarize(profile)
  const top = Number(values.top)
  process.stdout.write(`${positionals[0]}: ${(totalMs / 1000).toFixed(1)} s of samples\n`)
  printTop('Self time by function', byFunction, totalMs, top)
  printTop('Self time by file', byFile, totalMs, top)
  return 0
}

process.exitCode = main(process.argv.slice(2))

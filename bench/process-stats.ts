import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { Worker } from 'node:worker_threads'

/** The largest resident set size seen while sampling, and how evenly the samples came. */
export interface RssPeak {
  peakBytes: number
  samples: number
  /**
   * The maximum time between two samples, in milliseconds. It is close to the interval unless
   * the sampler waited for a CPU.
   */
  maxGapMs: number
}

/** Samples the `VmRSS` of one process every `intervalMs` until `stop` is called. */
export class RssSampler {
  readonly #worker: Worker

  private constructor(worker: Worker) {
    this.#worker = worker
  }

  static async start(pid: number, intervalMs = 50): Promise<RssSampler> {
    const url = new URL('./rss-worker.js', import.meta.url)
    const worker = new Worker(url, { workerData: { pid, intervalMs } })
    await new Promise<void>((resolve, reject) => {
      worker.once('online', resolve)
      worker.once('error', reject)
    })
    return new RssSampler(worker)
  }

  async stop(): Promise<RssPeak> {
    const peak = new Promise<RssPeak>((resolve, reject) => {
      this.#worker.once('message', resolve)
      this.#worker.once('error', reject)
    })
    this.#worker.postMessage('stop')
    const result = await peak
    await this.#worker.terminate()
    return result
  }
}

const clockTicks = readClockTicks()

function readClockTicks(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
}

/** User plus system CPU time of a process so far, in seconds. */
export function readCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name (field 2) may contain spaces and parentheses, so split after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  return (utime + stime) / clockTicks
}

/** Busy and total CPU time of the whole machine so far, summed over all cores, in seconds. */
function readMachineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? ''
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number)
  const total = ticks.reduce((sum, value) => sum + value, 0)
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0)
  return { busy: (total - idle) / clockTicks, total: total / clockTicks }
}

/** CPU use over one measurement, in cores (1.0 is one core kept busy the whole time). */
export interface CpuUse {
  /** Each watched process, by the label it was given. */
  processes: Record<string, number>
  /** This benchmark process (the HTTP client), all threads. */
  client: number
  /** Every process on the machine, these included. */
  machine: number
}

/** Measures the CPU use of some processes, of this process and of the machine until `stop`. */
export class CpuMeter {
  readonly #pids: Record<string, number>
  readonly #started = process.hrtime.bigint()
  readonly #startProcesses: Record<string, number> = {}
  readonly #startClient = process.cpuUsage()
  readonly #startMachine = readMachineCpu()

  constructor(pids: Record<string, number>) {
    this.#pids = { ...pids }
    for (const [label, pid] of Object.entries(pids))
      this.#startProcesses[label] = readCpuSeconds(pid)
  }

  stop(): CpuUse {
    const wall = Number(process.hrtime.bigint() - this.#started) / 1e9
    const processes: Record<string, number> = {}
    for (const [label, pid] of Object.entries(this.#pids)) {
      processes[label] = (readCpuSeconds(pid) - (this.#startProcesses[label] ?? 0)) / wall
    }
    const clientUsage = process.cpuUsage(this.#startClient)
    const machine = readMachineCpu()
    return {
      processes,
      client: (clientUsage.user + clientUsage.system) / 1e6 / wall,
      machine: (machine.busy - this.#startMachine.busy) / wall,
    }
  }
}

/**
 * Reads the total time in which at least one runnable task waited for a CPU, in seconds, from
 * Linux's pressure stall information. Returns null where `/proc/pressure/cpu` is missing.
 */
export function readCpuStallSeconds(): number | null {
  try {
    const text = readFileSync('/proc/pressure/cpu', 'utf8')
    const match = /^some .*total=(\d+)$/m.exec(text)
    return match === null ? null : Number(match[1]) / 1e6
  } catch {
    return null
  }
}

/** Reads the 1-minute load average of the machine. */
export function readLoadAverage(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0])
}

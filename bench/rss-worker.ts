import { readFileSync } from 'node:fs'
import { parentPort, workerData } from 'node:worker_threads'

/**
 * Samples `VmRSS` of one process at a fixed interval, on its own thread so that the busy event
 * loop of the benchmark client does not delay the samples. Posts `RssPeak` when the parent sends
 * any message.
 */
const { pid, intervalMs } = workerData as { pid: number; intervalMs: number }

let peakBytes = 0
let samples = 0
let maxGapMs = 0
let lastSample = performance.now()

function sample(): void {
  const now = performance.now()
  maxGapMs = Math.max(maxGapMs, now - lastSample)
  lastSample = now

  const status = readStatus()
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status)
  if (match === null) return
  peakBytes = Math.max(peakBytes, Number(match[1]) * 1024)
  samples += 1
}

function readStatus(): string {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch {
    // The process has exited, and the samples taken so far remain valid.
    return ''
  }
}

sample()
const timer = setInterval(sample, intervalMs)
parentPort!.once('message', () => {
  clearInterval(timer)
  sample()
  parentPort!.postMessage({ peakBytes, samples, maxGapMs })
})

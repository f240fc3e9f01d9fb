/**
 * Estimates the speed of a transfer from the progress events of the last few seconds, so the
 * speed and the time left follow changes in the network instead of the average since the start.
 */
export class TransferRate {
  readonly #windowMs: number
  readonly #samples: { time: number; bytes: number }[] = []

  constructor(windowMs = 5000) {
    this.#windowMs = windowMs
  }

  /** Records that `bytes` had been sent in total at `time` (milliseconds). */
  record(time: number, bytes: number): void {
    this.#samples.push({ time, bytes })
    while (this.#samples.length > 2 && time - this.#samples[0]!.time > this.#windowMs) {
      this.#samples.shift()
    }
  }

  /** Returns bytes per second over the window, or 0 before two samples exist. */
  bytesPerSecond(): number {
    const first = this.#samples[0]
    const last = this.#samples.at(-1)
    if (first === undefined || last === undefined || last.time <= first.time) return 0
    return ((last.bytes - first.bytes) * 1000) / (last.time - first.time)
  }

  /** Returns the seconds left to send `total` bytes at the current rate, or `null` if unknown. */
  secondsLeft(total: number): number | null {
    const rate = this.bytesPerSecond()
    const sent = this.#samples.at(-1)?.bytes ?? 0
    return rate > 0 ? (total - sent) / rate : null
  }
}

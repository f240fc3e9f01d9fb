import { setTimeout as sleep } from 'node:timers/promises'
import { Transform, type TransformCallback } from 'node:stream'

/**
 * A transform that passes bytes on at no more than `rate()` bytes per second, with a bucket
 * of one second of tokens. The rate is read before every chunk, so a background pre-cache
 * download speeds up at once when a VM starts waiting for the same image. Infinity means no
 * limit.
 */
export class Throttle extends Transform {
  readonly #rate: () => number
  readonly #signal: AbortSignal | undefined
  #tokens = 0
  #refilledAt = performance.now()

  constructor(rate: () => number, signal?: AbortSignal) {
    super()
    this.#rate = rate
    this.#signal = signal
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!Number.isFinite(this.#rate())) {
      callback(null, chunk)
      return
    }
    this.#take(chunk.length).then(
      () => callback(null, chunk),
      (error: unknown) => callback(error as Error),
    )
  }

  async #take(bytes: number): Promise<void> {
    for (;;) {
      const rate = this.#rate()
      if (!Number.isFinite(rate)) return

      const now = performance.now()
      this.#tokens = Math.min(rate, this.#tokens + ((now - this.#refilledAt) / 1000) * rate)
      this.#refilledAt = now
      // A chunk larger than the bucket goes through once the bucket is full, and the tokens it
      // lacks become a debt that the next chunks wait for, so the average stays at the rate.
      const needed = Math.min(bytes, rate)
      if (this.#tokens >= needed) {
        this.#tokens -= bytes
        return
      }
      const waitMs = ((needed - this.#tokens) / rate) * 1000
      await sleep(Math.min(Math.max(waitMs, 1), 200), undefined, { signal: this.#signal })
    }
  }
}

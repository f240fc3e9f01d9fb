import { setTimeout as sleep } from 'node:timers/promises'
import { Transform, type TransformCallback } from 'node:stream'

/**
 * The tokens of a rate limit, as bytes that may pass now, with a bucket of one second of tokens.
 * Throttles that share a bucket share its rate, so that concurrent pre-cache downloads together
 * stay within the limit.
 */
export class TokenBucket {
  #tokens = 0
  #refilledAt = performance.now()

  /** Waits until `bytes` may pass at `rate()` bytes per second, which is at once for Infinity. */
  async take(bytes: number, rate: () => number, signal?: AbortSignal): Promise<void> {
    for (;;) {
      const current = rate()
      if (!Number.isFinite(current)) return

      const now = performance.now()
      this.#tokens = Math.min(current, this.#tokens + ((now - this.#refilledAt) / 1000) * current)
      this.#refilledAt = now
      // A chunk larger than the bucket goes through once the bucket is full, and the tokens it
      // lacks become a debt that the next chunks wait for, so the average stays at the rate.
      const needed = Math.min(bytes, current)
      if (this.#tokens >= needed) {
        this.#tokens -= bytes
        return
      }
      const waitMs = ((needed - this.#tokens) / current) * 1000
      await sleep(Math.min(Math.max(waitMs, 1), 200), undefined, { signal })
    }
  }
}

/**
 * A transform that passes bytes on at no more than `rate()` bytes per second, taking tokens from
 * `bucket` (its own by default). The rate is read before every chunk, so a background pre-cache
 * download speeds up at once when a VM starts waiting for the same image. Infinity means no
 * limit.
 */
export class Throttle extends Transform {
  readonly #rate: () => number
  readonly #signal: AbortSignal | undefined
  readonly #bucket: TokenBucket

  constructor(rate: () => number, signal?: AbortSignal, bucket = new TokenBucket()) {
    super()
    this.#rate = rate
    this.#signal = signal
    this.#bucket = bucket
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!Number.isFinite(this.#rate())) {
      callback(null, chunk)
      return
    }
    this.#bucket.take(chunk.length, this.#rate, this.#signal).then(
      () => callback(null, chunk),
      (error: unknown) => callback(error as Error),
    )
  }
}

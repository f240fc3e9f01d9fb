import type { IncomingMessage } from 'node:http'
import { Readable } from 'node:stream'
import { idleTimeoutError, networkError, WebFetchError } from './web-fetch-errors.js'

export interface BodyLimits {
  /** The redacted URL, for messages. */
  url: string
  idleTimeoutMs: number
  maxBytes: number
  /** The announced body length, checked when the body ends. */
  expectedBytes: number | null
  /** Called once, when the body ends or the stream is destroyed. */
  release: () => void
}

/**
 * The response body with the idle and size limits applied. The idle timer runs only while the
 * stream waits for the server, not while the consumer applies backpressure, so a slow consumer
 * does not trip it.
 */
export class ResponseBody extends Readable {
  readonly #response: IncomingMessage
  readonly #limits: BodyLimits
  #received = 0
  #reading = false
  #released = false
  #ended = false
  #idleTimer: NodeJS.Timeout | undefined

  constructor(response: IncomingMessage, limits: BodyLimits) {
    super()
    this.#response = response
    this.#limits = limits
    response.on('error', (error) => this.destroy(networkError(limits.url, error)))
    response.on('end', () => this.#finish())
    // A connection that closes without an end, such as after a server sent more than its
    // Content-Length, reports no error on the response. Without this, the idle timer decides.
    const onClose = () => {
      if (!this.#ended && !this.destroyed) {
        const closed = new Error(`connection closed after ${this.#received} bytes`)
        this.destroy(networkError(limits.url, closed))
      }
    }
    response.on('close', onClose)
    // The connection may have closed before this stream existed.
    if (response.destroyed) process.nextTick(onClose)
  }

  override _read(): void {
    if (!this.#reading) {
      this.#reading = true
      this.#response.on('data', (chunk: Buffer) => this.#receive(chunk))
    }
    this.#response.resume()
    this.#armIdleTimer()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.#idleTimer)
    this.#response.destroy()
    this.#release()
    callback(error)
  }

  #receive(chunk: Buffer): void {
    if (this.destroyed) return
    this.#received += chunk.length
    if (this.#received > this.#limits.maxBytes) {
      const { url, maxBytes } = this.#limits
      this.destroy(
        new WebFetchError(
          'too-large',
          url,
          `Download from ${url} exceeded the web-download limit of ${maxBytes} bytes.`,
        ),
      )
      return
    }

    if (this.push(chunk)) {
      this.#armIdleTimer()
    } else {
      clearTimeout(this.#idleTimer)
      this.#response.pause()
    }
  }

  #finish(): void {
    this.#ended = true
    clearTimeout(this.#idleTimer)
    const { url, expectedBytes } = this.#limits
    if (expectedBytes !== null && this.#received !== expectedBytes) {
      this.destroy(
        new WebFetchError(
          'network',
          url,
          `Download from ${url} failed: the body ended after ${this.#received} of ${expectedBytes} bytes.`,
        ),
      )
      return
    }
    this.#release()
    this.push(null)
  }

  #armIdleTimer(): void {
    clearTimeout(this.#idleTimer)
    const { url, idleTimeoutMs } = this.#limits
    this.#idleTimer = setTimeout(
      () => this.destroy(idleTimeoutError(url, idleTimeoutMs)),
      idleTimeoutMs,
    )
  }

  #release(): void {
    if (this.#released) return
    this.#released = true
    this.#limits.release()
  }
}

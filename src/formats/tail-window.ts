/**
 * The last bytes of a stream, kept in a fixed ring buffer. An append copies at most the window
 * size, whatever the chunk size.
 */
export class TailWindow {
  readonly #ring: Buffer
  #next = 0
  #filled = 0

  constructor(size: number) {
    this.#ring = Buffer.alloc(size)
  }

  append(chunk: Buffer): void {
    const size = this.#ring.length
    if (chunk.length >= size) {
      chunk.copy(this.#ring, 0, chunk.length - size)
      this.#next = 0
      this.#filled = size
      return
    }

    const first = Math.min(chunk.length, size - this.#next)
    chunk.copy(this.#ring, this.#next, 0, first)
    chunk.copy(this.#ring, 0, first)
    this.#next = (this.#next + chunk.length) % size
    this.#filled = Math.min(size, this.#filled + chunk.length)
  }

  /** Returns a copy of the kept bytes in stream order. */
  bytes(): Buffer {
    if (this.#filled < this.#ring.length) return Buffer.from(this.#ring.subarray(0, this.#filled))

    return Buffer.concat([this.#ring.subarray(this.#next), this.#ring.subarray(0, this.#next)])
  }
}

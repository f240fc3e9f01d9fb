const initialCapacity = 64 * 1024

/**
 * The first bytes of a stream, kept up to a fixed limit. The buffer grows by doubling, so its
 * size depends on the bytes pushed and never on a size read from a header.
 */
export class HeadBuffer {
  readonly #limit: number
  #buffer = Buffer.alloc(0)
  #length = 0

  constructor(limit: number) {
    this.#limit = limit
  }

  get length(): number {
    return this.#length
  }

  get bytes(): Buffer {
    return this.#buffer.subarray(0, this.#length)
  }

  /** Appends as much of `chunk` as fits under the limit and drops the rest. */
  append(chunk: Buffer): void {
    const take = Math.min(chunk.length, this.#limit - this.#length)
    if (take <= 0) return

    this.#reserve(this.#length + take)
    chunk.copy(this.#buffer, this.#length, 0, take)
    this.#length += take
  }

  /** Frees the memory; the buffer reads as empty afterwards. */
  release(): void {
    this.#buffer = Buffer.alloc(0)
    this.#length = 0
  }

  #reserve(capacity: number): void {
    if (capacity <= this.#buffer.length) return

    const doubled = Math.max(initialCapacity, this.#buffer.length * 2)
    const grown = Buffer.alloc(Math.min(this.#limit, Math.max(capacity, doubled)))
    this.#buffer.copy(grown, 0, 0, this.#length)
    this.#buffer = grown
  }
}

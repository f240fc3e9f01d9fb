import { createHash, type Hash } from 'node:crypto'
import { md5Offload } from './md5-offload.js'

export interface ImageDigests {
  /** MD5, hex: Glance's `checksum`. */
  md5: string
  /** SHA-512, hex: Glance's `os_hash_value`. */
  sha512: string
}

/** Uploads smaller than this are hashed on the calling thread, where no copy is needed. */
const offloadThreshold = 32 * 1024 * 1024
const slotSize = 1024 * 1024
/** Slots of the shared buffer; when all wait for the worker, the upload waits too. */
const slotCount = 8

/**
 * Computes MD5 and SHA-512 of a stream in one pass. For large images the MD5 runs on the
 * process's MD5 worker thread, which doubles the hashing rate on a machine with two or more
 * cores. The data reaches the worker through a small shared buffer, so memory stays flat.
 *
 * `update` returns a promise only when the caller must wait for the worker to catch up.
 */
export class ImageHasher {
  readonly #sha512: Hash = createHash('sha512')
  readonly #md5: Hash | null = null
  readonly #offload: {
    session: number
    slots: Uint8Array
    free: number[]
    filling: number | null
    filled: number
    digest: Promise<string>
  } | null = null
  #waiting: (() => void) | null = null
  #failure: Error | null = null

  /** `expectedSize` decides whether the worker is worth using; `null` when unknown. */
  constructor(expectedSize: number | null) {
    if (expectedSize !== null && expectedSize < offloadThreshold) {
      this.#md5 = createHash('md5')
      return
    }
    const buffer = new SharedArrayBuffer(slotSize * slotCount)
    let resolveDigest!: (md5: string) => void
    let rejectDigest!: (error: Error) => void
    const digest = new Promise<string>((resolve, reject) => {
      resolveDigest = resolve
      rejectDigest = reject
    })
    digest.catch(() => {})
    const session = md5Offload.open(buffer, slotSize, {
      onAck: (slot) => this.#release(slot),
      onDigest: resolveDigest,
      onError: (error) => {
        this.#failure = error
        rejectDigest(error)
        this.#waiting?.()
      },
    })
    const free = Array.from({ length: slotCount }, (_, i) => slotCount - 1 - i)
    this.#offload = {
      session,
      slots: new Uint8Array(buffer),
      free,
      filling: null,
      filled: 0,
      digest,
    }
  }

  update(chunk: Buffer): Promise<void> | undefined {
    if (this.#failure !== null) throw this.#failure
    this.#sha512.update(chunk)
    if (this.#md5 !== null) {
      this.#md5.update(chunk)
      return undefined
    }
    return this.#copyToSlots(chunk, 0)
  }

  /** Copies `chunk` from `offset` into slots, waiting for a free slot when there is none. */
  #copyToSlots(chunk: Buffer, offset: number): Promise<void> | undefined {
    const offload = this.#offload!
    while (offset < chunk.length) {
      if (offload.filling === null) {
        const slot = offload.free.pop()
        if (slot === undefined) {
          return this.#waitForSlot().then(() => this.#copyToSlots(chunk, offset))
        }
        offload.filling = slot
        offload.filled = 0
      }
      const start = offload.filling * slotSize + offload.filled
      const count = Math.min(slotSize - offload.filled, chunk.length - offset)
      offload.slots.set(chunk.subarray(offset, offset + count), start)
      offload.filled += count
      offset += count
      if (offload.filled === slotSize) this.#sendSlot()
    }
    return undefined
  }

  #sendSlot(): void {
    const offload = this.#offload!
    if (offload.filling === null || offload.filled === 0) return
    md5Offload.send({
      type: 'update',
      session: offload.session,
      slot: offload.filling,
      length: offload.filled,
    })
    offload.filling = null
    offload.filled = 0
  }

  #release(slot: number): void {
    this.#offload!.free.push(slot)
    this.#waiting?.()
  }

  #waitForSlot(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#waiting = () => {
        this.#waiting = null
        if (this.#failure !== null) reject(this.#failure)
        else resolve()
      }
    })
  }

  /** Finishes both hashes. The hasher cannot be used afterwards. */
  async digest(): Promise<ImageDigests> {
    const sha512 = this.#sha512.digest('hex')
    if (this.#md5 !== null) return { md5: this.#md5.digest('hex'), sha512 }

    const offload = this.#offload!
    this.#sendSlot()
    md5Offload.send({ type: 'digest', session: offload.session })
    return { md5: await offload.digest, sha512 }
  }

  /** Ends the worker session of an upload that failed. */
  dispose(): void {
    if (this.#offload !== null) md5Offload.close(this.#offload.session)
  }
}

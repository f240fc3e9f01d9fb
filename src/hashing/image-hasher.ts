import { createHash, type Hash } from 'node:crypto'
import { once } from 'node:events'
import { Worker } from 'node:worker_threads'

export interface ImageDigests {
  /** MD5, hex: Glance's `checksum`. */
  md5: string
  /** SHA-512, hex: Glance's `os_hash_value`. */
  sha512: string
}

/** Uploads smaller than this are hashed on the calling thread; a worker costs ~20 ms to start. */
const workerThreshold = 32 * 1024 * 1024
const batchSize = 1024 * 1024
/** At most this many batches wait for the worker, so memory stays flat when it falls behind. */
const maxBatchesInFlight = 8

/**
 * Computes MD5 and SHA-512 of a stream in one pass. For large images the MD5 runs on a worker
 * thread, which doubles the hashing rate on a machine with two or more cores.
 *
 * `update` returns a promise only when the caller must wait for the worker to catch up.
 */
export class ImageHasher {
  readonly #sha512: Hash = createHash('sha512')
  readonly #md5: Hash | null
  readonly #worker: Worker | null
  #batch: Buffer | null = null
  #batchLength = 0
  #inFlight = 0
  #drained: (() => void) | null = null
  #failure: Error | null = null

  /** `expectedSize` decides whether a worker is worth starting; `null` when unknown. */
  constructor(expectedSize: number | null) {
    const useWorker = expectedSize === null || expectedSize >= workerThreshold
    this.#md5 = useWorker ? null : createHash('md5')
    this.#worker = useWorker ? this.#startWorker() : null
  }

  #startWorker(): Worker {
    const worker = new Worker(new URL('./md5-worker.js', import.meta.url))
    worker.on('message', (message: { ack?: number }) => {
      if (message.ack === undefined) return
      this.#inFlight--
      this.#drained?.()
    })
    worker.on('error', (error) => {
      this.#failure = error
      this.#drained?.()
    })
    return worker
  }

  update(chunk: Buffer): Promise<void> | undefined {
    if (this.#failure !== null) throw this.#failure
    this.#sha512.update(chunk)
    if (this.#md5 !== null) {
      this.#md5.update(chunk)
      return undefined
    }
    return this.#queue(chunk)
  }

  #queue(chunk: Buffer): Promise<void> | undefined {
    let offset = 0
    while (offset < chunk.length) {
      this.#batch ??= Buffer.allocUnsafeSlow(batchSize)
      const copied = chunk.copy(this.#batch, this.#batchLength, offset)
      this.#batchLength += copied
      offset += copied
      if (this.#batchLength === batchSize) this.#post()
    }
    return this.#inFlight >= maxBatchesInFlight ? this.#waitForWorker() : undefined
  }

  #post(): void {
    if (this.#batch === null || this.#batchLength === 0) return
    const view = new Uint8Array(this.#batch.buffer, 0, this.#batchLength)
    // The batch's memory moves to the worker without a copy; a new one is allocated next time.
    this.#worker!.postMessage(view, [view.buffer as ArrayBuffer])
    this.#inFlight++
    this.#batch = null
    this.#batchLength = 0
  }

  #waitForWorker(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#drained = () => {
        if (this.#failure !== null) reject(this.#failure)
        else if (this.#inFlight < maxBatchesInFlight) {
          this.#drained = null
          resolve()
        }
      }
    })
  }

  /** Finishes both hashes. The hasher cannot be used afterwards. */
  async digest(): Promise<ImageDigests> {
    const sha512 = this.#sha512.digest('hex')
    if (this.#md5 !== null) return { md5: this.#md5.digest('hex'), sha512 }

    const worker = this.#worker!
    try {
      this.#post()
      worker.postMessage('digest')
      for (;;) {
        const [message] = (await once(worker, 'message')) as [{ digest?: string }]
        if (message.digest !== undefined) return { md5: message.digest, sha512 }
      }
    } finally {
      await worker.terminate()
    }
  }

  /** Releases the worker of an upload that failed. */
  dispose(): void {
    void this.#worker?.terminate()
  }
}

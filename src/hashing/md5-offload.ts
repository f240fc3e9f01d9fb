import { Worker } from 'node:worker_threads'

export type WorkerRequest =
  | { type: 'open'; session: number; buffer: SharedArrayBuffer; slotSize: number }
  | { type: 'update'; session: number; slot: number; length: number }
  | { type: 'digest'; session: number }
  | { type: 'close'; session: number }

export type WorkerReply =
  { type: 'ack'; session: number; slot: number } | { type: 'digest'; session: number; md5: string }

export interface OffloadListener {
  onAck(slot: number): void
  onDigest(md5: string): void
  onError(error: Error): void
}

/**
 * The one MD5 worker thread of the process, shared by every upload. It is started on first use
 * and keeps the process alive only while a session is open.
 */
class Md5Offload {
  #worker: Worker | null = null
  #nextSession = 1
  readonly #listeners = new Map<number, OffloadListener>()

  open(buffer: SharedArrayBuffer, slotSize: number, listener: OffloadListener): number {
    const session = this.#nextSession++
    this.#listeners.set(session, listener)
    const worker = this.#start()
    worker.ref()
    worker.postMessage({ type: 'open', session, buffer, slotSize } satisfies WorkerRequest)
    return session
  }

  send(request: WorkerRequest): void {
    this.#worker?.postMessage(request)
  }

  close(session: number): void {
    this.send({ type: 'close', session })
    this.#forget(session)
  }

  #forget(session: number): void {
    this.#listeners.delete(session)
    if (this.#listeners.size === 0) this.#worker?.unref()
  }

  #start(): Worker {
    if (this.#worker !== null) return this.#worker
    const worker = new Worker(new URL('./md5-worker.js', import.meta.url))
    worker.on('message', (message: WorkerReply) => this.#dispatch(message))
    worker.on('error', (error) => this.#fail(error))
    worker.on('exit', (code) => this.#fail(new Error(`md5 worker exited with code ${code}`)))
    this.#worker = worker
    return worker
  }

  #dispatch(message: WorkerReply): void {
    const listener = this.#listeners.get(message.session)
    if (listener === undefined) return
    if (message.type === 'ack') {
      listener.onAck(message.slot)
    } else {
      this.#forget(message.session)
      listener.onDigest(message.md5)
    }
  }

  /** Fails every open session; the next one starts a new worker. */
  #fail(error: Error): void {
    this.#worker = null
    const listeners = [...this.#listeners.values()]
    this.#listeners.clear()
    for (const listener of listeners) listener.onError(error)
  }
}

export const md5Offload = new Md5Offload()

import { createHash, type Hash } from 'node:crypto'
import { parentPort } from 'node:worker_threads'
import type { WorkerReply, WorkerRequest } from './md5-offload.js'

/**
 * Computes MD5 for many hashing sessions at once, each reading its data from slots of a shared
 * buffer that the main thread fills. Each slot is acknowledged once hashed, so that the main
 * thread can fill it again.
 */
const port = parentPort
if (port === null) throw new Error('md5-worker must run as a worker thread')

const sessions = new Map<number, { md5: Hash; slots: Uint8Array; slotSize: number }>()

function reply(message: WorkerReply): void {
  port!.postMessage(message)
}

port.on('message', (request: WorkerRequest) => {
  switch (request.type) {
    case 'open':
      sessions.set(request.session, {
        md5: createHash('md5'),
        slots: new Uint8Array(request.buffer),
        slotSize: request.slotSize,
      })
      return
    case 'update': {
      const session = sessions.get(request.session)
      if (session === undefined) return
      const start = request.slot * session.slotSize
      session.md5.update(session.slots.subarray(start, start + request.length))
      reply({ type: 'ack', session: request.session, slot: request.slot })
      return
    }
    case 'digest': {
      const session = sessions.get(request.session)
      sessions.delete(request.session)
      reply({ type: 'digest', session: request.session, md5: session?.md5.digest('hex') ?? '' })
      return
    }
    case 'close':
      sessions.delete(request.session)
      return
  }
})

import { createHash } from 'node:crypto'
import { parentPort } from 'node:worker_threads'

/**
 * Hashes batches posted by `ImageHasher` with MD5 on its own thread, so that the upload's
 * SHA-512 and MD5 run on two cores. Each batch is acknowledged so the sender can bound how
 * much data is in flight.
 */
const port = parentPort
if (port === null) throw new Error('md5-worker must run as a worker thread')

const md5 = createHash('md5')
port.on('message', (message: Uint8Array | 'digest') => {
  if (message === 'digest') {
    port.postMessage({ digest: md5.digest('hex') })
    return
  }
  md5.update(message)
  port.postMessage({ ack: message.byteLength })
})

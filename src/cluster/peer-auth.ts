import { createHmac, timingSafeEqual } from 'node:crypto'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'

/** The header that carries a host's signature on a call to another host. */
export const peerHeader = 'x-image-library-peer'

/** Signatures older or newer than this are rejected, which bounds replays. */
const maxSkewMs = 5 * 60 * 1000

function mac(secret: string, host: string, time: number, method: string, path: string): string {
  return createHmac('sha256', secret).update(`${host}\n${time}\n${method}\n${path}`).digest('hex')
}

/** Returns the header value that authenticates `host` calling `method path` now. */
export function signPeerCall(
  secret: string,
  host: string,
  method: string,
  path: string,
  now = Date.now(),
): string {
  return `${host};${now};${mac(secret, host, now, method, path)}`
}

/**
 * Checks a peer header. Returns the calling host's name, or `null` when the header is missing,
 * malformed, too old or not signed with the shared secret.
 */
export function verifyPeerCall(
  secret: string,
  header: string | undefined,
  method: string,
  path: string,
  now = Date.now(),
): string | null {
  const parts = header?.split(';')
  if (parts?.length !== 3) return null
  const [host, timeText, signature] = parts as [string, string, string]
  const time = Number(timeText)
  if (!Number.isSafeInteger(time) || Math.abs(now - time) > maxSkewMs) return null
  const expected = Buffer.from(mac(secret, host, time, method, path), 'hex')
  const given = Buffer.from(signature, 'hex')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null
  return host
}

/** Who signs a peer call, and the CA that the peer's certificate chains to. */
export interface PeerCaller {
  secret: string
  name: string
  ca: Buffer | null
}

/**
 * Sends a signed call to another host and resolves with the response, its body unread. A
 * connection idle for `timeoutMs` fails.
 */
export function sendPeerCall(
  caller: PeerCaller,
  host: { name: string; imageUrl: string },
  method: string,
  path: string,
  timeoutMs: number,
): Promise<IncomingMessage> {
  const url = new URL(path, host.imageUrl)
  const options = {
    method,
    headers: { [peerHeader]: signPeerCall(caller.secret, caller.name, method, path) },
    timeout: timeoutMs,
    ...(caller.ca === null ? {} : { ca: caller.ca }),
  }
  return new Promise((resolve, reject) => {
    const request =
      url.protocol === 'https:' ? httpsRequest(url, options) : httpRequest(url, options)
    request.on('response', resolve)
    request.on('timeout', () => request.destroy(new Error(`host ${host.name} timed out`)))
    request.on('error', reject)
    request.end()
  })
}

import assert from 'node:assert/strict'
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { Readable } from 'node:stream'
import { describe, it } from 'node:test'
import { CliError } from './errors.js'
import { ImageClient } from './image-client.js'
import type { Session } from './session.js'

/** Returns an ImageClient whose session sends every request the same response. */
function clientAnswering(status: number, headers: IncomingHttpHeaders): ImageClient {
  const session = {
    imageEndpoint: 'https://library.test:9292',
    send: async () => ({
      status,
      headers,
      body: Readable.from([Buffer.from('data')]) as unknown as IncomingMessage,
    }),
  }
  return new ImageClient(session as unknown as Session)
}

const imageId = '11111111-1111-4111-8111-111111111111'

describe('ImageClient.downloadImageData with an offset', () => {
  it('accepts a range from the offset', async () => {
    const client = clientAnswering(206, { 'content-range': 'bytes 100-199/200' })
    const response = await client.downloadImageData(imageId, 100)
    assert.equal(response?.status, 206)
  })

  it('rejects a range from another offset', async () => {
    const client = clientAnswering(206, { 'content-range': 'bytes 0-199/200' })
    await assert.rejects(client.downloadImageData(imageId, 100), (error: unknown) => {
      assert.ok(error instanceof CliError, String(error))
      assert.match(
        error.message,
        /Content-Range "bytes 0-199\/200" for a range request from byte 100/,
      )
      return true
    })
  })

  it('rejects a 206 without Content-Range', async () => {
    const client = clientAnswering(206, {})
    await assert.rejects(client.downloadImageData(imageId, 100), /Content-Range null/)
  })
})

import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ServiceError } from '../../domain/errors.js'
import type { ImageService } from '../../domain/image-service.js'
import { peerHeader, verifyPeerCall } from '../../cluster/peer-auth.js'
import { peerDataPath, replicationRunPath } from '../../cluster/replicator.js'

type IdParams = { Params: { id: string } }

/**
 * Registers the calls between hosts of one library, signed with the secret they share in the
 * database instead of a token: a host copies an image from a peer that has it, requests that
 * peers delete their copies of a deleted image, and an admin starts a replication round.
 */
export function registerPeerRoutes(
  app: FastifyInstance,
  images: ImageService,
  secret: () => Promise<string>,
  replicate: () => Promise<number>,
): void {
  const authenticate = async (request: FastifyRequest, path: string) => {
    const header = request.headers[peerHeader]
    const host = verifyPeerCall(
      await secret(),
      typeof header === 'string' ? header : undefined,
      request.method,
      path,
    )
    if (host === null) {
      request.log.warn({ op: 'peer-call' }, 'peer call with an invalid signature')
      throw new ServiceError('UNAUTHORIZED', 'This call is for image library hosts only.')
    }
    return host
  }

  app.get<IdParams>('/internal/v1/images/:id/data', async (request, reply) => {
    await authenticate(request, peerDataPath(request.params.id))
    const { stream, size } = await images.openLocalCopy(request.params.id)
    request.bytesOut = size
    reply.header('content-type', 'application/octet-stream').header('content-length', size)
    return reply.send(stream)
  })

  app.delete<IdParams>('/internal/v1/images/:id/data', async (request, reply) => {
    await authenticate(request, peerDataPath(request.params.id))
    await images.dropLocalCopies(request.params.id)
    reply.status(204).send()
  })

  app.post(replicationRunPath, async (request) => {
    await authenticate(request, replicationRunPath)
    return { copied: await replicate() }
  })
}

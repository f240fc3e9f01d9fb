import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ForbiddenError, InvalidInputError } from '../../domain/errors.js'
import type { ImageService } from '../../domain/image-service.js'
import { clearTargets, type ImageCache } from '../../cache/image-cache.js'
import type { CacheAgentRegistry } from '../../cache/cache-agent-registry.js'
import { queueOnAgents } from './cache-agents.js'
import { authOf } from './images.js'

type IdParams = { Params: { id: string } }
type QueueRequest = IdParams & { Querystring: { agents?: string | string[] } }

function requireAdmin(request: FastifyRequest): void {
  if (!authOf(request).isAdmin) {
    throw new ForbiddenError('The image cache API requires the admin role.')
  }
}

/**
 * Glance's cache API (`/v2/cache`, since Image API 2.14), for admins only. With an `agents`
 * parameter, `PUT /v2/cache/{image_id}` queues the image on hypervisor cache agents instead of
 * this host's cache.
 */
export function registerCacheRoutes(
  app: FastifyInstance,
  images: ImageService,
  cache: ImageCache,
  agents: CacheAgentRegistry,
): void {
  app.get('/v2/cache', async (request) => {
    requireAdmin(request)
    const listing = cache.list()
    return {
      cached_images: listing.cached.map((entry) => ({
        image_id: entry.imageId,
        hits: entry.hits,
        last_accessed: entry.lastAccessed / 1000,
        last_modified: entry.lastModified / 1000,
        size: entry.size,
      })),
      queued_images: listing.queued,
    }
  })

  app.put<QueueRequest>('/v2/cache/:id', async (request, reply) => {
    requireAdmin(request)
    const selection = request.query.agents
    if (selection !== undefined) {
      await queueOnAgents(request, reply, selection, images, agents)
      return
    }
    cache.queue(await images.get(authOf(request), request.params.id))
    reply.status(202).send()
  })

  app.delete<IdParams>('/v2/cache/:id', async (request, reply) => {
    requireAdmin(request)
    await cache.evict(request.params.id)
    reply.status(204).send()
  })

  app.delete('/v2/cache', async (request, reply) => {
    requireAdmin(request)
    const header = request.headers['x-image-cache-clear-target']
    if (header !== undefined && !(clearTargets as readonly unknown[]).includes(header)) {
      throw new InvalidInputError(
        `x-image-cache-clear-target must be cache or queue (or absent for both), got ${String(header)}.`,
      )
    }
    await cache.clear((header as (typeof clearTargets)[number] | undefined) ?? null)
    reply.status(204).send()
  })
}

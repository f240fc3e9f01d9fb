import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { CacheAgentRegistry } from '../../cache/cache-agent-registry.js'
import { ForbiddenError } from '../../domain/errors.js'
import type { ImageService } from '../../domain/image-service.js'
import { cacheAgentToWire, parseAgentReport, parseAgentSelection } from '../wire/cache-agent.js'
import { authOf, jsonBody } from './images.js'

type NameParams = { Params: { name: string } }

/**
 * The largest report body, in bytes. A report of 100000 cached images takes about 15 MB as
 * compact JSON, at some 150 bytes per entry, and indented JSON takes more.
 */
const reportBodyLimit = 32 * 1024 * 1024

/**
 * Routes of `/v2/cache/agents`, where the hypervisors' cache agents report their caches and
 * admins read them. Every call requires the admin role; agents use an admin service account.
 */
export function registerCacheAgentRoutes(app: FastifyInstance, agents: CacheAgentRegistry): void {
  // NOTE: the list carries every cached image of every agent, some 130 bytes of JSON each, so
  // 100 agents with 10000 images each make a response of about 130 MB, and pcdctl reads at
  // most 64 MiB. A summary form without the image lists would close this gap.
  app.get('/v2/cache/agents', async (request) => {
    requireAdmin(request)
    return { agents: (await agents.list()).map(cacheAgentToWire) }
  })

  app.get<NameParams>('/v2/cache/agents/:name', async (request) => {
    requireAdmin(request)
    return cacheAgentToWire(await agents.get(request.params.name))
  })

  app.put<NameParams>('/v2/cache/agents/:name', { bodyLimit: reportBodyLimit }, async (request) => {
    requireAdmin(request)
    const report = parseAgentReport(jsonBody(request))
    return { queued_images: await agents.report(request.params.name, report) }
  })

  app.delete<NameParams>('/v2/cache/agents/:name', async (request, reply) => {
    requireAdmin(request)
    await agents.remove(request.params.name)
    reply.status(204).send()
  })
}

/**
 * Handles `PUT /v2/cache/{image_id}?agents=…`: queues the image for pre-caching on all agents
 * or the named ones, and responds with 202 and the names of those agents.
 */
export async function queueOnAgents(
  request: FastifyRequest<{ Params: { id: string } }>,
  reply: FastifyReply,
  selectionParameter: string | string[],
  images: ImageService,
  agents: CacheAgentRegistry,
): Promise<void> {
  const selection = parseAgentSelection(selectionParameter)
  const image = await images.get(authOf(request), request.params.id)
  const queuedOn = await agents.queue(image, selection)
  reply.status(202).send({ queued_on: queuedOn })
}

function requireAdmin(request: FastifyRequest): void {
  if (!authOf(request).isAdmin) {
    throw new ForbiddenError('The cache agent API requires the admin role.')
  }
}

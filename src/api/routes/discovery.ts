import type { FastifyInstance } from 'fastify'
import {
  imageSchema,
  imagesSchema,
  memberSchema,
  membersSchema,
  taskSchema,
  tasksSchema,
} from '../wire/schemas.js'
import { acceptsHtml, uiPrefix } from './ui.js'

/** The versions Glance advertises; the newest we implement is CURRENT, the rest SUPPORTED. */
const versions = [
  ['v2.17', 'CURRENT'],
  ['v2.16', 'SUPPORTED'],
  ['v2.15', 'SUPPORTED'],
  ['v2.14', 'SUPPORTED'],
  ['v2.13', 'SUPPORTED'],
  ['v2.12', 'SUPPORTED'],
  ['v2.11', 'SUPPORTED'],
  ['v2.10', 'SUPPORTED'],
  ['v2.9', 'SUPPORTED'],
  ['v2.8', 'SUPPORTED'],
  ['v2.7', 'SUPPORTED'],
  ['v2.6', 'SUPPORTED'],
  ['v2.5', 'SUPPORTED'],
  ['v2.4', 'SUPPORTED'],
  ['v2.3', 'SUPPORTED'],
  ['v2.2', 'SUPPORTED'],
  ['v2.1', 'SUPPORTED'],
  ['v2.0', 'SUPPORTED'],
] as const

function versionsDocument(baseUrl: string) {
  return {
    versions: versions.map(([id, status]) => ({
      id,
      status,
      links: [{ rel: 'self', href: `${baseUrl}/v2/` }],
    })),
  }
}

/** The versions document (no token needed), the JSON schemas, and `/` for browsers. */
export function registerDiscoveryRoutes(app: FastifyInstance, baseUrl: () => string): void {
  // Glance returns 300 Multiple Choices for the bare root, and 200 for /versions. A browser's
  // navigation, which requests HTML by name, is redirected to the web UI instead.
  app.get('/', async (request, reply) => {
    if (acceptsHtml(request.headers.accept)) return reply.redirect(uiPrefix, 303)
    reply.status(300)
    return versionsDocument(baseUrl())
  })
  app.get('/versions', async () => versionsDocument(baseUrl()))
  app.get('/v2', async (_request, reply) => {
    reply.status(300)
    return versionsDocument(baseUrl())
  })

  app.get('/v2/schemas/image', async () => imageSchema)
  app.get('/v2/schemas/images', async () => imagesSchema)
  app.get('/v2/schemas/member', async () => memberSchema)
  app.get('/v2/schemas/task', async () => taskSchema)
  app.get('/v2/schemas/tasks', async () => tasksSchema)
  app.get('/v2/schemas/members', async () => membersSchema)
}

import type { FastifyInstance } from 'fastify'
import { InvalidInputError } from '../../domain/errors.js'
import type { ImportTask } from '../../domain/ports.js'
import type { ImportService } from '../../imports/import-service.js'
import { wireTime } from '../wire/image.js'
import {
  authOf,
  jsonBody,
  registerRawBodyRoutes,
  requireOctetStream,
  storeHeaderOf,
} from './images.js'

type IdParams = { Params: { id: string } }

/** The interoperable import calls: stage, import, and the image's tasks. */
export function registerImportRoutes(app: FastifyInstance, imports: ImportService): void {
  // Staged data arrives like an upload, with the body left unread.
  registerRawBodyRoutes(app, (scope) => {
    scope.put<IdParams>('/v2/images/:id/stage', async (request, reply) => {
      requireOctetStream(request, 'staged data')
      const length = request.headers['content-length']
      const expectedSize = length === undefined ? null : Number(length)
      await imports.stage(authOf(request), request.params.id, request.raw, expectedSize)
      reply.status(204).send()
    })
  })

  app.post<IdParams>('/v2/images/:id/import', async (request, reply) => {
    const body = jsonBody(request)
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new InvalidInputError('The import request must be a JSON object with a method.')
    }
    const ctx = authOf(request)
    const importRequest = body as Record<string, unknown>
    await imports.start(ctx, request.params.id, importRequest, request.id, storeHeaderOf(request))
    reply.status(202).send({})
  })

  app.get('/v2/tasks', async (request) => {
    const found = await imports.listTasks(authOf(request))
    return { tasks: found.map(taskToWire), first: '/v2/tasks', schema: '/v2/schemas/tasks' }
  })

  app.get<{ Params: { taskId: string } }>('/v2/tasks/:taskId', async (request) =>
    taskToWire(await imports.getTask(authOf(request), request.params.taskId)),
  )

  app.get<IdParams>('/v2/images/:id/tasks', async (request) => {
    const tasks = await imports.tasksOf(authOf(request), request.params.id)
    return { tasks: tasks.map(taskToWire) }
  })
}

export function taskToWire(task: ImportTask): Record<string, unknown> {
  return {
    id: task.id,
    type: 'api_image_import',
    status: task.status,
    owner: task.owner,
    input: task.input,
    result: task.result,
    message: task.message,
    image_id: task.imageId,
    request_id: task.requestId,
    user_id: task.userId,
    created_at: wireTime(task.createdAt),
    updated_at: wireTime(task.updatedAt),
    expires_at: null,
    self: `/v2/tasks/${task.id}`,
    schema: '/v2/schemas/task',
  }
}

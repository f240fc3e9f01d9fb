import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { InvalidInputError } from '../../domain/errors.js'
import type { ImageService } from '../../domain/image-service.js'
import { memberToWire } from '../wire/image.js'
import { authOf, jsonBody } from './images.js'

type MemberParams = { Params: { id: string; member: string } }
type TagParams = { Params: { id: string; tag: string } }
type IdParams = { Params: { id: string } }

/** Routes of image members and tags. */
export function registerMemberRoutes(app: FastifyInstance, images: ImageService): void {
  app.post<IdParams>('/v2/images/:id/members', async (request, reply) => {
    const body = objectBody(request)
    const member = await images.addMember(authOf(request), request.params.id, body.member)
    reply.status(200)
    return memberToWire(member)
  })

  app.get<IdParams>('/v2/images/:id/members', async (request) => {
    const members = await images.listMembers(authOf(request), request.params.id)
    return { members: members.map(memberToWire), schema: '/v2/schemas/members' }
  })

  app.get<MemberParams>('/v2/images/:id/members/:member', async (request) => {
    const { id, member } = request.params
    return memberToWire(await images.getMember(authOf(request), id, member))
  })

  app.put<MemberParams>('/v2/images/:id/members/:member', async (request) => {
    const { id, member } = request.params
    const body = objectBody(request)
    return memberToWire(await images.updateMember(authOf(request), id, member, body.status))
  })

  app.delete<MemberParams>('/v2/images/:id/members/:member', async (request, reply) => {
    await images.deleteMember(authOf(request), request.params.id, request.params.member)
    reply.status(204).send()
  })

  app.put<TagParams>('/v2/images/:id/tags/:tag', async (request, reply: FastifyReply) => {
    await images.addTag(authOf(request), request.params.id, request.params.tag)
    reply.status(204).send()
  })

  app.delete<TagParams>('/v2/images/:id/tags/:tag', async (request, reply: FastifyReply) => {
    await images.deleteTag(authOf(request), request.params.id, request.params.tag)
    reply.status(204).send()
  })
}

function objectBody(request: FastifyRequest): Record<string, unknown> {
  const body = jsonBody(request)
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidInputError('The request body must be a JSON object.')
  }
  return body as Record<string, unknown>
}

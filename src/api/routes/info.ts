import type { FastifyInstance } from 'fastify'
import { ForbiddenError } from '../../domain/errors.js'
import type { ImageService } from '../../domain/image-service.js'
import type { ImportService } from '../../imports/import-service.js'
import type { HostView } from '../../cluster/host-registry.js'
import { hostToWire } from '../wire/host.js'
import { authOf } from './images.js'

/** The discovery calls under `/v2/info`: import methods, stores and the caller's usage. */
export function registerInfoRoutes(
  app: FastifyInstance,
  images: ImageService,
  imports: ImportService,
  hosts: () => Promise<HostView[]>,
): void {
  app.get('/v2/info/import', async () => ({
    'import-methods': {
      description: 'Import methods available.',
      type: 'array',
      value: [...imports.methods],
    },
  }))

  app.get('/v2/info/stores', async () => ({
    stores: images.stores.list().map((store) => ({
      id: store.id,
      description: store.description,
      ...(store.isDefault ? { default: true } : {}),
      ...(store.readOnly ? { 'read-only': 'true' } : {}),
    })),
  }))

  app.get('/v2/info/stores/detail', async (request) => {
    if (!authOf(request).isAdmin) {
      throw new ForbiddenError('Listing store details requires the admin role.')
    }
    return {
      stores: images.stores.list().map((store) => ({
        id: store.id,
        type: store.type,
        description: store.description,
        default: store.isDefault,
        weight: store.weight,
        properties: {},
        ...(store.readOnly ? { 'read-only': 'true' } : {}),
      })),
    }
  })

  app.get('/v2/info/hosts', async (request) => {
    if (!authOf(request).isAdmin) {
      throw new ForbiddenError('Listing the image library hosts requires the admin role.')
    }
    return { hosts: (await hosts()).map(hostToWire) }
  })

  app.get('/v2/info/usage', async (request) => {
    const usage = await images.usage(authOf(request))
    const limits = images.quotas.limits
    return {
      usage: {
        image_size_total: { limit: limits.imageSizeTotal, usage: usage.sizeTotal },
        image_count_total: { limit: limits.imageCountTotal, usage: usage.countTotal },
        image_stage_total: { limit: limits.imageStageTotal, usage: usage.stageTotal },
        image_count_uploading: { limit: limits.imageCountUploading, usage: usage.countUploading },
      },
    }
  })
}

import type { FastifyInstance } from 'fastify'
import { ForbiddenError } from '../../domain/errors.js'
import type { ImageService } from '../../domain/image-service.js'
import { importMethods } from '../../imports/import-service.js'
import { authOf } from './images.js'

/** Unified limits' value for "no limit". */
const unlimited = -1

/** The discovery calls under `/v2/info`: import methods, stores and the caller's usage. */
export function registerInfoRoutes(app: FastifyInstance, images: ImageService): void {
  app.get('/v2/info/import', async () => ({
    'import-methods': {
      description: 'Import methods available.',
      type: 'array',
      value: [...importMethods],
    },
  }))

  app.get('/v2/info/stores', async () => ({
    stores: [{ id: images.storeName, description: 'Image data directory', default: true }],
  }))

  app.get('/v2/info/stores/detail', async (request) => {
    if (!authOf(request).isAdmin) {
      throw new ForbiddenError('Listing store details requires the admin role.')
    }
    return {
      stores: [
        {
          id: images.storeName,
          type: images.storeName,
          description: 'Image data directory',
          default: true,
          properties: {},
        },
      ],
    }
  })

  app.get('/v2/info/usage', async (request) => {
    const usage = await images.usage(authOf(request))
    return {
      usage: {
        image_size_total: { limit: unlimited, usage: usage.sizeTotal },
        image_count_total: { limit: unlimited, usage: usage.countTotal },
        image_stage_total: { limit: unlimited, usage: 0 },
        image_count_uploading: { limit: unlimited, usage: usage.countUploading },
      },
    }
  })
}

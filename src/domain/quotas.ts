import { ServiceError } from './errors.js'
import type { ImageRepository, ProjectUsage } from './ports.js'

/** Per-project limits; -1 means unlimited. */
export interface QuotaLimits {
  imageCountTotal: number
  imageSizeTotal: number
  imageStageTotal: number
  imageCountUploading: number
}

export const unlimited = -1

/**
 * Checks requests against the owning project's quotas before any data moves. For an upload of
 * unknown size it returns the bytes the project may still bring, so that the stream stops there.
 * NOTE: nothing reserves bytes, so concurrent uploads each check against the same usage and
 * together may pass image_size_total by up to their combined size; image_count_uploading bounds
 * how many run at once.
 */
export class Quotas {
  readonly #repo: ImageRepository
  readonly #limits: QuotaLimits

  constructor(repo: ImageRepository, limits: QuotaLimits) {
    this.#repo = repo
    this.#limits = Object.freeze({ ...limits })
  }

  get limits(): QuotaLimits {
    return this.#limits
  }

  usage(projectId: string): Promise<ProjectUsage> {
    return this.#repo.usage(projectId)
  }

  async checkCreate(projectId: string): Promise<void> {
    const limit = this.#limits.imageCountTotal
    if (limit === unlimited) return
    const { countTotal } = await this.usage(projectId)
    if (countTotal >= limit) {
      throw quotaError(
        'image_count_total',
        `the project has ${countTotal} of its ${limit} images; delete images first`,
      )
    }
  }

  /**
   * Checks an upload (`store`) or a stage (`stage`) of `expectedSize` bytes, `null` when
   * unknown. Returns how many more bytes the project may bring; `Infinity` when unlimited.
   * `newUpload` counts the request against image_count_uploading; an import of data that
   * was staged is already counted.
   */
  async checkData(
    projectId: string,
    expectedSize: number | null,
    target: 'store' | 'stage',
    newUpload = true,
  ): Promise<number> {
    const usage = await this.usage(projectId)
    const uploading = this.#limits.imageCountUploading
    if (newUpload && uploading !== unlimited && usage.countUploading >= uploading) {
      throw quotaError(
        'image_count_uploading',
        `the project already has ${usage.countUploading} uploads or imports running, its limit; wait for one to finish`,
      )
    }
    const [name, limit, used] =
      target === 'store'
        ? (['image_size_total', this.#limits.imageSizeTotal, usage.sizeTotal] as const)
        : (['image_stage_total', this.#limits.imageStageTotal, usage.stageTotal] as const)
    if (limit === unlimited) return Number.POSITIVE_INFINITY
    const left = Math.max(0, limit - used)
    if (left === 0 || (expectedSize !== null && expectedSize > left)) {
      throw quotaError(
        name,
        `the project uses ${used} of its ${limit} bytes, and ${expectedSize ?? 'more'} more would not fit; delete images first`,
      )
    }
    return left
  }
}

/** Builds the 413 for a quota that a request would exceed; the message names the quota. */
export function quotaError(quota: string, reason: string): ServiceError {
  return new ServiceError(
    'QUOTA_EXCEEDED',
    `Quota ${quota} exceeded: ${reason}, or ask an operator to raise the limit.`,
  )
}

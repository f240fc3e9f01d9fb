import { ForbiddenError, NotFoundError } from './errors.js'
import type { Image, ImageMember } from './image.js'
import type { AuthContext } from './ports.js'

export interface PolicyConfig {
  /** Roles that may set `visibility` to `public`; Glance's default allows admins only. */
  publicizeRoles: readonly string[]
}

/**
 * Who may see and change what. The rules follow Glance's defaults: owners and admins change
 * images; members only see shared images and accept or reject their own membership; an image that the
 * caller may not see is reported as missing, never as forbidden.
 */
export class ImagePolicy {
  readonly #config: PolicyConfig

  constructor(config: PolicyConfig) {
    this.#config = Object.freeze({ ...config, publicizeRoles: [...config.publicizeRoles] })
  }

  isOwner(ctx: AuthContext, image: Image): boolean {
    return image.owner !== null && image.owner === ctx.projectId
  }

  /** True when the caller may read the image; `member` is the caller's membership, if any. */
  canSee(ctx: AuthContext, image: Image, member: ImageMember | null): boolean {
    if (ctx.isAdmin || this.isOwner(ctx, image)) return true
    switch (image.visibility) {
      case 'public':
      case 'community':
        return true
      case 'shared':
        return member !== null
      case 'private':
        return false
    }
  }

  /** Throws the 404 a caller gets for an image it may not see. */
  notFound(id: string): NotFoundError {
    return new NotFoundError(`No image found with ID ${id}`, 'IMAGE_NOT_FOUND')
  }

  /** Requires a role that may write; `reader` alone may only read. */
  requireWriter(ctx: AuthContext): void {
    if (!ctx.isAdmin && !ctx.roles.includes('member')) {
      throw new ForbiddenError(
        'You are not authorized to complete this action: it needs the member or admin role on the project.',
      )
    }
  }

  /** Requires the caller to own the image, or to be an admin. */
  requireOwner(ctx: AuthContext, image: Image, action: string): void {
    this.requireWriter(ctx)
    if (!ctx.isAdmin && !this.isOwner(ctx, image)) {
      throw new ForbiddenError(
        `You are not permitted to ${action} image ${image.id}: only its owner or an admin may.`,
      )
    }
  }

  requirePublicize(ctx: AuthContext): void {
    if (!ctx.roles.some((role) => this.#config.publicizeRoles.includes(role))) {
      throw new ForbiddenError(
        `You are not authorized to complete publicize_image action: it needs one of the roles ${this.#config.publicizeRoles.join(', ')}.`,
      )
    }
  }
}

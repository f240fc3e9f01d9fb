import type { Image, ImageMember } from '../../domain/image.js'

/** Glance prints timestamps to the second, with a `Z`. */
export function wireTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** The image as Glance shows it: base fields (null when unset), then the free-form properties. */
export function imageToWire(image: Image): Record<string, unknown> {
  return {
    ...image.properties,
    id: image.id,
    name: image.name,
    status: image.status,
    visibility: image.visibility,
    protected: image.protected,
    os_hidden: image.osHidden,
    checksum: image.checksum,
    os_hash_algo: image.osHashAlgo,
    os_hash_value: image.osHashValue,
    size: image.size,
    virtual_size: image.virtualSize,
    disk_format: image.diskFormat,
    container_format: image.containerFormat,
    min_disk: image.minDisk,
    min_ram: image.minRam,
    owner: image.owner,
    created_at: wireTime(image.createdAt),
    updated_at: wireTime(image.updatedAt),
    tags: image.tags,
    self: `/v2/images/${image.id}`,
    file: `/v2/images/${image.id}/file`,
    schema: '/v2/schemas/image',
    // Glance lists the stores that hold the data, comma-separated, once there is data.
    ...(image.location === null ? {} : { stores: image.location.store }),
  }
}

export function memberToWire(member: ImageMember): Record<string, unknown> {
  return {
    image_id: member.imageId,
    member_id: member.memberId,
    status: member.status,
    created_at: wireTime(member.createdAt),
    updated_at: wireTime(member.updatedAt),
    schema: '/v2/schemas/member',
  }
}

import type { Image, ImageLocation, ImageMember } from '../../domain/image.js'
import { storeIds } from '../../domain/image-service.js'

/** Whether and how an image shows where its data lives; both are off by default. */
export interface LocationView {
  /** Glance's `show_multiple_locations`: every location, with its URL and metadata. */
  showLocations: boolean
  /** Glance's `show_image_direct_url`: the first location's URL as `direct_url`. */
  showDirectUrl: boolean
  urlOf(location: ImageLocation): string
}

export const hiddenLocations: LocationView = {
  showLocations: false,
  showDirectUrl: false,
  urlOf: () => '',
}

/** Glance prints timestamps to the second, with a `Z`. */
export function wireTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** The image as Glance shows it: base fields (null when unset), then the free-form properties. */
export function imageToWire(
  image: Image,
  view: LocationView = hiddenLocations,
): Record<string, unknown> {
  const first = image.locations[0]
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
    ...(image.locations.length === 0 ? {} : { stores: storeIds(image) }),
    ...(view.showLocations
      ? { locations: image.locations.map((l) => locationToWire(l, view)) }
      : {}),
    ...(view.showDirectUrl && first !== undefined ? { direct_url: view.urlOf(first) } : {}),
  }
}

export function locationToWire(location: ImageLocation, view: LocationView) {
  return { url: view.urlOf(location), metadata: location.metadata }
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

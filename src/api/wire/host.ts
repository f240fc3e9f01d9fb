import type { HostView } from '../../cluster/host-registry.js'
import { wireTime } from './image.js'

/** Converts a host to its `/v2/info/hosts` form, in snake_case like the rest of the API. */
export function hostToWire(host: HostView): Record<string, unknown> {
  return {
    name: host.name,
    status: host.status,
    version: host.version,
    image_url: host.imageUrl,
    identity_url: host.identityUrl,
    started_at: wireTime(host.startedAt),
    last_heartbeat: wireTime(host.lastHeartbeat),
    stopped_at: host.stoppedAt === null ? null : wireTime(host.stoppedAt),
    stores: host.stores.map((store) => ({
      id: store.id,
      total_bytes: store.totalBytes,
      free_bytes: store.freeBytes,
    })),
  }
}

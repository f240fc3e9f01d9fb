import type { WireImage, PatchOperation } from '../lib/image-fields.js'
import { ApiError, sendJson } from './http.js'

export interface ImageMember {
  image_id: string
  member_id: string
  status: 'pending' | 'accepted' | 'rejected'
  created_at: string
  updated_at: string
}

export interface HostStore {
  id: string
  total_bytes: number
  free_bytes: number
}

export interface Host {
  name: string
  status: string
  version: string
  image_url: string
  started_at: string
  last_heartbeat: string
  stopped_at: string | null
  stores: HostStore[]
}

export interface CacheAgent {
  name: string
  status: 'up' | 'stale'
  version: string
  reported_at: string
  report_interval: number
  cache: { max_bytes: number; used_bytes: number; free_disk_bytes: number }
  stats: { hits: number; misses: number; bytes_fetched: number; evictions: number }
  cached_images: {
    image_id: string
    size: number
    hits: number
    last_used: string
    pinned: boolean
  }[]
  queued_images: string[]
  failed_images: { image_id: string; reason: string }[]
}

export const patchMediaType = 'application/openstack-images-v2.1-json-patch'

/** The image API calls of the UI, all with the session's token. */
export class ImageApi {
  readonly #token: string

  constructor(token: string) {
    this.#token = token
  }

  #json<T>(method: string, path: string, body?: unknown, contentType?: string) {
    return sendJson<T>(method, path, {
      token: this.#token,
      ...(body === undefined ? {} : { body }),
      ...(contentType === undefined ? {} : { contentType }),
    })
  }

  /** Lists one page; `next` is the API's link to the following page, if there is one. */
  async listImages(query: string): Promise<{ images: WireImage[]; next: string | null }> {
    const body = await this.#json<{ images: WireImage[]; next?: string }>(
      'GET',
      `/v2/images?${query}`,
    )
    return { images: body?.images ?? [], next: body?.next ?? null }
  }

  async getImage(id: string): Promise<WireImage> {
    return (await this.#json<WireImage>('GET', `/v2/images/${encodeURIComponent(id)}`))!
  }

  async createImage(fields: Record<string, unknown>): Promise<WireImage> {
    return (await this.#json<WireImage>('POST', '/v2/images', fields))!
  }

  async updateImage(id: string, operations: PatchOperation[]): Promise<WireImage> {
    const path = `/v2/images/${encodeURIComponent(id)}`
    return (await this.#json<WireImage>('PATCH', path, operations, patchMediaType))!
  }

  async deleteImage(id: string): Promise<void> {
    await this.#json('DELETE', `/v2/images/${encodeURIComponent(id)}`)
  }

  async setActive(id: string, active: boolean): Promise<void> {
    const action = active ? 'reactivate' : 'deactivate'
    await this.#json('POST', `/v2/images/${encodeURIComponent(id)}/actions/${action}`)
  }

  async listMembers(id: string): Promise<ImageMember[]> {
    const path = `/v2/images/${encodeURIComponent(id)}/members`
    return (await this.#json<{ members: ImageMember[] }>('GET', path))?.members ?? []
  }

  async addMember(id: string, projectId: string): Promise<ImageMember> {
    const path = `/v2/images/${encodeURIComponent(id)}/members`
    return (await this.#json<ImageMember>('POST', path, { member: projectId }))!
  }

  async removeMember(id: string, projectId: string): Promise<void> {
    const path = `/v2/images/${encodeURIComponent(id)}/members/${encodeURIComponent(projectId)}`
    await this.#json('DELETE', path)
  }

  async setMemberStatus(id: string, projectId: string, status: ImageMember['status']) {
    const path = `/v2/images/${encodeURIComponent(id)}/members/${encodeURIComponent(projectId)}`
    return (await this.#json<ImageMember>('PUT', path, { status }))!
  }

  async listHosts(): Promise<Host[]> {
    return (await this.#json<{ hosts: Host[] }>('GET', '/v2/info/hosts'))?.hosts ?? []
  }

  /** Lists the hypervisor cache agents; `null` when this service has no agent API. */
  async listCacheAgents(): Promise<CacheAgent[] | null> {
    try {
      return (await this.#json<{ agents: CacheAgent[] }>('GET', '/v2/cache/agents'))?.agents ?? []
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return null
      throw error
    }
  }
}

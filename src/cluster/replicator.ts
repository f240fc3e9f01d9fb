import type { IncomingMessage } from 'node:http'
import type { Readable } from 'node:stream'
import type { Logger } from 'pino'
import { ServiceError } from '../domain/errors.js'
import type { ImageService } from '../domain/image-service.js'
import type { Image } from '../domain/image.js'
import type { ImageRepository, ImageStores, ReplicaSource } from '../domain/ports.js'
import type { HostRecord } from './host-registry.js'
import { sendPeerCall } from './peer-auth.js'

export interface ReplicatorDeps {
  images: ImageService
  repo: ImageRepository
  stores: ImageStores
  /** The healthy hosts now, this one included. */
  healthyHosts: () => readonly HostRecord[]
  secret: string
  /** CA certificates that peers' HTTPS certificates chain to. */
  ca: Buffer | null
  /** Copies on distinct hosts that each image in a local store should have. */
  replicas: number
  log: Logger
}

/** One image whose copies on healthy hosts are fewer than the target. */
export interface UnderReplicated {
  imageId: string
  hosts: string[]
}

const pageSize = 500
const peerTimeoutMs = 60_000

/** Lists active images with fewer copies on the healthy hosts than `replicas`. */
export async function findUnderReplicated(
  repo: ImageRepository,
  healthy: ReadonlySet<string>,
  replicas: number,
): Promise<UnderReplicated[]> {
  const found: UnderReplicated[] = []
  for await (const image of activeImages(repo)) {
    const hosts = healthyHolders(image, healthy)
    if (hosts !== null && hosts.length < replicas) found.push({ imageId: image.id, hosts })
  }
  return found
}

async function* activeImages(repo: ImageRepository): AsyncGenerator<Image> {
  let after: string | null = null
  for (;;) {
    const page: Image[] = await repo.listActive(after, pageSize)
    yield* page
    if (page.length < pageSize) return
    after = page.at(-1)!.id
  }
}

/** Returns the healthy hosts with a copy, or `null` when a shared store has one. */
function healthyHolders(image: Image, healthy: ReadonlySet<string>): string[] | null {
  const withData = image.locations.filter((location) => location.key !== null)
  if (withData.length === 0) return null
  if (withData.some((location) => location.host === undefined)) return null
  return [...new Set(withData.map((location) => location.host!))].filter((host) =>
    healthy.has(host),
  )
}

/** The path of the call that makes a host run a replication round now. */
export const replicationRunPath = '/internal/v1/replication/run'

/** Returns the path of the peer call that sends or deletes one image's data. */
export function peerDataPath(imageId: string): string {
  return `/internal/v1/images/${encodeURIComponent(imageId)}/data`
}

/**
 * Keeps images in hosts' own stores on enough hosts. A host that must serve an image it lacks
 * copies it from a healthy host that has it, checking the SHA-512, and keeps the copy. Each
 * replication round also copies here the images that have fewer healthy copies than the
 * target. Images in a store that every host reaches count as fully replicated.
 */
export class Replicator implements ReplicaSource {
  readonly #deps: ReplicatorDeps
  #running = false

  constructor(deps: ReplicatorDeps) {
    this.#deps = deps
  }

  async ensureLocal(image: Image, signal?: AbortSignal): Promise<Image> {
    const { images, stores, log } = this.#deps
    const store = this.#localStore()
    if (store === null) {
      throw new ServiceError(
        'STORE_UNAVAILABLE',
        `Image ${image.id} is on other hosts only, and host ${stores.hostName} has no local store to copy it to.`,
      )
    }
    let lastError: unknown = new ServiceError(
      'STORE_UNAVAILABLE',
      `No healthy host has a copy of image ${image.id}; try again when one is back.`,
    )
    for (const peer of this.#peersWith(image)) {
      try {
        const copied = await images.copyToStore(image, store, signal, () =>
          this.#fetch(peer, image.id),
        )
        log.info({ imageId: image.id, host: peer.name, store }, 'image copied from a peer')
        return copied
      } catch (error) {
        lastError = error
        log.warn({ imageId: image.id, host: peer.name, err: error }, 'copy from a peer failed')
      }
    }
    throw lastError
  }

  async forgetRemote(image: Image): Promise<void> {
    const { log, stores } = this.#deps
    const holders = new Set(
      image.locations.map((location) => location.host).filter((host) => host !== undefined),
    )
    for (const peer of this.#deps.healthyHosts()) {
      if (peer.name === stores.hostName || !holders.has(peer.name)) continue
      try {
        const response = await this.#call(peer, 'DELETE', image.id)
        response.resume()
        if (response.statusCode !== 204) throw new Error(`HTTP ${response.statusCode}`)
      } catch (error) {
        // NOTE: the copy on a host that misses this call stays on its disk until removed by hand.
        log.warn({ imageId: image.id, host: peer.name, err: error }, 'peer copy not removed')
      }
    }
  }

  /** Copies here every under-replicated image that this host lacks. Returns the count. */
  async run(): Promise<number> {
    if (this.#running || this.#localStore() === null) return 0
    this.#running = true
    let copied = 0
    try {
      const healthy = new Set(this.#deps.healthyHosts().map((host) => host.name))
      for await (const image of activeImages(this.#deps.repo)) {
        const hosts = healthyHolders(image, healthy)
        if (hosts === null || hosts.length >= this.#deps.replicas) continue
        if (hosts.includes(this.#deps.stores.hostName) || hosts.length === 0) continue
        await this.ensureLocal(image).then(
          () => copied++,
          (error: unknown) =>
            this.#deps.log.warn({ imageId: image.id, err: error }, 'replication failed'),
        )
      }
    } finally {
      this.#running = false
    }
    return copied
  }

  #peersWith(image: Image): HostRecord[] {
    const holders = new Set(image.locations.map((location) => location.host))
    return this.#deps
      .healthyHosts()
      .filter((host) => host.name !== this.#deps.stores.hostName && holders.has(host.name))
  }

  /** The local store that copies go to: the default store if it is local, else the first. */
  #localStore(): string | null {
    const local = this.#deps.stores.list().filter((info) => info.local && !info.readOnly)
    return (local.find((info) => info.isDefault) ?? local[0])?.id ?? null
  }

  async #fetch(peer: HostRecord, imageId: string): Promise<Readable> {
    const response = await this.#call(peer, 'GET', imageId)
    if (response.statusCode !== 200) {
      response.resume()
      throw new Error(`host ${peer.name} returned HTTP ${response.statusCode} for ${imageId}`)
    }
    return response
  }

  #call(peer: HostRecord, method: string, imageId: string): Promise<IncomingMessage> {
    const { secret, stores, ca } = this.#deps
    const caller = { secret, name: stores.hostName, ca }
    return sendPeerCall(caller, peer, method, peerDataPath(imageId), peerTimeoutMs)
  }
}

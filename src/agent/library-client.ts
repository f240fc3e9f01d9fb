import type { Logger } from 'pino'
import type { ConnectionConfig } from '../cli/connection-config.js'
import { HttpError } from '../cli/errors.js'
import type { HttpResponse } from '../cli/http-client.js'
import { ImageClient, type ImageRecord } from '../cli/image-client.js'
import { findImage } from '../cli/image-lookup.js'
import { openSession, type Session } from '../cli/session.js'

/** Age after which the agent authenticates again, to learn which library hosts are healthy. */
const sessionLifetimeMs = 10 * 60 * 1000

/**
 * The agent's connection to the image library, with failover across the catalog's image
 * endpoints. The Keystone session uses the agent's credentials. It is opened on first use, and
 * again when the token is rejected because it expired or was revoked.
 */
export class LibraryClient {
  readonly #config: ConnectionConfig
  readonly #log: Logger
  #session: Promise<Session> | undefined
  #openedAt = 0

  constructor(config: ConnectionConfig, log: Logger) {
    this.#config = config
    this.#log = log
  }

  /** Returns the image endpoint in use, for logs, or undefined before the first call. */
  async currentHost(): Promise<string | undefined> {
    const session = await this.#session?.catch(() => undefined)
    return session?.imageEndpoint
  }

  /** Returns the id of the agent's own project. */
  async projectId(): Promise<string> {
    return (await this.#open()).projectId
  }

  /** Finds an image by id, or by name when it is unique. */
  getImage(nameOrId: string): Promise<ImageRecord> {
    return this.#call((images) => findImage(images, nameOrId))
  }

  /** Starts a download at `offset` and returns the response with its body unread. */
  download(imageId: string, offset: number): Promise<{ response: HttpResponse; host: string }> {
    return this.#call(async (images, session) => {
      const response = await images.downloadImageData(imageId, offset)
      if (response === undefined) throw new Error(`image ${imageId} has no data`)
      return { response, host: session.imageEndpoint }
    })
  }

  /**
   * Moves away from `failedHost` to the next image endpoint; false when there is no other.
   * When another request has moved on already, the endpoint in use stays. An undefined host
   * (the request never reached one) moves on from the one in use.
   */
  async failOver(failedHost: string | undefined, reason: string): Promise<boolean> {
    const session = await this.#open()
    if (failedHost !== undefined && session.imageEndpoint !== failedHost) return true
    return session.failOver(reason)
  }

  /** Sends a JSON request to a path of the image API and returns the parsed body. */
  sendJson<T>(method: string, path: string, json?: unknown): Promise<T | undefined> {
    return this.#call(async (_images, session) => {
      const response = await session.sendJson<T>({
        method,
        url: `${session.imageEndpoint}${path}`,
        ...(json === undefined ? {} : { json }),
      })
      return response.body
    })
  }

  close(): void {
    void this.#session?.then((session) => session.close()).catch(() => {})
    this.#session = undefined
  }

  #open(): Promise<Session> {
    // A fresh token brings a fresh catalog, which lists the library hosts that are healthy now.
    if (this.#session !== undefined && Date.now() - this.#openedAt > sessionLifetimeMs) {
      this.close()
    }
    if (this.#session === undefined) {
      this.#openedAt = Date.now()
      const session = openSession(this.#config, undefined, (line) =>
        this.#log.warn(
          { op: 'failover', detail: line.replace(/^pcdctl: /, '') },
          'library host failed',
        ),
      )
      session.catch(() => {
        if (this.#session === session) this.#session = undefined
      })
      this.#session = session
    }
    return this.#session
  }

  async #call<T>(action: (images: ImageClient, session: Session) => Promise<T>): Promise<T> {
    const opened = this.#open()
    const session = await opened
    try {
      return await action(new ImageClient(session), session)
    } catch (error) {
      if (!(error instanceof HttpError) || error.status !== 401) throw error
      // Concurrent calls may all see the refusal; only the first one replaces the session.
      if (this.#session === opened) {
        this.#log.info({ op: 'authenticate' }, 'token rejected; authenticating again')
        this.close()
      }
      const fresh = await this.#open()
      return action(new ImageClient(fresh), fresh)
    }
  }
}

/** An image record reduced to what the cache needs, with its fields checked. */
export interface ImageFacts {
  id: string
  name: string | null
  status: string
  size: number
  diskFormat: string
  osHashAlgo: string
  osHashValue: string
  checksum: string | null
  virtualSize: number | null
  minDisk: number
}

/**
 * Reads the fields of an image record that the cache relies on. A missing field comes back
 * empty (a size of -1, an empty hash), and the caller rejects such an image.
 */
export function imageFacts(record: ImageRecord): ImageFacts {
  const text = (field: string) => {
    const value = record[field]
    return typeof value === 'string' && value !== '' ? value : null
  }
  const number = (field: string) => {
    const value = record[field]
    return typeof value === 'number' ? value : null
  }
  return {
    id: record.id,
    name: text('name'),
    status: text('status') ?? 'unknown',
    size: number('size') ?? -1,
    diskFormat: text('disk_format') ?? '',
    osHashAlgo: text('os_hash_algo') ?? '',
    osHashValue: text('os_hash_value') ?? '',
    checksum: text('checksum'),
    virtualSize: number('virtual_size'),
    minDisk: number('min_disk') ?? 0,
  }
}

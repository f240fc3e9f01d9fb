import type { Readable } from 'node:stream'
import { CliError } from './errors.js'
import { throwIfError, type HttpResponse, type JsonResponse } from './http-client.js'
import type { JsonValue } from './python-format.js'
import type { Session } from './session.js'

/** An image as the Image API v2 returns it: core fields and extra properties at the top level. */
export interface ImageRecord {
  id: string
  name?: string | null
  status?: string
  [field: string]: JsonValue | undefined
}

/** An image member as the Image API v2 returns it. */
export interface ImageMember {
  image_id: string
  member_id: string
  status: string
  created_at?: string
  updated_at?: string
  schema?: string
  [field: string]: JsonValue | undefined
}

/** One operation of a JSON-patch (RFC 6902) body for `PATCH /v2/images/{id}`. */
export type PatchOperation =
  { op: 'add' | 'replace'; path: string; value: JsonValue } | { op: 'remove'; path: string }

export const memberStatuses = ['accepted', 'rejected', 'pending'] as const
export type MemberStatus = (typeof memberStatuses)[number]

/** Query parameters in order; a name may repeat, as `tag` does. */
export type QueryParameters = ReadonlyArray<readonly [string, string]>

interface ImageListPage {
  images?: ImageRecord[]
  next?: string
}

const patchContentType = 'application/openstack-images-v2.1-json-patch'

/** Calls the Image API v2 through an authenticated session. */
export class ImageClient {
  readonly #session: Session

  constructor(session: Session) {
    this.#session = session
  }

  /** The id of the project that the session's token is scoped to. */
  get projectId(): string {
    return this.#session.projectId
  }

  /** Creates an image record (status `queued`) from its fields and extra properties. */
  async createImage(fields: Record<string, JsonValue>): Promise<ImageRecord> {
    const response = await this.#session.sendJson<ImageRecord>({
      method: 'POST',
      url: this.#url('/v2/images'),
      json: fields,
    })
    return requireBody(response.body, 'POST /v2/images')
  }

  /**
   * Uploads image data with `PUT /v2/images/{id}/file`, streaming `body`. Without `size` the
   * body is sent chunked.
   */
  async uploadImageData(
    imageId: string,
    upload: {
      body: Readable
      size: number | undefined
      onProgress?: (bytes: number) => void
      reopen?: () => Readable
    },
  ): Promise<void> {
    const response = await this.#session.send({
      method: 'PUT',
      url: this.#url(`/v2/images/${encodeURIComponent(imageId)}/file`),
      headers: { 'Content-Type': 'application/octet-stream' },
      body: upload.body,
      ...(upload.size === undefined ? {} : { contentLength: upload.size }),
      ...(upload.onProgress === undefined ? {} : { onProgress: upload.onProgress }),
      ...(upload.reopen === undefined ? {} : { reopenBody: upload.reopen }),
    })
    await throwIfError(response)
    response.body.resume()
  }

  /** Fetches one image by id. Throws an HttpError with status 404 when there is none. */
  async getImage(imageId: string): Promise<ImageRecord> {
    const response = await this.#session.sendJson<ImageRecord>({
      method: 'GET',
      url: this.#url(`/v2/images/${encodeURIComponent(imageId)}`),
    })
    return requireBody(response.body, `GET /v2/images/${imageId}`)
  }

  /**
   * Lists images matching `query`. Follows the `next` links until the last page unless
   * `followNext` is false, in which case only the first page is returned.
   */
  async listImages(
    query: QueryParameters,
    options: { followNext: boolean },
  ): Promise<ImageRecord[]> {
    const search = new URLSearchParams(
      query.map(([name, value]): [string, string] => [name, value]),
    )
    const queryString = search.toString()
    let url: string | undefined = this.#url(
      `/v2/images${queryString === '' ? '' : `?${queryString}`}`,
    )
    const seen = new Set<string>()
    const images: ImageRecord[] = []

    while (url !== undefined && !seen.has(url)) {
      seen.add(url)
      const response: JsonResponse<ImageListPage> = await this.#session.sendJson<ImageListPage>({
        method: 'GET',
        url,
      })
      const page: ImageRecord[] = response.body?.images ?? []
      images.push(...page)

      const next: string | undefined = response.body?.next
      url =
        options.followNext && next !== undefined && page.length > 0
          ? this.#resolveLink(next)
          : undefined
    }
    return images
  }

  /** Applies JSON-patch operations to an image and returns the updated image. */
  async updateImage(imageId: string, operations: readonly PatchOperation[]): Promise<ImageRecord> {
    const response = await this.#session.sendJson<ImageRecord>({
      method: 'PATCH',
      url: this.#url(`/v2/images/${encodeURIComponent(imageId)}`),
      json: operations,
      contentType: patchContentType,
    })
    return requireBody(response.body, `PATCH /v2/images/${imageId}`)
  }

  /** Deletes an image record and its data. */
  async deleteImage(imageId: string): Promise<void> {
    await this.#session.sendJson({
      method: 'DELETE',
      url: this.#url(`/v2/images/${encodeURIComponent(imageId)}`),
    })
  }

  /**
   * Starts the download of an image's data and returns the response with its body unread.
   * Returns undefined when the image has no data (204).
   */
  async downloadImageData(imageId: string, offset = 0): Promise<HttpResponse | undefined> {
    const response = await this.#session.send({
      method: 'GET',
      url: this.#url(`/v2/images/${encodeURIComponent(imageId)}/file`),
      headers: {
        Accept: 'application/octet-stream, application/json',
        ...(offset > 0 ? { Range: `bytes=${offset}-` } : {}),
      },
    })
    if (offset > 0 && response.status === 200) {
      response.body.resume()
      throw new CliError(`The image service ignored the range request for image ${imageId}.`)
    }
    // Bytes from another offset would be written in the wrong place and fail the checksum.
    const range = response.headers['content-range']
    if (offset > 0 && response.status === 206 && !range?.startsWith(`bytes ${offset}-`)) {
      response.body.resume()
      throw new CliError(
        `The image service sent Content-Range ${JSON.stringify(range ?? null)} for a range ` +
          `request from byte ${offset} of image ${imageId}.`,
      )
    }
    await throwIfError(response)
    if (response.status !== 204) return response

    response.body.resume()
    return undefined
  }

  /** Moves to the next image endpoint; see Session.failOver. */
  failOver(reason: string): boolean {
    return this.#session.failOver(reason)
  }

  /** Deactivates (`deactivate`) or reactivates (`reactivate`) an image. */
  async changeActivation(imageId: string, action: 'deactivate' | 'reactivate'): Promise<void> {
    await this.#session.sendJson({
      method: 'POST',
      url: this.#url(`/v2/images/${encodeURIComponent(imageId)}/actions/${action}`),
    })
  }

  /** Shares an image with a project, which gets a member record with status `pending`. */
  async addMember(imageId: string, memberId: string): Promise<ImageMember> {
    const response = await this.#session.sendJson<ImageMember>({
      method: 'POST',
      url: this.#url(`/v2/images/${encodeURIComponent(imageId)}/members`),
      json: { member: memberId },
    })
    return requireBody(response.body, `POST /v2/images/${imageId}/members`)
  }

  /** Stops sharing an image with a project. */
  async removeMember(imageId: string, memberId: string): Promise<void> {
    await this.#session.sendJson({
      method: 'DELETE',
      url: this.#memberUrl(imageId, memberId),
    })
  }

  /** Lists the projects an image is shared with. */
  async listMembers(imageId: string): Promise<ImageMember[]> {
    const response = await this.#session.sendJson<{ members?: ImageMember[] }>({
      method: 'GET',
      url: this.#url(`/v2/images/${encodeURIComponent(imageId)}/members`),
    })
    return response.body?.members ?? []
  }

  /** Sets a member's status: a project accepts, rejects or resets an image shared with it. */
  async updateMemberStatus(
    imageId: string,
    memberId: string,
    status: MemberStatus,
  ): Promise<ImageMember> {
    const response = await this.#session.sendJson<ImageMember>({
      method: 'PUT',
      url: this.#memberUrl(imageId, memberId),
      json: { status },
    })
    return requireBody(response.body, `PUT /v2/images/${imageId}/members/${memberId}`)
  }

  #memberUrl(imageId: string, memberId: string): string {
    const path = `/v2/images/${encodeURIComponent(imageId)}/members/${encodeURIComponent(memberId)}`
    return this.#url(path)
  }

  #url(path: string): string {
    return `${this.#session.imageEndpoint}${path}`
  }

  // Glance returns `next` as a path such as "/v2/images?marker=…", relative to the endpoint.
  #resolveLink(link: string): string {
    if (/^https?:\/\//.test(link)) return link
    return this.#url(link.startsWith('/') ? link : `/${link}`)
  }
}

function requireBody<T>(body: T | undefined, request: string): T {
  if (body === undefined) throw new CliError(`The response to ${request} has an empty body.`)
  return body
}

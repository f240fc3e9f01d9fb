/** Columns that `GET /v2/images` can sort by and the table shows. */
export type SortKey =
  | 'name'
  | 'status'
  | 'visibility'
  | 'disk_format'
  | 'size'
  | 'virtual_size'
  | 'owner'
  | 'created_at'

export interface ImageFilters {
  /** The exact name, since the API matches names exactly. */
  name: string
  visibility: string
  status: string
  diskFormat: string
  tags: string[]
}

export const emptyFilters: ImageFilters = {
  name: '',
  visibility: '',
  status: '',
  diskFormat: '',
  tags: [],
}

export interface ImageListRequest {
  filters: ImageFilters
  sortKey: SortKey
  sortDir: 'asc' | 'desc'
  limit: number
  marker: string | null
  /** Property filters, such as `image_type=snapshot`. */
  properties?: Record<string, string>
  /** Only for listings of shared images: which memberships to include. */
  memberStatus?: string
}

/**
 * Builds the query string of `GET /v2/images`. Sorting by a column that has equal values
 * would make marker paging skip or repeat images, so `id` always follows as a tie-breaker.
 */
export function buildImageListQuery(request: ImageListRequest): string {
  const params = new URLSearchParams()
  params.set('limit', String(request.limit))
  params.set('sort', `${request.sortKey}:${request.sortDir},id:${request.sortDir}`)
  if (request.marker !== null) params.set('marker', request.marker)

  const { filters } = request
  if (filters.name !== '') params.set('name', nameFilter(filters.name))
  if (filters.visibility !== '') params.set('visibility', filters.visibility)
  if (filters.status !== '') params.set('status', filters.status)
  if (filters.diskFormat !== '') params.set('disk_format', filters.diskFormat)
  for (const tag of filters.tags) params.append('tag', tag)
  for (const [key, value] of Object.entries(request.properties ?? {})) params.set(key, value)
  if (request.memberStatus !== undefined) params.set('member_status', request.memberStatus)
  return params.toString()
}

/**
 * Returns the `name` parameter that matches exactly `name`. The API reads a value that starts
 * with `in:` as a list, so such a name is sent as a quoted one-element list.
 */
function nameFilter(name: string): string {
  return name.startsWith('in:') ? `in:"${name.replaceAll('"', '\\"')}"` : name
}

import { useEffect, useState } from 'preact/hooks'
import type { Session } from '../api/identity.js'
import { ApiError } from '../api/http.js'
import type { ImageApi } from '../api/images.js'
import { ErrorMessage, Notice, StatusBadge, Time } from '../components/messages.js'
import { isSnapshot, parseTags, type WireImage } from '../lib/image-fields.js'
import {
  buildImageListQuery,
  emptyFilters,
  type ImageFilters,
  type ImageListRequest,
  type SortKey,
} from '../lib/list-query.js'
import { formatBytes } from '../lib/units.js'
import { hrefOf, type ListTab } from '../router.js'
import { diskFormats, imageStatuses, visibilities } from './choices.js'

interface ImageListPageProps {
  tab: ListTab
  session: Session
  api: ImageApi
}

const tabs: { tab: ListTab; label: string }[] = [
  { tab: 'images', label: 'Images' },
  { tab: 'snapshots', label: 'Snapshots' },
  { tab: 'shared', label: 'Shared with me' },
]

const columns: { key: SortKey | null; label: string }[] = [
  { key: 'name', label: 'Name' },
  { key: 'status', label: 'Status' },
  { key: 'visibility', label: 'Visibility' },
  { key: 'disk_format', label: 'Disk format' },
  { key: 'size', label: 'Size' },
  { key: 'virtual_size', label: 'Virtual size' },
  { key: 'owner', label: 'Owner' },
  { key: null, label: 'Protected' },
  { key: 'created_at', label: 'Created' },
]

const pageSizes = [25, 50, 100]

interface Page {
  images: WireImage[]
  /** The marker of the following page, or `null` on the last page. */
  nextMarker: string | null
}

/** Renders the image table of one tab, with filters, sorting and paging by the API's markers. */
export function ImageListPage({ tab, session, api }: ImageListPageProps) {
  const [draft, setDraft] = useState({ ...emptyFilters, tagText: '' })
  const [filters, setFilters] = useState<ImageFilters>(emptyFilters)
  const [memberStatus, setMemberStatus] = useState('all')
  const [sortKey, setSortKey] = useState<SortKey>('created_at')
  const [sortDir, setSortDir] = useState<'asc' | 'desc'>('desc')
  const [pageSize, setPageSize] = useState(25)
  const [markers, setMarkers] = useState<(string | null)[]>([null])
  const [page, setPage] = useState<Page | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [notice, setNotice] = useState<string | null>(null)
  const [reloads, setReloads] = useState(0)
  const marker = markers.at(-1) ?? null

  useEffect(() => {
    let current = true
    setError(null)
    const request = listRequest(tab, session, { filters, sortKey, sortDir, memberStatus })
    loadPage(api, request, pageSize, marker, keepFor(tab, session))
      .then((loaded) => current && setPage(loaded))
      .catch((failure: Error) => {
        if (!current) return
        // The API rejects a marker whose image was deleted since the page before was read.
        if (marker !== null && failure instanceof ApiError && failure.status === 400) {
          setNotice('The image list changed while you were paging, so it starts again at page 1.')
          setMarkers([null])
          return
        }
        setError(failure.message)
      })
    return () => {
      current = false
    }
  }, [tab, filters, sortKey, sortDir, memberStatus, pageSize, marker, reloads])

  const restart = () => {
    setNotice(null)
    setMarkers([null])
  }
  const sortBy = (key: SortKey) => {
    setSortDir(key === sortKey && sortDir === 'asc' ? 'desc' : 'asc')
    setSortKey(key)
    restart()
  }
  const apply = (event: Event) => {
    event.preventDefault()
    const { tagText, ...rest } = draft
    setFilters({ ...rest, tags: parseTags(tagText) })
    restart()
  }
  const clear = () => {
    setDraft({ ...emptyFilters, tagText: '' })
    setFilters(emptyFilters)
    restart()
  }

  return (
    <section aria-labelledby="list-heading">
      <div class="page-heading">
        <h1 id="list-heading">{tabs.find((entry) => entry.tab === tab)!.label}</h1>
        {session.canWrite && (
          <a class="button primary" href={hrefOf({ page: 'upload' })}>
            Upload image
          </a>
        )}
      </div>
      <nav class="tabs" aria-label="Image lists">
        {tabs.map((entry) => (
          <a
            key={entry.tab}
            href={hrefOf({ page: 'list', tab: entry.tab })}
            aria-current={entry.tab === tab ? 'page' : undefined}
          >
            {entry.label}
          </a>
        ))}
      </nav>
      <form class="filters" onSubmit={apply} aria-label="Filters">
        <div class="field">
          <label for="filter-name">Name (exact)</label>
          <input
            id="filter-name"
            value={draft.name}
            onInput={(event) => setDraft({ ...draft, name: event.currentTarget.value })}
          />
        </div>
        {tab === 'shared' ? (
          <SelectField
            id="filter-member-status"
            label="Membership"
            value={memberStatus}
            choices={['all', 'pending', 'accepted', 'rejected']}
            anyLabel={null}
            onChange={(value) => {
              setMemberStatus(value)
              restart()
            }}
          />
        ) : (
          <SelectField
            id="filter-visibility"
            label="Visibility"
            value={draft.visibility}
            choices={visibilities}
            anyLabel="any"
            onChange={(value) => setDraft({ ...draft, visibility: value })}
          />
        )}
        <SelectField
          id="filter-status"
          label="Status"
          value={draft.status}
          choices={imageStatuses}
          anyLabel="any"
          onChange={(value) => setDraft({ ...draft, status: value })}
        />
        <SelectField
          id="filter-disk-format"
          label="Disk format"
          value={draft.diskFormat}
          choices={diskFormats}
          anyLabel="any"
          onChange={(value) => setDraft({ ...draft, diskFormat: value })}
        />
        <div class="field">
          <label for="filter-tags">Tags</label>
          <input
            id="filter-tags"
            aria-describedby="filter-tags-hint"
            value={draft.tagText}
            onInput={(event) => setDraft({ ...draft, tagText: event.currentTarget.value })}
          />
          <span id="filter-tags-hint" class="hint">
            Comma-separated; an image must have all.
          </span>
        </div>
        <div class="field buttons">
          <button type="submit" class="primary">
            Apply filters
          </button>
          <button type="button" onClick={clear}>
            Clear
          </button>
        </div>
      </form>
      <ErrorMessage message={error} />
      <Notice message={notice} />
      <ImageTable
        images={page?.images ?? null}
        session={session}
        sortKey={sortKey}
        sortDir={sortDir}
        onSort={sortBy}
      />
      <div class="pager">
        <button
          type="button"
          disabled={markers.length === 1}
          onClick={() => setMarkers(markers.slice(0, -1))}
        >
          Previous page
        </button>
        <span aria-live="polite">Page {markers.length}</span>
        <button
          type="button"
          disabled={page?.nextMarker == null}
          onClick={() => page?.nextMarker != null && setMarkers([...markers, page.nextMarker])}
        >
          Next page
        </button>
        <label for="page-size">Per page</label>
        <select
          id="page-size"
          value={String(pageSize)}
          onChange={(event) => {
            setPageSize(Number(event.currentTarget.value))
            restart()
          }}
        >
          {pageSizes.map((size) => (
            <option key={size} value={String(size)}>
              {size}
            </option>
          ))}
        </select>
        <button type="button" onClick={() => setReloads(reloads + 1)}>
          Refresh
        </button>
      </div>
    </section>
  )
}

interface SelectFieldProps {
  id: string
  label: string
  value: string
  choices: readonly string[]
  /** The label of the empty choice, or `null` for none. */
  anyLabel: string | null
  onChange(value: string): void
}

export function SelectField({ id, label, value, choices, anyLabel, onChange }: SelectFieldProps) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select id={id} value={value} onChange={(event) => onChange(event.currentTarget.value)}>
        {anyLabel !== null && <option value="">{anyLabel}</option>}
        {choices.map((choice) => (
          <option key={choice} value={choice}>
            {choice}
          </option>
        ))}
      </select>
    </div>
  )
}

interface ImageTableProps {
  images: WireImage[] | null
  session: Session
  sortKey: SortKey
  sortDir: 'asc' | 'desc'
  onSort(key: SortKey): void
}

function ImageTable({ images, session, sortKey, sortDir, onSort }: ImageTableProps) {
  return (
    <div class="table-scroll">
      <table class="data">
        <thead>
          <tr>
            {columns.map((column) => (
              <th
                key={column.label}
                scope="col"
                aria-sort={column.key === sortKey ? ariaSortOf(sortDir) : undefined}
              >
                {column.key === null ? (
                  column.label
                ) : (
                  <button type="button" class="sort" onClick={() => onSort(column.key!)}>
                    {column.label}
                    <span aria-hidden="true">{column.key === sortKey ? arrowOf(sortDir) : ''}</span>
                  </button>
                )}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {images === null && (
            <tr>
              <td colSpan={columns.length}>Loading…</td>
            </tr>
          )}
          {images?.length === 0 && (
            <tr>
              <td colSpan={columns.length}>No images match.</td>
            </tr>
          )}
          {images?.map((image) => (
            <tr key={image.id}>
              <td class="name">
                <a href={hrefOf({ page: 'image', id: image.id })}>{image.name ?? '(no name)'}</a>
              </td>
              <td>
                <StatusBadge status={image.status} />
              </td>
              <td>{image.visibility}</td>
              <td>{image.disk_format ?? '–'}</td>
              <td class="number">{formatBytes(image.size)}</td>
              <td class="number">{formatBytes(image.virtual_size)}</td>
              <td>
                <OwnerName owner={image.owner} session={session} />
              </td>
              <td>{image.protected ? 'yes' : 'no'}</td>
              <td>
                <Time value={image.created_at} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

function ariaSortOf(direction: 'asc' | 'desc'): 'ascending' | 'descending' {
  return direction === 'asc' ? 'ascending' : 'descending'
}

function arrowOf(direction: 'asc' | 'desc'): string {
  return direction === 'asc' ? ' ▲' : ' ▼'
}

/** Shows the caller's own project by name, and other projects by ID. */
export function OwnerName({ owner, session }: { owner: string | null; session: Session }) {
  if (owner === null) return <>–</>
  if (owner === session.project.id) return <>{session.project.name} (you)</>
  return <code title={owner}>{owner}</code>
}

function listRequest(
  tab: ListTab,
  session: Session,
  state: Pick<ImageListRequest, 'filters' | 'sortKey' | 'sortDir'> & { memberStatus: string },
): Omit<ImageListRequest, 'limit' | 'marker'> {
  const { filters, sortKey, sortDir, memberStatus } = state
  switch (tab) {
    case 'images':
      return { filters, sortKey, sortDir }
    case 'snapshots':
      return { filters, sortKey, sortDir, properties: { image_type: 'snapshot' } }
    case 'shared':
      return { filters: { ...filters, visibility: 'shared' }, sortKey, sortDir, memberStatus }
  }
}

/**
 * Returns which listed images a tab shows. The API cannot exclude a property value or the
 * caller's own images, so those are dropped here.
 */
function keepFor(tab: ListTab, session: Session): (image: WireImage) => boolean {
  switch (tab) {
    case 'images':
      return (image) => !isSnapshot(image)
    case 'snapshots':
      return () => true
    case 'shared':
      return (image) => image.owner !== session.project.id
  }
}

/** The most API pages read to fill one page of a tab that drops some images. */
const maxRequestsPerPage = 10

/**
 * Loads one page of `pageSize` images that `keep` accepts, starting after `marker`. When `keep` drops images,
 * it reads further API pages until the page is full, the listing ends, or
 * {@link maxRequestsPerPage} requests were made; the next marker is the last image it read.
 */
async function loadPage(
  api: ImageApi,
  request: Omit<ImageListRequest, 'limit' | 'marker'>,
  pageSize: number,
  marker: string | null,
  keep: (image: WireImage) => boolean,
): Promise<Page> {
  const shown: WireImage[] = []
  let cursor = marker
  for (let round = 0; round < maxRequestsPerPage; round += 1) {
    const query = buildImageListQuery({ ...request, limit: pageSize, marker: cursor })
    const { images, next } = await api.listImages(query)
    for (const [index, image] of images.entries()) {
      if (!keep(image)) continue
      shown.push(image)
      if (shown.length === pageSize) {
        const more = index < images.length - 1 || next !== null
        return { images: shown, nextMarker: more ? image.id : null }
      }
    }
    if (next === null || images.length === 0) return { images: shown, nextMarker: null }
    cursor = images.at(-1)!.id
  }
  return { images: shown, nextMarker: cursor }
}

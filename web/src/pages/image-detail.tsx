import { useEffect, useState } from 'preact/hooks'
import type { Session } from '../api/identity.js'
import type { ImageApi, ImageMember } from '../api/images.js'
import { ErrorMessage, Notice, StatusBadge, Time } from '../components/messages.js'
import { completeRows, PropertyRows } from '../components/property-rows.js'
import {
  buildImagePatch,
  editedTags,
  formatTags,
  propertiesOf,
  type ImageEdits,
  type WireImage,
} from '../lib/image-fields.js'
import { formatBytes } from '../lib/units.js'
import { hrefOf, navigate } from '../router.js'
import { visibilities } from './choices.js'
import { OwnerName } from './image-list.js'

interface ImageDetailPageProps {
  id: string
  session: Session
  api: ImageApi
}

/** Statuses that change without the user doing anything, so the page polls for them. */
const changingStatuses = new Set(['queued', 'saving', 'uploading', 'importing'])
const pollIntervalMs = 2000

/** Shows all of one image (fields, checksums, properties, members) and what the user may change. */
export function ImageDetailPage({ id, session, api }: ImageDetailPageProps) {
  const [image, setImage] = useState<WireImage | null>(null)
  const [members, setMembers] = useState<ImageMember[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [notice, setNotice] = useState<string | null>(null)
  const [editing, setEditing] = useState(false)

  const load = async () => {
    const loaded = await api.getImage(id)
    setImage(loaded)
    setMembers(loaded.visibility === 'shared' ? await api.listMembers(id).catch(() => []) : null)
  }
  const run = (action: () => Promise<unknown>, done: string | null) => {
    setError(null)
    setNotice(null)
    action()
      .then(() => setNotice(done))
      .catch((failure: Error) => setError(failure.message))
  }

  useEffect(() => {
    load().catch((failure: Error) => setError(failure.message))
  }, [id])
  useEffect(() => {
    if (image === null || !changingStatuses.has(image.status)) return undefined
    const timer = setTimeout(() => load().catch(() => undefined), pollIntervalMs)
    return () => clearTimeout(timer)
  }, [image])

  if (image === null) {
    return (
      <section>
        <p>
          <a href={hrefOf({ page: 'list', tab: 'images' })}>Back to images</a>
        </p>
        <ErrorMessage message={error} />
        {error === null && <p>Loading…</p>}
      </section>
    )
  }

  const mayChange = session.canWrite && (session.isAdmin || image.owner === session.project.id)
  return (
    <section aria-labelledby="image-heading">
      <p>
        <a href={hrefOf({ page: 'list', tab: 'images' })}>Back to images</a>
      </p>
      <div class="page-heading">
        <h1 id="image-heading">{image.name ?? '(no name)'}</h1>
        <StatusBadge status={image.status} />
      </div>
      <ErrorMessage message={error} />
      <Notice message={notice} />
      <ImageActions
        image={image}
        session={session}
        mayChange={mayChange}
        editing={editing}
        onEdit={() => setEditing(true)}
        onSetActive={(active) =>
          run(
            async () => {
              await api.setActive(image.id, active)
              await load()
            },
            active ? 'The image is active again.' : 'The image is deactivated.',
          )
        }
        onDelete={() =>
          run(async () => {
            await api.deleteImage(image.id)
            navigate({ page: 'list', tab: 'images' })
          }, null)
        }
      />
      {editing && (
        <ImageEditForm
          image={image}
          onCancel={() => setEditing(false)}
          onSave={(original, edits) =>
            run(async () => {
              setImage(await api.updateImage(image.id, buildImagePatch(original, edits)))
              setEditing(false)
              await load()
            }, 'Changes saved.')
          }
        />
      )}
      <ImageOverview image={image} session={session} />
      <MembersSection
        image={image}
        members={members}
        session={session}
        mayChange={mayChange}
        onAdd={(projectId) =>
          run(async () => {
            await api.addMember(image.id, projectId)
            await load()
          }, `Shared with project ${projectId}; it must accept the image before it is listed there.`)
        }
        onRemove={(projectId) =>
          run(async () => {
            await api.removeMember(image.id, projectId)
            await load()
          }, `Project ${projectId} no longer has access.`)
        }
        onRespond={(status) =>
          run(async () => {
            await api.setMemberStatus(image.id, session.project.id, status)
            await load()
          }, `You have ${status} this image.`)
        }
      />
    </section>
  )
}

interface ImageActionsProps {
  image: WireImage
  session: Session
  mayChange: boolean
  editing: boolean
  onEdit(): void
  onSetActive(active: boolean): void
  onDelete(): void
}

function ImageActions(props: ImageActionsProps) {
  const { image, session, mayChange, editing } = props
  const [confirming, setConfirming] = useState(false)
  if (!mayChange) return null

  return (
    <div class="actions">
      <button type="button" onClick={props.onEdit} disabled={editing}>
        Edit
      </button>
      {session.isAdmin && image.status === 'active' && (
        <button type="button" onClick={() => props.onSetActive(false)}>
          Deactivate
        </button>
      )}
      {session.isAdmin && image.status === 'deactivated' && (
        <button type="button" onClick={() => props.onSetActive(true)}>
          Reactivate
        </button>
      )}
      <button
        type="button"
        class="danger"
        disabled={image.protected}
        aria-describedby={image.protected ? 'delete-reason' : undefined}
        onClick={() => setConfirming(true)}
      >
        Delete
      </button>
      {image.protected && (
        <span id="delete-reason" class="hint">
          This image is protected and cannot be deleted. Edit it and clear Protected first.
        </span>
      )}
      {confirming && !image.protected && (
        <div class="confirm" role="group" aria-label="Confirm deletion">
          <span>Delete {image.name ?? image.id} and its data? This cannot be undone.</span>
          <button type="button" class="danger" onClick={props.onDelete}>
            Delete permanently
          </button>
          <button type="button" onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </div>
      )}
    </div>
  )
}

function ImageOverview({ image, session }: { image: WireImage; session: Session }) {
  const properties = propertiesOf(image)
  const text = (key: string) => {
    const value = image[key]
    return value === null || value === undefined ? '–' : String(value)
  }
  return (
    <div class="detail-grid">
      <section aria-labelledby="overview-heading" class="card">
        <h2 id="overview-heading">Overview</h2>
        <dl>
          <dt>ID</dt>
          <dd>
            <code>{image.id}</code>
          </dd>
          <dt>Status</dt>
          <dd>{image.status}</dd>
          <dt>Visibility</dt>
          <dd>{image.visibility}</dd>
          <dt>Protected</dt>
          <dd>{image.protected ? 'yes' : 'no'}</dd>
          <dt>Owner</dt>
          <dd>
            <OwnerName owner={image.owner} session={session} />
          </dd>
          <dt>Disk format</dt>
          <dd>{text('disk_format')}</dd>
          <dt>Container format</dt>
          <dd>{text('container_format')}</dd>
          <dt>Size</dt>
          <dd>{formatBytes(image.size)}</dd>
          <dt>Virtual size</dt>
          <dd>{formatBytes(image.virtual_size)}</dd>
          <dt>Minimum disk</dt>
          <dd>{image.min_disk} GiB</dd>
          <dt>Minimum RAM</dt>
          <dd>{image.min_ram} MiB</dd>
          <dt>Hidden</dt>
          <dd>{image.os_hidden === true ? 'yes' : 'no'}</dd>
          <dt>Stores</dt>
          <dd>{text('stores')}</dd>
          <dt>Tags</dt>
          <dd>{image.tags.length === 0 ? '–' : image.tags.join(', ')}</dd>
          <dt>Created</dt>
          <dd>
            <Time value={image.created_at} />
          </dd>
          <dt>Updated</dt>
          <dd>
            <Time value={image.updated_at} />
          </dd>
        </dl>
      </section>
      <section aria-labelledby="checksums-heading" class="card">
        <h2 id="checksums-heading">Checksums</h2>
        <dl>
          <dt>MD5 (checksum)</dt>
          <dd>
            <code class="hash">{text('checksum')}</code>
          </dd>
          <dt>Hash algorithm</dt>
          <dd>{text('os_hash_algo')}</dd>
          <dt>Hash value</dt>
          <dd>
            <code class="hash">{text('os_hash_value')}</code>
          </dd>
        </dl>
      </section>
      <section aria-labelledby="properties-heading" class="card">
        <h2 id="properties-heading">Properties</h2>
        {properties.length === 0 ? (
          <p>No properties.</p>
        ) : (
          <table class="data compact">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Value</th>
              </tr>
            </thead>
            <tbody>
              {properties.map(([key, value]) => (
                <tr key={key}>
                  <th scope="row">{key}</th>
                  <td>{value}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  )
}

interface ImageEditFormProps {
  image: WireImage
  /** Receives the image that the form was filled from, and the edited fields. */
  onSave(original: WireImage, edits: ImageEdits): void
  onCancel(): void
}

function ImageEditForm(props: ImageEditFormProps) {
  // The page reloads the image while it polls or after other actions. The patch compares the
  // form with the image it was filled from, so a change that another client made meanwhile
  // and that the user did not touch is kept.
  const [image] = useState(props.image)
  const { onSave, onCancel } = props
  const [name, setName] = useState(image.name ?? '')
  const [visibility, setVisibility] = useState(image.visibility)
  const [isProtected, setProtected] = useState(image.protected)
  const [minDisk, setMinDisk] = useState(String(image.min_disk))
  const [minRam, setMinRam] = useState(String(image.min_ram))
  const [tags, setTags] = useState(formatTags(image.tags))
  const [properties, setProperties] = useState(propertiesOf(image))

  const submit = (event: Event) => {
    event.preventDefault()
    onSave(image, {
      name,
      visibility,
      protected: isProtected,
      minDisk: Number(minDisk),
      minRam: Number(minRam),
      tags: editedTags(image.tags, tags),
      properties: completeRows(properties),
    })
  }

  return (
    <form class="card form edit-form" onSubmit={submit} aria-labelledby="edit-heading">
      <h2 id="edit-heading">Edit image</h2>
      <label for="edit-name">Name</label>
      <input id="edit-name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
      <label for="edit-visibility">Visibility</label>
      <select
        id="edit-visibility"
        value={visibility}
        onChange={(e) => setVisibility(e.currentTarget.value as WireImage['visibility'])}
      >
        {visibilities.map((choice) => (
          <option key={choice} value={choice}>
            {choice}
          </option>
        ))}
      </select>
      <div class="checkbox">
        <input
          id="edit-protected"
          type="checkbox"
          checked={isProtected}
          onChange={(e) => setProtected(e.currentTarget.checked)}
        />
        <label for="edit-protected">Protected (cannot be deleted)</label>
      </div>
      <label for="edit-min-disk">Minimum disk (GiB)</label>
      <input
        id="edit-min-disk"
        type="number"
        min="0"
        step="1"
        required
        value={minDisk}
        onInput={(e) => setMinDisk(e.currentTarget.value)}
      />
      <label for="edit-min-ram">Minimum RAM (MiB)</label>
      <input
        id="edit-min-ram"
        type="number"
        min="0"
        step="1"
        required
        value={minRam}
        onInput={(e) => setMinRam(e.currentTarget.value)}
      />
      <label for="edit-tags">Tags</label>
      <input
        id="edit-tags"
        aria-describedby="edit-tags-hint"
        value={tags}
        onInput={(e) => setTags(e.currentTarget.value)}
      />
      <span id="edit-tags-hint" class="hint">
        Comma-separated.
      </span>
      <PropertyRows idPrefix="edit-property" rows={properties} onChange={setProperties} />
      <div class="buttons">
        <button type="submit" class="primary">
          Save changes
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  )
}

interface MembersSectionProps {
  image: WireImage
  members: ImageMember[] | null
  session: Session
  mayChange: boolean
  onAdd(projectId: string): void
  onRemove(projectId: string): void
  onRespond(status: 'accepted' | 'rejected'): void
}

function MembersSection(props: MembersSectionProps) {
  const { image, members, session, mayChange } = props
  const [projectId, setProjectId] = useState('')
  const own = members?.find((member) => member.member_id === session.project.id)

  if (!mayChange) {
    if (own === undefined) return null
    return (
      <section aria-labelledby="membership-heading" class="card">
        <h2 id="membership-heading">Shared with your project</h2>
        <p>
          Your project's membership is <StatusBadge status={own.status} />. Accepted images appear
          in your image list.
        </p>
        {!session.canWrite && (
          <p class="hint">Accepting or rejecting it needs the member role on this project.</p>
        )}
        <div class="buttons" hidden={!session.canWrite}>
          <button
            type="button"
            class="primary"
            disabled={own.status === 'accepted'}
            onClick={() => props.onRespond('accepted')}
          >
            Accept
          </button>
          <button
            type="button"
            disabled={own.status === 'rejected'}
            onClick={() => props.onRespond('rejected')}
          >
            Reject
          </button>
        </div>
      </section>
    )
  }

  return (
    <section aria-labelledby="members-heading" class="card">
      <h2 id="members-heading">Members</h2>
      {members === null ? (
        <p>
          Only images with visibility <strong>shared</strong> have members. Edit the image and set
          its visibility to shared to share it with other projects.
        </p>
      ) : (
        <>
          <MembersTable members={members} onRemove={props.onRemove} />
          <form
            class="inline-form"
            onSubmit={(event) => {
              event.preventDefault()
              if (projectId.trim() === '') return
              props.onAdd(projectId.trim())
              setProjectId('')
            }}
          >
            <label for="member-project">Project ID</label>
            <input
              id="member-project"
              value={projectId}
              required
              onInput={(event) => setProjectId(event.currentTarget.value)}
            />
            <button type="submit">Share with project</button>
          </form>
        </>
      )}
      {image.visibility === 'shared' && (
        <p class="hint">A member project sees the image once it accepts it.</p>
      )}
    </section>
  )
}

function MembersTable(props: { members: ImageMember[]; onRemove(projectId: string): void }) {
  if (props.members.length === 0) return <p>Not shared with any project yet.</p>
  return (
    <div class="scroll-x">
      <table class="data compact">
        <thead>
          <tr>
            <th scope="col">Project ID</th>
            <th scope="col">Status</th>
            <th scope="col">Added</th>
            <th scope="col">Updated</th>
            <th scope="col">
              <span class="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {props.members.map((member) => (
            <tr key={member.member_id}>
              <td>
                <code>{member.member_id}</code>
              </td>
              <td>
                <StatusBadge status={member.status} />
              </td>
              <td>
                <Time value={member.created_at} />
              </td>
              <td>
                <Time value={member.updated_at} />
              </td>
              <td>
                <button
                  type="button"
                  aria-label={`Remove project ${member.member_id}`}
                  onClick={() => props.onRemove(member.member_id)}
                >
                  Remove
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

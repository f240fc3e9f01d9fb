import { useEffect, useRef, useState } from 'preact/hooks'
import type { Session } from '../api/identity.js'
import type { ImageApi } from '../api/images.js'
import {
  UploadCancelled,
  uploadImageData,
  type RunningUpload,
  type UploadProgress,
} from '../api/upload.js'
import { ErrorMessage, Notice } from '../components/messages.js'
import { completeRows, PropertyRows } from '../components/property-rows.js'
import {
  guessDiskFormat,
  headBytesNeeded,
  tailBytesNeeded,
  type DiskFormatGuess,
} from '../lib/disk-format.js'
import { formatBytes, formatDuration, formatRate } from '../lib/units.js'
import { hrefOf, navigate } from '../router.js'
import { containerFormats, diskFormats, visibilities } from './choices.js'

interface UploadPageProps {
  session: Session
  api: ImageApi
}

/** Reads the few bytes that decide the disk format; never the whole file. */
async function sniffFile(file: File): Promise<DiskFormatGuess> {
  const head = new Uint8Array(await file.slice(0, headBytesNeeded).arrayBuffer())
  const tailStart = Math.max(0, file.size - tailBytesNeeded)
  const tail = new Uint8Array(await file.slice(tailStart).arrayBuffer())
  return guessDiskFormat(head, tail)
}

/** Drops the last extension, so `disk.qcow2` suggests the name `disk`. */
function nameFromFile(fileName: string): string {
  const dot = fileName.lastIndexOf('.')
  return dot > 0 ? fileName.slice(0, dot) : fileName
}

type Phase =
  | { kind: 'editing' }
  | { kind: 'creating' }
  | { kind: 'uploading'; imageId: string; progress: UploadProgress | null }
  | { kind: 'failed'; imageId: string | null }

/** Creates an image record, then streams the chosen file into it with a progress bar. */
export function UploadPage({ session, api }: UploadPageProps) {
  const [file, setFile] = useState<File | null>(null)
  const [guess, setGuess] = useState<DiskFormatGuess | null>(null)
  const [name, setName] = useState('')
  const [diskFormat, setDiskFormat] = useState('raw')
  const [containerFormat, setContainerFormat] = useState('bare')
  const [visibility, setVisibility] = useState('private')
  const [isProtected, setProtected] = useState(false)
  const [properties, setProperties] = useState<[string, string][]>([])
  const [phase, setPhase] = useState<Phase>({ kind: 'editing' })
  const [error, setError] = useState<string | null>(null)
  const [notice, setNotice] = useState<string | null>(null)
  const upload = useRef<RunningUpload | null>(null)
  const hasLeftPage = useRef(false)

  // Leaving the page stops a running upload instead of letting it run unseen.
  useEffect(
    () => () => {
      hasLeftPage.current = true
      upload.current?.cancel()
    },
    [],
  )

  const choose = (chosen: File | null) => {
    setFile(chosen)
    setGuess(null)
    if (chosen === null) return
    if (name === '') setName(nameFromFile(chosen.name))
    sniffFile(chosen)
      .then((found) => {
        setGuess(found)
        setDiskFormat(found.format)
      })
      .catch(() => setGuess(null))
  }

  const start = async (event: Event) => {
    event.preventDefault()
    if (file === null) return
    setError(null)
    setNotice(null)
    setPhase({ kind: 'creating' })
    let imageId: string | null = null
    try {
      const image = await api.createImage({
        name,
        disk_format: diskFormat,
        container_format: containerFormat,
        visibility,
        protected: isProtected,
        ...Object.fromEntries(completeRows(properties)),
      })
      imageId = image.id
      // The user may leave while the record is being created, before there is an upload to stop.
      if (hasLeftPage.current) throw new UploadCancelled()
      await sendData(image.id, file)
      if (!hasLeftPage.current) navigate({ page: 'image', id: image.id })
    } catch (failure) {
      await handleFailure(failure as Error, imageId)
    } finally {
      upload.current = null
    }
  }

  const sendData = (imageId: string, data: File) => {
    setPhase({ kind: 'uploading', imageId, progress: null })
    upload.current = uploadImageData(session.token, imageId, data, (progress) =>
      setPhase({ kind: 'uploading', imageId, progress }),
    )
    return upload.current.done
  }

  const handleFailure = async (failure: Error, imageId: string | null) => {
    if (failure instanceof UploadCancelled && imageId !== null) {
      // The user gave up on this image, so its empty record goes too.
      const removed = await api.deleteImage(imageId).then(
        () => true,
        () => false,
      )
      setNotice(
        removed
          ? 'Upload cancelled. The new image record was deleted.'
          : 'Upload cancelled. The image record is left queued, without data.',
      )
      setPhase(removed ? { kind: 'editing' } : { kind: 'failed', imageId })
      return
    }
    setError(`Upload failed: ${failure.message}`)
    setPhase({ kind: 'failed', imageId })
  }

  const busy = phase.kind === 'creating' || phase.kind === 'uploading'
  return (
    <section aria-labelledby="upload-heading">
      <h1 id="upload-heading">Upload image</h1>
      <ErrorMessage message={error} />
      <Notice message={notice} />
      {phase.kind === 'failed' && phase.imageId !== null && (
        <FailedUploadActions imageId={phase.imageId} api={api} onDone={setNotice} />
      )}
      <form class="card form" onSubmit={start} aria-labelledby="upload-heading">
        <fieldset disabled={busy}>
          <label for="upload-file">Image file</label>
          <input
            id="upload-file"
            type="file"
            required
            onChange={(event) => choose(event.currentTarget.files?.[0] ?? null)}
          />
          {file !== null && (
            <p class="hint" id="upload-file-info">
              {formatBytes(file.size)}
              {guess !== null && ` · detected ${guess.format} (${guess.reason})`}
            </p>
          )}
          <label for="upload-name">Name</label>
          <input
            id="upload-name"
            required
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
          />
          <label for="upload-disk-format">Disk format</label>
          <select
            id="upload-disk-format"
            value={diskFormat}
            onChange={(e) => setDiskFormat(e.currentTarget.value)}
          >
            {diskFormats.map((format) => (
              <option key={format} value={format}>
                {format}
              </option>
            ))}
          </select>
          <label for="upload-container-format">Container format</label>
          <select
            id="upload-container-format"
            value={containerFormat}
            onChange={(e) => setContainerFormat(e.currentTarget.value)}
          >
            {containerFormats.map((format) => (
              <option key={format} value={format}>
                {format}
              </option>
            ))}
          </select>
          <label for="upload-visibility">Visibility</label>
          <select
            id="upload-visibility"
            value={visibility}
            aria-describedby="upload-visibility-hint"
            onChange={(e) => setVisibility(e.currentTarget.value)}
          >
            {visibilities.map((choice) => (
              <option key={choice} value={choice}>
                {choice}
              </option>
            ))}
          </select>
          <span id="upload-visibility-hint" class="hint">
            {session.isAdmin
              ? 'Public images are listed for every project.'
              : 'Only administrators can make an image public.'}
          </span>
          <div class="checkbox">
            <input
              id="upload-protected"
              type="checkbox"
              checked={isProtected}
              onChange={(e) => setProtected(e.currentTarget.checked)}
            />
            <label for="upload-protected">Protected (cannot be deleted)</label>
          </div>
          <PropertyRows idPrefix="upload-property" rows={properties} onChange={setProperties} />
          <button type="submit" class="primary">
            Upload
          </button>
        </fieldset>
      </form>
      {phase.kind === 'creating' && <p role="status">Creating the image record…</p>}
      {phase.kind === 'uploading' && (
        <UploadStatus
          fileSize={file?.size ?? 0}
          progress={phase.progress}
          onCancel={() => upload.current?.cancel()}
        />
      )}
    </section>
  )
}

interface UploadStatusProps {
  fileSize: number
  progress: UploadProgress | null
  onCancel(): void
}

function UploadStatus({ fileSize, progress, onCancel }: UploadStatusProps) {
  const sent = progress?.sentBytes ?? 0
  const percent = fileSize === 0 ? 100 : Math.floor((sent / fileSize) * 100)
  const waiting = sent >= fileSize && fileSize > 0
  return (
    <section class="card upload-status" aria-labelledby="progress-label">
      <h2 id="progress-label">Uploading</h2>
      <progress id="upload-progress" max={fileSize} value={sent} aria-labelledby="progress-label">
        {percent}%
      </progress>
      <p aria-live="polite" id="upload-progress-text">
        {waiting
          ? 'All data sent; waiting for the server to verify and store it…'
          : `${formatBytes(sent)} of ${formatBytes(fileSize)} (${percent}%)`}
        {!waiting && progress !== null && progress.bytesPerSecond > 0 && (
          <>
            {' · '}
            {formatRate(progress.bytesPerSecond)}
            {progress.secondsLeft !== null &&
              ` · about ${formatDuration(progress.secondsLeft)} left`}
          </>
        )}
      </p>
      <button type="button" class="danger" onClick={onCancel}>
        Cancel upload
      </button>
    </section>
  )
}

interface FailedUploadActionsProps {
  imageId: string
  api: ImageApi
  onDone(message: string): void
}

/** Offers to remove the queued record that a failed upload leaves behind. */
function FailedUploadActions({ imageId, api, onDone }: FailedUploadActionsProps) {
  const [gone, setGone] = useState(false)
  if (gone) return null
  return (
    <p class="actions">
      The image record <a href={hrefOf({ page: 'image', id: imageId })}>{imageId}</a> is queued
      without data.{' '}
      <button
        type="button"
        onClick={() =>
          api.deleteImage(imageId).then(
            () => {
              setGone(true)
              onDone('The queued image record was deleted.')
            },
            (failure: Error) => onDone(`Deleting the record failed: ${failure.message}`),
          )
        }
      >
        Delete the queued record
      </button>
    </p>
  )
}

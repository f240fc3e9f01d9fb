/** Shows an error that screen readers announce at once. Renders nothing without a message. */
export function ErrorMessage({ message }: { message: string | null }) {
  if (message === null) return null
  return (
    <p class="message error" role="alert">
      {message}
    </p>
  )
}

/** Shows a note that screen readers announce when idle. Renders nothing without a message. */
export function Notice({ message }: { message: string | null }) {
  if (message === null) return null
  return (
    <p class="message notice" role="status">
      {message}
    </p>
  )
}

const busyStatuses = new Set(['queued', 'saving', 'uploading', 'importing', 'pending_delete'])

/** Shows a status as a coloured label whose text alone carries the meaning. */
export function StatusBadge({ status }: { status: string }) {
  const tone =
    status === 'active' || status === 'healthy' || status === 'up' || status === 'accepted'
      ? 'good'
      : busyStatuses.has(status) || status === 'pending'
        ? 'busy'
        : 'bad'
  return <span class={`status status-${tone}`}>{status}</span>
}

/** Formats an ISO 8601 time in the browser's locale, with the exact value as a tooltip. */
export function Time({ value }: { value: string | null | undefined }) {
  if (value === null || value === undefined) return <>–</>
  const date = new Date(value)
  return (
    <time dateTime={value} title={value}>
      {Number.isNaN(date.getTime()) ? value : date.toLocaleString()}
    </time>
  )
}

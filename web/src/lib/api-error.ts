/**
 * Extracts the human-readable message from an error response of the image or identity API.
 * The image API renders errors as Glance does (JSON `{message, code, title}`, where `message`
 * is a generic explanation, `<br /><br />`, then the detail), and the identity API as Keystone
 * does (`{error: {code, title, message}}`).
 */
export function errorDetailOf(body: string, contentType: string | null): string | null {
  const type = contentType?.split(';')[0]?.trim().toLowerCase() ?? ''
  if (type === 'application/json') return jsonDetail(body)
  if (type === 'text/plain') return plainTextDetail(body)
  return null
}

function jsonDetail(body: string): string | null {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    return null
  }
  if (typeof parsed !== 'object' || parsed === null) return null
  const record = parsed as Record<string, unknown>
  const nested = record.error
  if (typeof nested === 'object' && nested !== null) {
    const message = (nested as Record<string, unknown>).message
    if (typeof message === 'string') return cleanText(message)
  }
  if (typeof record.message === 'string') {
    const parts = record.message.split('<br /><br />')
    return cleanText(parts.at(-1) ?? '')
  }
  return null
}

/** WebOb's plain-text body: status line, explanation and detail, separated by blank lines. */
function plainTextDetail(body: string): string | null {
  const paragraphs = body
    .split(/\n\s*\n/)
    .map((part) => part.trim())
    .filter((part) => part !== '')
  return paragraphs.length >= 3 ? cleanText(paragraphs.slice(2).join(' ')) : null
}

function cleanText(text: string): string | null {
  const cleaned = text
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
  return cleaned === '' ? null : cleaned
}

const summaries: Record<number, string> = {
  400: 'The request was rejected as invalid.',
  401: 'You are not logged in, or your session has expired.',
  403: 'You are not allowed to do this.',
  404: 'Not found, or not visible to your project.',
  409: 'The image is not in a state that allows this.',
  413: 'Too large: the image exceeds the size limit, the free space or a quota.',
  415: 'The server does not accept this kind of data here.',
  503: 'The service is unavailable at the moment. Try again later.',
}

/** Returns a sentence for an HTTP error status, for when the body has no detail. */
export function summaryOfStatus(status: number): string {
  if (status >= 500) return summaries[status] ?? `The server failed with HTTP ${status}.`
  return summaries[status] ?? `The request failed with HTTP ${status}.`
}

/** Returns the message to show for a failed API call: the server's detail, or a summary. */
export function describeApiError(
  status: number,
  body: string,
  contentType: string | null,
  requestId: string | null,
): string {
  const detail = errorDetailOf(body, contentType) ?? summaryOfStatus(status)
  return status >= 500 && requestId !== null ? `${detail} (request ID ${requestId})` : detail
}

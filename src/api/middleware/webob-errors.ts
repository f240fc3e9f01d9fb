/**
 * Error bodies as Glance sends them. Glance renders errors with WebOb, which picks plain text,
 * HTML or JSON from the `Accept` header, trying the offers in that order, so a client that
 * sends no `Accept` or `*\/*` gets plain text.
 */

const explanations: Record<number, string> = {
  400: 'The server could not comply with the request since it is either malformed or otherwise incorrect.',
  401: 'This server could not verify that you are authorized to access the document you requested.',
  403: 'Access was denied to this resource.',
  404: 'The resource could not be found.',
  405: 'The method is not allowed for this resource.',
  406: 'The resource could not be generated that was acceptable to your browser.',
  409: 'There was a conflict when trying to complete your request.',
  413: 'The body of your request was too large for this server.',
  415: 'The request media type is not supported by this server.',
  416: 'The Range requested is not available.',
  500: 'The server has either erred or is incapable of performing the requested operation.',
  501: 'The server has not implemented the requested operation.',
  503: 'The server is currently unavailable. Please try again at a later time.',
}

export interface RenderedError {
  contentType: string
  body: string
}

type Offer = 'text/plain' | 'text/html' | 'application/json'
const offers: Offer[] = ['text/plain', 'text/html', 'application/json']

/** Picks the first of WebOb's offers with the highest quality in `Accept`. */
export function negotiateErrorType(accept: string | undefined): Offer {
  if (accept === undefined || accept.trim() === '') return 'text/plain'
  const ranges = accept.split(',').map((part) => {
    const [range = '', ...params] = part.trim().split(';')
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='))
    return { range: range.trim().toLowerCase(), q: q === undefined ? 1 : Number(q.slice(2)) || 0 }
  })
  const quality = (offer: Offer): number => {
    const [type] = offer.split('/')
    const match =
      ranges.find((r) => r.range === offer) ??
      ranges.find((r) => r.range === `${type}/*`) ??
      ranges.find((r) => r.range === '*/*')
    return match?.q ?? 0
  }
  let best: Offer = 'text/plain'
  let bestQ = 0
  for (const offer of offers) {
    const q = quality(offer)
    if (q > bestQ) {
      best = offer
      bestQ = q
    }
  }
  return best
}

/** Renders an error body the way WebOb does for this status, title and detail. */
export function renderWebobError(
  status: number,
  title: string,
  detail: string,
  accept: string | undefined,
): RenderedError {
  const statusLine = `${status} ${title}`
  const explanation = explanations[status] ?? ''
  const htmlBody = `${explanation}<br /><br />\n${escapeHtml(detail)}\n`

  switch (negotiateErrorType(accept)) {
    case 'application/json':
      return {
        contentType: 'application/json',
        body: JSON.stringify({
          message: `${explanation}<br /><br />\n${detail}\n`,
          code: statusLine,
          title,
        }),
      }
    case 'text/html':
      return {
        contentType: 'text/html; charset=UTF-8',
        body: `<html>\n <head>\n  <title>${statusLine}</title>\n </head>\n <body>\n  <h1>${statusLine}</h1>\n  ${htmlBody}\n </body>\n</html>`,
      }
    case 'text/plain':
      return {
        contentType: 'text/plain; charset=UTF-8',
        body: `${statusLine}\n\n${explanation}\n\n${detail}\n\n   `,
      }
  }
}

function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
}

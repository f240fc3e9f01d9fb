export type ListTab = 'images' | 'snapshots' | 'shared'

/** The pages of the UI. The route lives in the URL fragment, so the server serves one file. */
export type Route =
  | { page: 'list'; tab: ListTab }
  | { page: 'image'; id: string }
  | { page: 'upload' }
  | { page: 'health' }

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').map(decodePart)
  switch (parts[0]) {
    case 'snapshots':
    case 'shared':
      return { page: 'list', tab: parts[0] }
    case 'images':
      return parts[1] === undefined || parts[1] === ''
        ? { page: 'list', tab: 'images' }
        : { page: 'image', id: parts[1] }
    case 'upload':
      return { page: 'upload' }
    case 'health':
      return { page: 'health' }
    default:
      return { page: 'list', tab: 'images' }
  }
}

/**
 * Decodes one part of the fragment. A malformed escape such as a lone `%` stays as typed,
 * because decodeURIComponent throws on it and a throw here would leave a blank page.
 */
function decodePart(part: string): string {
  try {
    return decodeURIComponent(part)
  } catch {
    return part
  }
}

export function hrefOf(route: Route): string {
  switch (route.page) {
    case 'list':
      return `#/${route.tab}`
    case 'image':
      return `#/images/${encodeURIComponent(route.id)}`
    case 'upload':
      return '#/upload'
    case 'health':
      return '#/health'
  }
}

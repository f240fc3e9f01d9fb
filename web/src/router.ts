import { useEffect, useState } from 'preact/hooks'
import { hrefOf, parseRoute, type Route } from './lib/route.js'

export { hrefOf, parseRoute, type ListTab, type Route } from './lib/route.js'

export function navigate(route: Route): void {
  window.location.hash = hrefOf(route)
}

/** Returns the current route and re-renders when the URL fragment changes. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash))
  useEffect(() => {
    const update = () => setRoute(parseRoute(window.location.hash))
    window.addEventListener('hashchange', update)
    return () => window.removeEventListener('hashchange', update)
  }, [])
  return route
}

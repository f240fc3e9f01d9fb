/** One endpoint of a catalog service, as Keystone lists it. */
export interface CatalogEndpoint {
  id: string
  interface: 'public' | 'internal' | 'admin'
  region: string
  region_id: string
  url: string
}

export interface CatalogService {
  id: string
  type: string
  name: string
  endpoints: CatalogEndpoint[]
}

/** The endpoints of one image library host. */
export interface CatalogHost {
  name: string
  /** Base URL of the image API, such as `https://image.example:9292`. */
  imageUrl: string
  /** The identity API's URL, ending in `/v3`. */
  identityUrl: string
}

export interface CatalogSettings {
  region: string
  imageServiceName: string
  /** The healthy hosts, the one that issues the token first. */
  hosts: readonly CatalogHost[]
}

const interfaces = ['public', 'internal', 'admin'] as const

/**
 * Builds the service catalog that every token carries: each healthy host's endpoints, for
 * every interface, so that clients can fail over. Ids are stable across restarts.
 */
export function buildCatalog(settings: CatalogSettings): CatalogService[] {
  const endpoints = (service: string, urlOf: (host: CatalogHost) => string) =>
    interfaces.flatMap((iface) =>
      settings.hosts.map((host, index) => ({
        id: index === 0 ? `${service}-${iface}` : `${service}-${iface}-${host.name}`,
        interface: iface,
        region: settings.region,
        region_id: settings.region,
        url: urlOf(host),
      })),
    )
  return [
    {
      id: 'image',
      type: 'image',
      name: settings.imageServiceName,
      endpoints: endpoints('image', (host) => host.imageUrl),
    },
    {
      id: 'identity',
      type: 'identity',
      name: 'keystone',
      endpoints: endpoints('identity', (host) => host.identityUrl),
    },
  ]
}

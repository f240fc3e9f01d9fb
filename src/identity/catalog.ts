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

export interface CatalogSettings {
  region: string
  imageServiceName: string
  /** Base URLs, such as `https://image.example:9292`, per interface. */
  imageUrls: Record<CatalogEndpoint['interface'], string>
  identityUrls: Record<CatalogEndpoint['interface'], string>
}

const interfaces = ['public', 'internal', 'admin'] as const

/** Builds the service catalog that every token carries. Ids are stable across restarts. */
export function buildCatalog(settings: CatalogSettings): CatalogService[] {
  const endpoints = (service: string, urls: CatalogSettings['imageUrls']) =>
    interfaces.map((iface) => ({
      id: `${service}-${iface}`,
      interface: iface,
      region: settings.region,
      region_id: settings.region,
      url: urls[iface],
    }))
  return [
    {
      id: 'image',
      type: 'image',
      name: settings.imageServiceName,
      endpoints: endpoints('image', settings.imageUrls),
    },
    {
      id: 'identity',
      type: 'identity',
      name: 'keystone',
      endpoints: endpoints('identity', settings.identityUrls),
    },
  ]
}

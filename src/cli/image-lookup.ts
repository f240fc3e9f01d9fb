import { CliError, HttpError } from './errors.js'
import type { ImageRecord, QueryParameters } from './image-client.js'
import type { Session } from './session.js'

/** The part of ImageClient that finds images, so tests can pass a fake. */
export interface ImageFinder {
  getImage(imageId: string): Promise<ImageRecord>
  listImages(query: QueryParameters, options: { followNext: boolean }): Promise<ImageRecord[]>
}

const uuidPattern = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i

/** Returns whether `value` has the form of a UUID, with or without dashes. */
export function isUuidLike(value: string): boolean {
  return uuidPattern.test(value)
}

/**
 * Finds an image by id or by unique name. A value shaped like a UUID is tried as an id first,
 * then as a name, because a name may look like an id. Hidden images are found by name too, and so
 * are images shared with the caller's project that it has not accepted, which a plain list leaves
 * out. Throws a CliError when nothing matches or when several images have the name.
 */
export async function findImage(finder: ImageFinder, nameOrId: string): Promise<ImageRecord> {
  if (isUuidLike(nameOrId)) {
    const byId = await getImageIfExists(finder, nameOrId)
    if (byId !== undefined) return byId
  }

  let candidates = await listByName(finder, nameOrId, [])
  if (candidates.length === 0) {
    candidates = await listByName(finder, nameOrId, [['os_hidden', 'true']])
  }
  if (candidates.length === 0) {
    // A list returns pending and rejected shares only when it filters by member_status.
    const sharedQuery: QueryParameters = [
      ['visibility', 'shared'],
      ['member_status', 'all'],
    ]
    candidates = await listByName(finder, nameOrId, sharedQuery)
  }

  const [first, ...others] = candidates
  if (first === undefined) {
    throw new CliError(`No image found with name or ID '${nameOrId}'.`)
  }
  if (others.length > 0) {
    const ids = candidates.map((image) => `  ${image.id}`).join('\n')
    throw new CliError(
      `More than one image is named '${nameOrId}'; use one of these image IDs instead:\n${ids}`,
    )
  }
  return first
}

async function getImageIfExists(
  finder: ImageFinder,
  imageId: string,
): Promise<ImageRecord | undefined> {
  try {
    return await finder.getImage(imageId)
  } catch (error) {
    if (error instanceof HttpError && error.status === 404) return undefined
    throw error
  }
}

async function listByName(
  finder: ImageFinder,
  name: string,
  extraQuery: QueryParameters,
): Promise<ImageRecord[]> {
  const images = await finder.listImages([['name', name], ...extraQuery], { followNext: true })
  // The server filters by name already; this guards against one that ignores the filter.
  return images.filter((image) => image.name === name)
}

interface ProjectList {
  projects?: Array<{ id: string; name?: string; domain_id?: string }>
}

/**
 * Returns the id of a Keystone project given by id or by name, for image sharing. A value shaped
 * like a Keystone id (32 hex digits or a UUID) is used as it is. Other values are looked up with
 * `GET /v3/projects`, optionally within `domain` (an id or a name).
 */
export async function findProjectId(
  session: Session,
  nameOrId: string,
  domain: string | undefined,
): Promise<string> {
  if (isUuidLike(nameOrId)) return nameOrId

  const byId = await getProjectIfVisible(session, nameOrId)
  if (byId !== undefined) return byId

  const query = new URLSearchParams({ name: nameOrId })
  if (domain !== undefined) query.set('domain_id', await findDomainId(session, domain))
  let projects: NonNullable<ProjectList['projects']>
  try {
    const response = await session.sendJson<ProjectList>({
      method: 'GET',
      url: `${session.identityEndpoint}/projects?${query}`,
    })
    projects = response.body?.projects ?? []
  } catch (error) {
    // NOTE: a user without the right to list projects gets 403. Like the openstack CLI,
    // pcdctl then takes the value as a project id, which the image service checks no further.
    if (error instanceof HttpError && error.status === 403) return nameOrId
    throw error
  }
  return pickProject(projects, nameOrId)
}

async function getProjectIfVisible(
  session: Session,
  projectId: string,
): Promise<string | undefined> {
  const response = await session.send({
    method: 'GET',
    url: `${session.identityEndpoint}/projects/${encodeURIComponent(projectId)}`,
  })
  response.body.resume()
  return response.status === 200 ? projectId : undefined
}

function pickProject(projects: NonNullable<ProjectList['projects']>, name: string): string {
  const [first, ...others] = projects
  if (first === undefined) throw new CliError(`No project found with name or ID '${name}'.`)
  if (others.length > 0) {
    const ids = projects.map((project) => `  ${project.id} (domain ${project.domain_id ?? '?'})`)
    throw new CliError(
      `More than one project is named '${name}'; pass --project-domain or a project ID:\n` +
        ids.join('\n'),
    )
  }
  return first.id
}

async function findDomainId(session: Session, nameOrId: string): Promise<string> {
  try {
    const response = await session.sendJson<{ domains?: Array<{ id: string }> }>({
      method: 'GET',
      url: `${session.identityEndpoint}/domains?${new URLSearchParams({ name: nameOrId })}`,
    })
    // A domain that is not found by name is taken to be a domain id.
    return response.body?.domains?.[0]?.id ?? nameOrId
  } catch (error) {
    if (error instanceof HttpError && error.status === 403) return nameOrId
    throw error
  }
}

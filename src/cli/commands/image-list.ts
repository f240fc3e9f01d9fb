import { Option, type Command } from 'commander'
import { compareCodePoints } from '../cells.js'
import {
  parseKeyValue,
  parsePositiveInteger,
  setCommandAction,
  type CliIo,
  type CommandRuntime,
} from '../command-runtime.js'
import { addConnectionOptions } from '../connection-config.js'
import { UsageError } from '../errors.js'
import type { ImageClient, ImageRecord } from '../image-client.js'
import { findImage, findProjectId } from '../image-lookup.js'
import { addVisibilityOptions, readVisibility } from '../image-options.js'
import { toImageListResult } from '../image-view.js'
import { addListOutputOptions, appendValue, writeList, type OutputOptions } from '../output.js'
import { formatPythonStr } from '../python-format.js'

interface ListOptions extends OutputOptions {
  property?: Record<string, string>
  name?: string
  status?: string
  memberStatus?: string
  project?: string
  projectDomain?: string
  tag?: string[]
  hidden?: boolean
  long?: boolean
  sort?: string
  limit?: number
  marker?: string
}

/** One key of `--sort`, such as `name:asc`. */
export interface SortKey {
  key: string
  direction: 'asc' | 'desc'
}

const defaultSort = 'name:asc'

const example = `
Example:
  pcdctl image list --public --long --sort created_at:desc --limit 10`

/** Adds `image list`: list the images the project can see. */
export function defineImageListCommand(image: Command, io: CliIo, result: { exitCode: number }) {
  const command = image.command('list').description('List images')
  addVisibilityOptions(
    command,
    (visibility) =>
      visibility === 'all' ? 'list images of every visibility' : `list only ${visibility} images`,
    ['all'],
  )
  command
    .option(
      '--property <key=value>',
      'list only images with this property value; repeat for more',
      parseKeyValue,
    )
    .option('--name <name>', 'list only images with this name')
    .option('--status <status>', 'list only images with this status, such as active or queued')
    .addOption(
      new Option('--member-status <status>', 'list only images shared with this member status')
        .choices(['accepted', 'pending', 'rejected', 'all'])
        .argParser((value: string) => value.toLowerCase()),
    )
    .option('--project <project>', 'list only images owned by this project, by name or ID')
    .option('--project-domain <domain>', 'domain of --project, by name or ID')
    .option('--tag <tag>', 'list only images with this tag; repeat for more', appendValue)
    .option('--hidden', 'list hidden images (os_hidden) instead')
    .option(
      '--long',
      'add the columns Disk Format, Container Format, Size, Checksum, Visibility, Protected, Project and Tags',
    )
    .option(
      '--sort <key>[:<direction>]',
      `sort by these comma-separated keys, each asc or desc (default: ${defaultSort})`,
    )
    .option('--limit <count>', 'list at most this many images (one request)', parsePositiveInteger)
    .option('--marker <image>', 'list the images after this one, by name or ID')
  addListOutputOptions(command)
  addConnectionOptions(command, { hidden: true })
  command.addHelpText('after', example)
  setCommandAction(command, io, result, runImageList)
  return command
}

async function runImageList(runtime: CommandRuntime): Promise<number> {
  const options = runtime.options as unknown as ListOptions
  const sortKeys = parseSortKeys(options.sort ?? defaultSort)
  const images = await runtime.images()

  const query = [
    ...(await buildFilterQuery(runtime, images, options)),
    ...Object.entries(options.property ?? {}),
  ]
  if (options.sort !== undefined) query.push(['sort', formatSortKeys(sortKeys)])

  const listed = await images.listImages(query, { followNext: options.limit === undefined })
  const matching = filterByProperties(listed, options.property ?? {})
  const rows = toImageListResult(sortImages(matching, sortKeys), options.long === true)
  writeList(runtime.io.stdout, rows, options)
  return 0
}

// Builds the query parameters of GET /v2/images for every filter flag except --property.
async function buildFilterQuery(
  runtime: CommandRuntime,
  images: ImageClient,
  options: ListOptions,
): Promise<Array<[string, string]>> {
  const query: Array<[string, string]> = []
  const add = (name: string, value: string | undefined) => {
    if (value !== undefined) query.push([name, value])
  }

  add('visibility', readVisibility(runtime.options, ['all']))
  add('limit', options.limit === undefined ? undefined : String(options.limit))
  if (options.marker !== undefined) add('marker', (await findImage(images, options.marker)).id)
  add('name', options.name)
  add('status', options.status)
  add('member_status', options.memberStatus)
  for (const tag of options.tag ?? []) add('tag', tag)
  if (options.project !== undefined) {
    const session = await runtime.session()
    add('owner', await findProjectId(session, options.project, options.projectDomain))
  }
  if (options.hidden === true) add('os_hidden', 'true')
  return query
}

/** Parses `--sort` such as `name:asc,size:desc`; a key without a direction sorts ascending. */
export function parseSortKeys(sort: string): SortKey[] {
  return sort.split(',').map((part) => {
    const [key = '', direction = 'asc', ...rest] = part.trim().split(':')
    if (key === '') throw new UsageError(`Invalid --sort '${sort}': a sort key is empty.`)
    if ((direction !== 'asc' && direction !== 'desc') || rest.length > 0) {
      throw new UsageError(
        `Invalid --sort '${sort}': '${direction}' is not a sort direction for key '${key}'; ` +
          "use 'asc' or 'desc'.",
      )
    }
    return { key, direction }
  })
}

function formatSortKeys(keys: readonly SortKey[]): string {
  return keys.map(({ key, direction }) => `${key}:${direction}`).join(',')
}

// The openstack CLI filters by property on the client side. pcdctl sends the filters to the
// server too, so this filter only matters when a server ignores one.
function filterByProperties(
  images: readonly ImageRecord[],
  properties: Record<string, string>,
): ImageRecord[] {
  const filters = Object.entries(properties)
  return images.filter((image) =>
    filters.every(([key, value]) => {
      const actual = image[key]
      return actual !== undefined && actual !== null && formatPythonStr(actual) === value
    }),
  )
}

/**
 * Sorts images as the openstack CLI does after fetching them: by the text of each key's value,
 * with a missing value sorting as the text "None".
 */
export function sortImages(
  images: readonly ImageRecord[],
  keys: readonly SortKey[],
): ImageRecord[] {
  let sorted = [...images]
  for (const { key, direction } of [...keys].reverse()) {
    const sign = direction === 'desc' ? -1 : 1
    const text = (image: ImageRecord) => formatPythonStr(image[key] ?? null)
    sorted = sorted.sort((left, right) => sign * compareCodePoints(text(left), text(right)))
  }
  return sorted
}

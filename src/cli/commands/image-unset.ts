import type { Command } from 'commander'
import { setCommandAction, type CliIo, type CommandRuntime } from '../command-runtime.js'
import { addConnectionOptions } from '../connection-config.js'
import type { ImageRecord, PatchOperation } from '../image-client.js'
import { findImage } from '../image-lookup.js'
import { appendValue } from '../output.js'
import { toPointer } from './image-set.js'

interface UnsetOptions {
  property?: string[]
  tag?: string[]
}

const example = `
Example:
  pcdctl image unset my-image --property hw_disk_bus --tag beta`

/** Adds `image unset`: remove extra properties and tags from an image. */
export function defineImageUnsetCommand(image: Command, io: CliIo, result: { exitCode: number }) {
  const command = image
    .command('unset')
    .description('Remove extra properties and tags from an image')
    .argument('<image>', 'image to change, by name or ID')
    .option('--property <key>', 'remove this extra property; repeat for more', appendValue)
    .option('--tag <tag>', 'remove this tag; repeat for more', appendValue)
  addConnectionOptions(command, { hidden: true })
  command.addHelpText('after', example)
  setCommandAction(command, io, result, runImageUnset)
  return command
}

async function runImageUnset(runtime: CommandRuntime, command: Command): Promise<number> {
  const [nameOrId] = command.processedArgs as [string]
  const options = runtime.options as unknown as UnsetOptions
  const images = await runtime.images()
  const image = await findImage(images, nameOrId)

  const { operations, problems } = buildUnsetOperations(image, options)
  if (operations.length > 0) await images.updateImage(image.id, operations)

  for (const problem of problems) runtime.warn(problem)
  return problems.length === 0 ? 0 : 1
}

/**
 * Builds the JSON-patch for `image unset`: one `remove` per property the image has, and one
 * `replace` of the tag list without the removed tags. Properties and tags that the image lacks
 * become problems to report, and do not stop the others.
 */
export function buildUnsetOperations(
  image: ImageRecord,
  options: UnsetOptions,
): { operations: PatchOperation[]; problems: string[] } {
  const operations: PatchOperation[] = []
  const problems: string[] = []

  for (const key of new Set(options.property ?? [])) {
    if (image[key] === undefined) problems.push(`Image ${image.id} has no property '${key}'.`)
    else operations.push({ op: 'remove', path: toPointer(key) })
  }

  const existing = Array.isArray(image['tags']) ? image['tags'].map(String) : []
  const removed = new Set(options.tag ?? [])
  for (const tag of removed) {
    if (!existing.includes(tag)) problems.push(`Image ${image.id} has no tag '${tag}'.`)
  }
  const remainingTags = existing.filter((tag) => !removed.has(tag))
  if (remainingTags.length < existing.length) {
    operations.push({ op: 'replace', path: '/tags', value: remainingTags })
  }
  return { operations, problems }
}

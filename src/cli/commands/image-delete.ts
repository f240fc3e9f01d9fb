import type { Command } from 'commander'
import { setCommandAction, type CliIo, type CommandRuntime } from '../command-runtime.js'
import { addConnectionOptions } from '../connection-config.js'
import { describeError } from '../http-client.js'
import { findImage } from '../image-lookup.js'

const example = `
Example:
  pcdctl image delete old-image 6f1d1d2c-3a57-4b8e-9c0b-5d2f3c1a9e10`

/** Adds `image delete`: delete one or more images. */
export function defineImageDeleteCommand(image: Command, io: CliIo, result: { exitCode: number }) {
  const command = image
    .command('delete')
    .description('Delete images; each is tried even when an earlier one fails')
    .argument('<image...>', 'images to delete, by name or ID')
  addConnectionOptions(command, { hidden: true })
  command.addHelpText('after', example)
  setCommandAction(command, io, result, runImageDelete)
  return command
}

async function runImageDelete(runtime: CommandRuntime, command: Command): Promise<number> {
  const [namesOrIds] = command.processedArgs as [string[]]
  const images = await runtime.images()

  let failures = 0
  for (const nameOrId of namesOrIds) {
    try {
      const image = await findImage(images, nameOrId)
      await images.deleteImage(image.id)
    } catch (error) {
      failures++
      runtime.warn(`Failed to delete image '${nameOrId}': ${describeError(error)}`)
    }
  }

  if (failures === 0) return 0
  runtime.warn(`Failed to delete ${failures} of ${namesOrIds.length} images.`)
  return 1
}

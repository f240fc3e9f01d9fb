import type { Command } from 'commander'
import { setCommandAction, type CliIo, type CommandRuntime } from '../command-runtime.js'
import { addConnectionOptions } from '../connection-config.js'
import { findImage } from '../image-lookup.js'
import { formatHumanSize, toImageShowResult } from '../image-view.js'
import { addShowOutputOptions, writeShow, type OutputOptions } from '../output.js'

interface ShowOptions extends OutputOptions {
  humanReadable?: boolean
}

const example = `
Example:
  pcdctl image show my-image -f json -c id -c status`

/** Adds `image show`: print an image's fields. */
export function defineImageShowCommand(image: Command, io: CliIo, result: { exitCode: number }) {
  const command = image
    .command('show')
    .description("Show an image's fields and extra properties")
    .argument('<image>', 'image to show, by name or ID')
    .option('--human-readable', 'print the size with decimal units, such as 1.5G')
  addShowOutputOptions(command)
  addConnectionOptions(command, { hidden: true })
  command.addHelpText('after', example)
  setCommandAction(command, io, result, runImageShow)
  return command
}

async function runImageShow(runtime: CommandRuntime, command: Command): Promise<number> {
  const [nameOrId] = command.processedArgs as [string]
  const options = runtime.options as unknown as ShowOptions
  const image = await findImage(await runtime.images(), nameOrId)

  if (options.humanReadable === true) {
    const size = image['size']
    image['size'] = formatHumanSize(typeof size === 'number' ? size : null)
  }
  writeShow(runtime.io.stdout, toImageShowResult(image), options)
  return 0
}

import type { Command } from 'commander'
import { setCommandAction, type CliIo, type CommandRuntime } from '../command-runtime.js'
import { addConnectionOptions } from '../connection-config.js'
import { findImage } from '../image-lookup.js'
import { toMemberListResult } from '../image-view.js'
import { addListOutputOptions, writeList, type OutputOptions } from '../output.js'

const example = `
Example:
  pcdctl image member list my-image -f value -c "Member ID"`

/** Adds `image member list`: list the projects an image is shared with. */
export function defineImageMemberListCommand(
  member: Command,
  io: CliIo,
  result: { exitCode: number },
) {
  const command = member
    .command('list')
    .description('List the projects an image is shared with, and their membership status')
    .argument('<image>', 'image, by name or ID')
  addListOutputOptions(command)
  addConnectionOptions(command, { hidden: true })
  command.addHelpText('after', example)
  setCommandAction(command, io, result, runImageMemberList)
  return command
}

async function runImageMemberList(runtime: CommandRuntime, command: Command): Promise<number> {
  const [nameOrId] = command.processedArgs as [string]
  const options = runtime.options as unknown as OutputOptions
  const images = await runtime.images()

  const image = await findImage(images, nameOrId)
  const members = await images.listMembers(image.id)
  writeList(runtime.io.stdout, toMemberListResult(members), options)
  return 0
}

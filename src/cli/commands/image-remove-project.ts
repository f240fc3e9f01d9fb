import type { Command } from 'commander'
import { setCommandAction, type CliIo, type CommandRuntime } from '../command-runtime.js'
import { addConnectionOptions } from '../connection-config.js'
import { findImage, findProjectId } from '../image-lookup.js'

interface RemoveProjectOptions {
  projectDomain?: string
}

const example = `
Example:
  pcdctl image remove project my-image 0b5a8e3c9f6d4a1e8c2b7d9f4e6a1c3b`

/** Adds `image remove project`: stop sharing an image with a project. */
export function defineImageRemoveProjectCommand(
  remove: Command,
  io: CliIo,
  result: { exitCode: number },
) {
  const command = remove
    .command('project')
    .description('Stop sharing an image with a project')
    .argument('<image>', 'shared image, by name or ID')
    .argument('<project>', 'project to stop sharing it with, by ID or by name')
    .option('--project-domain <domain>', 'domain of the project, by name or ID')
  addConnectionOptions(command, { hidden: true })
  command.addHelpText('after', example)
  setCommandAction(command, io, result, runImageRemoveProject)
  return command
}

async function runImageRemoveProject(runtime: CommandRuntime, command: Command): Promise<number> {
  const [nameOrId, project] = command.processedArgs as [string, string]
  const options = runtime.options as RemoveProjectOptions
  const images = await runtime.images()

  const projectId = await findProjectId(await runtime.session(), project, options.projectDomain)
  const image = await findImage(images, nameOrId)
  await images.removeMember(image.id, projectId)
  return 0
}

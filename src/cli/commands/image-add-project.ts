import type { Command } from 'commander'
import { setCommandAction, type CliIo, type CommandRuntime } from '../command-runtime.js'
import { addConnectionOptions } from '../connection-config.js'
import { findImage, findProjectId } from '../image-lookup.js'
import { toMemberShowResult } from '../image-view.js'
import { addShowOutputOptions, writeShow, type OutputOptions } from '../output.js'

interface AddProjectOptions extends OutputOptions {
  projectDomain?: string
}

const example = `
Example:
  pcdctl image add project my-image 0b5a8e3c9f6d4a1e8c2b7d9f4e6a1c3b
  # then, as a user of that project:
  pcdctl image set 6f1d1d2c-3a57-4b8e-9c0b-5d2f3c1a9e10 --accept`

/** Adds `image add project`: share an image with a project. */
export function defineImageAddProjectCommand(
  add: Command,
  io: CliIo,
  result: { exitCode: number },
) {
  const command = add
    .command('project')
    .description(
      'Share an image with a project; the project must accept it before the image is listed',
    )
    .argument('<image>', 'image to share, by name or ID')
    .argument('<project>', 'project to share it with, by ID or by name')
    .option('--project-domain <domain>', 'domain of the project, by name or ID')
  addShowOutputOptions(command)
  addConnectionOptions(command, { hidden: true })
  command.addHelpText('after', example)
  setCommandAction(command, io, result, runImageAddProject)
  return command
}

async function runImageAddProject(runtime: CommandRuntime, command: Command): Promise<number> {
  const [nameOrId, project] = command.processedArgs as [string, string]
  const options = runtime.options as unknown as AddProjectOptions
  const images = await runtime.images()

  const projectId = await findProjectId(await runtime.session(), project, options.projectDomain)
  const image = await findImage(images, nameOrId)
  const member = await images.addMember(image.id, projectId)
  writeShow(runtime.io.stdout, toMemberShowResult(member), options)
  return 0
}

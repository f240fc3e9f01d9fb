import { Command, CommanderError } from 'commander'
import type { CliIo } from './command-runtime.js'
import { defineCacheHostListCommand } from './commands/cache-host-list.js'
import { defineCacheHostShowCommand } from './commands/cache-host-show.js'
import { defineImageAddProjectCommand } from './commands/image-add-project.js'
import { defineImageCacheCommand } from './commands/image-cache.js'
import { defineImageCreateCommand } from './commands/image-create.js'
import { defineImageDeleteCommand } from './commands/image-delete.js'
import { defineImageListCommand } from './commands/image-list.js'
import { defineImageMemberListCommand } from './commands/image-member-list.js'
import { defineImageRemoveProjectCommand } from './commands/image-remove-project.js'
import { defineImageSaveCommand } from './commands/image-save.js'
import { defineImageSetCommand } from './commands/image-set.js'
import { defineImageShowCommand } from './commands/image-show.js'
import { defineImageUnsetCommand } from './commands/image-unset.js'
import { addConnectionOptions } from './connection-config.js'
import { CliError } from './errors.js'
import { pcdctlVersion } from './version.js'

export type { CliIo } from './command-runtime.js'

const overview = `
pcdctl takes the image commands, flags, columns and output formats of the openstack CLI
(python-openstackclient 6.0). It reads the OS_* variables of a project RC file.

Example:
  . admin-openrc.sh
  pcdctl image create --insecure --container-format bare --disk-format qcow2 --public \\
    --file disk.qcow2 my-image
  pcdctl image list --long`

/**
 * Runs pcdctl with `argv` (the arguments after the program name) and returns the exit code:
 * 0 on success, 1 when an operation failed, 2 when the command line is wrong. Results go to
 * `io.stdout`, messages to `io.stderr`.
 */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const result = { exitCode: 0 }
  const program = buildProgram(io, result)
  try {
    await program.parseAsync(argv, { from: 'user' })
    return result.exitCode
  } catch (error) {
    return reportError(error, io, argv.includes('--debug'))
  }
}

function buildProgram(io: CliIo, result: { exitCode: number }): Command {
  const program = new Command('pcdctl')
    .description('Manage images in the Image Library (OpenStack Image API v2)')
    .version(pcdctlVersion, '--version', 'print the version of pcdctl')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .showHelpAfterError('(add --help for usage)')
  addConnectionOptions(program, { hidden: false })
  program.addHelpText('after', overview)

  const image = program.command('image').description('Create, list, change and share images')
  defineImageCreateCommand(image, io, result)
  defineImageListCommand(image, io, result)
  defineImageShowCommand(image, io, result)
  defineImageSetCommand(image, io, result)
  defineImageUnsetCommand(image, io, result)
  defineImageDeleteCommand(image, io, result)
  defineImageSaveCommand(image, io, result)
  defineImageCacheCommand(image, io, result)

  const add = image.command('add').description('Share an image')
  defineImageAddProjectCommand(add, io, result)
  const remove = image.command('remove').description('Stop sharing an image')
  defineImageRemoveProjectCommand(remove, io, result)
  const member = image.command('member').description('Show who an image is shared with')
  defineImageMemberListCommand(member, io, result)

  const cache = program.command('cache').description("Show the hypervisors' image caches")
  const host = cache.command('host').description('Show the cache hosts and what they cache')
  defineCacheHostListCommand(host, io, result)
  defineCacheHostShowCommand(host, io, result)
  return program
}

function reportError(error: unknown, io: CliIo, debug: boolean): number {
  if (error instanceof CommanderError) {
    // Commander has printed its message or the help text already.
    const isHelpRequest =
      error.code === 'commander.helpDisplayed' || error.code === 'commander.version'
    return isHelpRequest ? 0 : 2
  }

  if (error instanceof CliError) {
    io.stderr.write(`${error.message}\n`)
    if (debug && error.cause instanceof Error) io.stderr.write(`${error.cause.stack ?? ''}\n`)
    return error.exitCode
  }

  const detail =
    error instanceof Error
      ? debug
        ? (error.stack ?? error.message)
        : error.message
      : String(error)
  io.stderr.write(`pcdctl: unexpected error: ${detail}\n`)
  return 1
}

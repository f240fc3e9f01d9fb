import type { Command } from 'commander'
import { setCommandAction, type CliIo, type CommandRuntime } from '../command-runtime.js'
import { addConnectionOptions } from '../connection-config.js'
import { toCacheHostShowResult } from '../cache-host-view.js'
import { addShowOutputOptions, writeShow, type OutputOptions } from '../output.js'

const example = `
Example:
  pcdctl cache host show hv-1 -f json -c cached_images`

/** Adds `cache host show`: print one cache host's report, queue and failures (admins). */
export function defineCacheHostShowCommand(host: Command, io: CliIo, result: { exitCode: number }) {
  const command = host
    .command('show')
    .description(
      "Show a cache host's last report with its cached images, and its queued and failed " +
        'images (requires the admin role)',
    )
    .argument('<name>', 'cache host name, as its agent reports it')
  addShowOutputOptions(command)
  addConnectionOptions(command, { hidden: true })
  command.addHelpText('after', example)
  setCommandAction(command, io, result, runCacheHostShow)
  return command
}

async function runCacheHostShow(runtime: CommandRuntime, command: Command): Promise<number> {
  const [name] = command.processedArgs as [string]
  const options = runtime.options as unknown as OutputOptions
  const agent = await (await runtime.cacheAgents()).getAgent(name)
  writeShow(runtime.io.stdout, toCacheHostShowResult(agent), options)
  return 0
}

import type { Command } from 'commander'
import { setCommandAction, type CliIo, type CommandRuntime } from '../command-runtime.js'
import { addConnectionOptions } from '../connection-config.js'
import { toCacheHostListResult } from '../cache-host-view.js'
import { addListOutputOptions, writeList, type OutputOptions } from '../output.js'

interface ListOptions extends OutputOptions {
  long?: boolean
}

const example = `
Example:
  pcdctl cache host list --long -f json`

/** Adds `cache host list`: list the hypervisors' cache hosts (admins). */
export function defineCacheHostListCommand(host: Command, io: CliIo, result: { exitCode: number }) {
  const command = host
    .command('list')
    .description(
      "List the hypervisors' image cache hosts with their last report (requires the admin role)",
    )
    .option('--long', 'add the columns Version, Queued, Max Size, Bytes Fetched and Evictions')
  addListOutputOptions(command)
  addConnectionOptions(command, { hidden: true })
  command.addHelpText('after', example)
  setCommandAction(command, io, result, runCacheHostList)
  return command
}

async function runCacheHostList(runtime: CommandRuntime): Promise<number> {
  const options = runtime.options as unknown as ListOptions
  const agents = await (await runtime.cacheAgents()).listAgents()
  writeList(runtime.io.stdout, toCacheHostListResult(agents, options.long === true), options)
  return 0
}

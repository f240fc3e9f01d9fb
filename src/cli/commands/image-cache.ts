import { Option, type Command } from 'commander'
import { setCommandAction, type CliIo, type CommandRuntime } from '../command-runtime.js'
import { addConnectionOptions } from '../connection-config.js'
import { UsageError } from '../errors.js'
import { findImage } from '../image-lookup.js'
import { appendValue } from '../output.js'

interface CacheOptions {
  allHosts?: boolean
  host?: string[]
}

const example = `
Examples:
  pcdctl image cache --all-hosts my-image
  pcdctl image cache --host hv-1 --host hv-2 my-image`

/** Adds `image cache`: queue an image for pre-caching on hypervisor cache hosts (admins). */
export function defineImageCacheCommand(image: Command, io: CliIo, result: { exitCode: number }) {
  const command = image
    .command('cache')
    .description(
      "Queue an active image for pre-caching on hypervisors' cache hosts (requires the admin " +
        'role); each host fetches it after its next report',
    )
    .argument('<image>', 'image to cache, by name or ID')
    .addOption(
      new Option('--all-hosts', 'queue on every cache host that has reported').conflicts('host'),
    )
    .option('--host <name>', 'queue on this cache host; repeat for more', appendValue)
  addConnectionOptions(command, { hidden: true })
  command.addHelpText('after', example)
  setCommandAction(command, io, result, runImageCache)
  return command
}

async function runImageCache(runtime: CommandRuntime, command: Command): Promise<number> {
  const [nameOrId] = command.processedArgs as [string]
  const options = runtime.options as CacheOptions
  const hosts = options.allHosts === true ? 'all' : (options.host ?? [])
  if (hosts.length === 0) {
    throw new UsageError('No cache hosts given: pass --all-hosts, or --host NAME for each host.')
  }

  const image = await findImage(await runtime.images(), nameOrId)
  const queuedOn = await (await runtime.cacheAgents()).queueImage(image.id, hosts)
  runtime.io.stdout.write(`Queued image ${image.id} for caching on: ${queuedOn.join(', ')}\n`)
  return 0
}

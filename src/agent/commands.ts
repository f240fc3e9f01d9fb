import { mkdir } from 'node:fs/promises'
import { createServer } from 'node:http'
import { hostname } from 'node:os'
import { dirname, resolve } from 'node:path'
import { InvalidArgumentError, Option, type Command } from 'commander'
import type { Logger } from 'pino'
import { isValidAgentName } from '../cache/cache-agent-registry.js'
import { CliError } from '../cli/errors.js'
import { openSession } from '../cli/session.js'
import { ImageClient } from '../cli/image-client.js'
import {
  addConnectionOptions,
  resolveConnectionConfig,
  type ConnectionOptions,
} from '../cli/connection-config.js'
import { createLogger } from '../log.js'
import { serviceVersion } from '../version.js'
import { callAgent } from './agent-client.js'
import { readAgentConfigFile, type ServeSetting } from './config-file.js'
import { snapshotDisk } from './disk-snapshot.js'
import { vmDiskFormats, type VmDiskFormat } from './disk-registry.js'
import { ImageAgent } from './image-agent.js'
import { LibraryClient } from './library-client.js'
import { LibraryReporter } from './library-reporter.js'
import { parseCacheLimit, parseSize } from './sizes.js'
import type { CacheLimit } from './sizes.js'
import { listenOnSocket } from './socket-api.js'

const defaultSocket = '/run/image-library/agent.sock'

/** Adds `agent serve`, `fetch`, `list`, `disk create|delete|list` and `snapshot`. */
export function registerAgentCommands(agent: Command): void {
  defineServe(agent)

  socketOption(agent.command('fetch'))
    .description('print the path of a verified local copy of an image, fetching it on a miss')
    .argument('<image>', 'image name or ID')
    .option('--verify', 'hash the cached copy again even if it looks untouched')
    .addHelpText('after', '\nExample:\n  image-library agent fetch ubuntu-24.04')
    .action(async (image: string, options: { socket: string; verify?: boolean }) => {
      const answer = await callAgent<{ path: string }>(options.socket, 'POST', '/v1/fetch', {
        image,
        verify: options.verify === true,
      })
      process.stdout.write(`${answer.path}\n`)
    })

  socketOption(agent.command('list'))
    .description('list the cached images')
    .action(async (options: { socket: string }) => {
      const { images } = await callAgent<{ images: Record<string, unknown>[] }>(
        options.socket,
        'GET',
        '/v1/images',
      )
      printRows(images, ['image_id', 'size', 'disk_format', 'hits', 'last_used', 'pinned'])
    })

  defineDiskCommands(
    agent.command('disk').description('make and delete VM disks from cached images'),
  )
  defineSnapshot(agent)
}

function defineServe(agent: Command): void {
  const serve = agent
    .command('serve')
    .description("run the hypervisor's image cache and its API on a Unix socket")
    .option('--config <file>', 'TOML file with [agent] settings and an [auth] service account')
    .option('--cache-dir <dir>', 'cache directory')
    .option('--max-size <size>', 'cache limit: bytes (20G, 500GiB) or a share of its disk (80%)')
    .option('--socket <path>', `Unix socket of the agent's API (default ${defaultSocket})`)
    .option('--name <name>', "the agent's name in the library (default: this host's name)")
    .option(
      '--report-interval <seconds>',
      'seconds between reports to the library, 1 to 86400 (default 30)',
    )
    .option(
      '--precache-rate <rate>',
      'bytes per second for pre-cache downloads, e.g. 50M (default no limit)',
    )
    .option(
      '--disk-format <format>',
      'what disk create makes by default: qcow2 (overlay) or raw (copy)',
    )
    .option(
      '--metrics-listen <address:port>',
      'also serve /metrics over HTTP here, e.g. 127.0.0.1:9393',
    )
    .option(
      '--verify-interval <seconds>',
      'rehash a cached copy on a hit after this long (default 86400)',
    )
    .option('--hold <seconds>', 'an image handed out stays unevictable this long (default 300)')
    .option('--log-file <file>', 'JSON-lines log file (besides stderr)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace (default info)')
  addConnectionOptions(serve, { hidden: false })
  serve.addHelpText(
    'after',
    '\nExample:\n  . agent-openrc.sh\n  image-library agent serve --insecure --cache-dir /var/lib/image-cache \\\n' +
      '    --max-size 80% --socket /run/image-library/agent.sock',
  )
  serve.action(async (options: Record<string, unknown>) => runServe(options))
}

async function runServe(flags: Record<string, unknown>): Promise<void> {
  const file =
    typeof flags['config'] === 'string'
      ? await readAgentConfigFile(flags['config'])
      : { agent: {}, auth: {} }
  const setting = (key: ServeSetting): string | undefined => {
    const value = flags[key] ?? file.agent[key]
    return value === undefined ? undefined : String(value)
  }
  const cacheDir = setting('cacheDir')
  const maxSize = setting('maxSize')
  if (cacheDir === undefined || maxSize === undefined) {
    throw new InvalidArgumentError(
      'agent serve needs --cache-dir and --max-size (or cache_dir and max_size in [agent]).',
    )
  }

  // Every setting is checked before the agent touches the cache, so a typo exits with status 2.
  const reportSeconds = reportInterval(setting('reportInterval') ?? '30')
  const agentConfig = {
    cacheDir: resolve(cacheDir),
    limit: usage(parseCacheLimit, maxSize),
    precacheRate:
      setting('precacheRate') === undefined ? Infinity : usage(parseSize, setting('precacheRate')!),
    verifyIntervalMs: seconds(setting('verifyInterval') ?? '86400') * 1000,
    holdMs: seconds(setting('hold') ?? '300') * 1000,
    maxAttempts: 6,
    retryDelayMs: 1000,
    diskFormat: diskFormat(setting('diskFormat') ?? 'qcow2'),
  }
  const agentName = checkAgentName(setting('name') ?? hostname())
  const metricsAddress =
    setting('metricsListen') === undefined ? undefined : listenAddress(setting('metricsListen')!)

  const log = createLogger({
    level: logLevel(setting('logLevel') ?? 'info'),
    file: setting('logFile') ?? null,
    stderr: true,
  })
  const connection = resolveConnectionConfig(flags as ConnectionOptions, {
    ...process.env,
    ...file.auth,
  })
  const library = new LibraryClient(connection, log)
  const agent = await ImageAgent.open(agentConfig, library, log)

  const socketPath = resolve(setting('socket') ?? defaultSocket)
  await mkdir(dirname(socketPath), { recursive: true })
  const server = await listenOnSocket(agent, socketPath, log)
  const metricsServer = await listenForMetrics(agent, metricsAddress, log)
  const reporter = new LibraryReporter(
    agent,
    {
      name: agentName,
      intervalMs: reportSeconds * 1000,
      version: serviceVersion,
    },
    log,
  )
  reporter.start()
  log.info({ op: 'start', socket: socketPath, cacheDir: agent.directory.root }, 'agent started')

  const stop = (signal: string) => {
    log.info({ signal }, 'stopping')
    server.close()
    metricsServer?.close()
    Promise.all([reporter.stop(), agent.close()]).then(
      () => log.flush(() => process.exit(0)),
      (error: unknown) => {
        log.error({ err: error }, 'stop failed')
        log.flush(() => process.exit(1))
      },
    )
  }
  process.once('SIGTERM', () => stop('SIGTERM'))
  process.once('SIGINT', () => stop('SIGINT'))
}

async function listenForMetrics(
  agent: ImageAgent,
  address: { host: string; port: number } | undefined,
  log: Logger,
) {
  if (address === undefined) return undefined
  const server = createServer((request, response) => {
    if (request.url !== '/metrics') {
      response.writeHead(404).end()
      return
    }
    agent.renderMetrics().then(
      (text) => {
        response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
        response.end(text)
      },
      (error: unknown) => {
        log.error({ op: 'metrics', err: error }, 'rendering the metrics failed')
        response.writeHead(500).end()
      },
    )
  })
  await new Promise<void>((done, fail) => {
    server.once('error', (error: Error) =>
      fail(
        new CliError(`Cannot serve metrics on ${address.host}:${address.port}: ${error.message}`),
      ),
    )
    server.listen(address.port, address.host, () => done())
  })
  return server
}

function defineDiskCommands(disk: Command): void {
  socketOption(disk.command('create'))
    .description('make a VM disk from an image: a qcow2 overlay on the cached copy, or a raw copy')
    .argument('<image>', 'image name or ID')
    .argument('<path>', 'the new disk file; it must not exist')
    .requiredOption('--size <size>', 'virtual size of the disk, e.g. 20G; at least the image needs')
    .option('--format <format>', "qcow2 or raw (default: the agent's --disk-format)")
    .addHelpText(
      'after',
      '\nExample:\n  image-library agent disk create ubuntu-24.04 --size 20G /var/lib/vms/vm1.qcow2',
    )
    .action(
      async (
        image: string,
        path: string,
        options: { socket: string; size: string; format?: string },
      ) => {
        const answer = await callAgent<{ path: string }>(options.socket, 'POST', '/v1/disks', {
          image,
          path: resolve(path),
          size: usage(parseSize, options.size),
          ...(options.format === undefined ? {} : { format: diskFormat(options.format) }),
        })
        process.stdout.write(`${answer.path}\n`)
      },
    )

  socketOption(disk.command('delete'))
    .description('delete a VM disk made by disk create, which unpins its base image')
    .argument('<path>', 'the disk file')
    .action(async (path: string, options: { socket: string }) => {
      await callAgent(options.socket, 'DELETE', '/v1/disks', { path: resolve(path) })
    })

  socketOption(disk.command('list'))
    .description('list the VM disks made from cached images')
    .action(async (options: { socket: string }) => {
      const { disks } = await callAgent<{ disks: Record<string, unknown>[] }>(
        options.socket,
        'GET',
        '/v1/disks',
      )
      printRows(disks, ['path', 'image_id', 'format'])
    })
}

function defineSnapshot(agent: Command): void {
  const snapshot = socketOption(agent.command('snapshot'))
    .description("upload a VM disk made by disk create as a snapshot image of the caller's project")
    .requiredOption('--disk <path>', 'the VM disk')
    .requiredOption('--name <name>', 'name of the new image')
    .option('--instance-uuid <id>', 'the VM the disk belongs to')
  addConnectionOptions(snapshot, { hidden: false })
  snapshot.addHelpText(
    'after',
    '\nExample:\n  . project-openrc.sh\n  image-library agent snapshot --insecure --disk /var/lib/vms/vm1.qcow2 --name vm1-snap',
  )
  snapshot.action(async (options: Record<string, unknown>) => {
    const connection = resolveConnectionConfig(options as ConnectionOptions, process.env)
    const session = await openSession(connection, undefined, (line) =>
      process.stderr.write(`${line}\n`),
    )
    // Ctrl-C or a stop by a supervisor still removes the flattened file and the new image.
    const stopped = new AbortController()
    const stop = (signal: NodeJS.Signals) =>
      stopped.abort(new CliError(`Stopped by ${signal}; no snapshot was made.`))
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    try {
      const image = await snapshotDisk(
        {
          socketPath: options['socket'] as string,
          disk: options['disk'] as string,
          name: options['name'] as string,
          instanceUuid: options['instanceUuid'] as string | undefined,
          signal: stopped.signal,
        },
        new ImageClient(session),
      )
      process.stdout.write(`${image.id}\n`)
    } finally {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      session.close()
    }
  })
}

function socketOption(command: Command): Command {
  return command.addOption(
    new Option('--socket <path>', "the agent's Unix socket")
      .env('IMAGE_LIBRARY_AGENT_SOCKET')
      .default(defaultSocket),
  )
}

/** Runs a parser of the sizes module, turning its RangeError into a usage error (exit 2). */
function usage<T extends number | CacheLimit>(parse: (text: string) => T, text: string): T {
  try {
    return parse(text)
  } catch (error) {
    if (error instanceof RangeError) throw new InvalidArgumentError(error.message)
    throw error
  }
}

function diskFormat(value: string): VmDiskFormat {
  if (!(vmDiskFormats as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`disk format must be qcow2 or raw, got '${value}'.`)
  }
  return value as VmDiskFormat
}

/** Checks the agent's name before start, because the library rejects every report otherwise. */
function checkAgentName(name: string): string {
  if (!isValidAgentName(name)) {
    throw new InvalidArgumentError(
      `The agent name '${name}' is invalid: use 1 to 255 letters, digits, dots, underscores ` +
        'and hyphens, starting with a letter or a digit. Set it with --name.',
    )
  }
  return name
}

/** Parses --metrics-listen: `host:port`, where an IPv6 host may be in brackets. */
function listenAddress(value: string): { host: string; port: number } {
  const match = /^(.+):(\d{1,5})$/.exec(value)
  const port = Number(match?.[2])
  if (match === null || port > 65_535) {
    throw new InvalidArgumentError(
      `--metrics-listen needs host:port with a port from 0 to 65535, got '${value}'.`,
    )
  }
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port }
}

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace']

function logLevel(value: string): string {
  if (!logLevels.includes(value)) {
    throw new InvalidArgumentError(
      `--log-level must be fatal, error, warn, info, debug or trace, got '${value}'.`,
    )
  }
  return value
}

function seconds(value: string): number {
  const number = Number(value)
  if (!Number.isFinite(number) || number <= 0) {
    throw new InvalidArgumentError(`'${value}' is not a positive number of seconds.`)
  }
  return number
}

/**
 * Parses --report-interval. The library rejects reports outside 1 to 86400 seconds, and past
 * 2^31 - 1 ms (about 24.8 days) Node's timer overflows and fires after 1 ms, again and again.
 */
function reportInterval(value: string): number {
  const number = seconds(value)
  if (number < 1 || number > 86_400) {
    throw new InvalidArgumentError(
      `--report-interval must be from 1 to 86400 seconds, got '${value}'.`,
    )
  }
  return number
}

function printRows(rows: Record<string, unknown>[], columns: string[]): void {
  const cells = [columns, ...rows.map((row) => columns.map((column) => String(row[column] ?? '')))]
  const widths = columns.map((_, index) => Math.max(...cells.map((row) => row[index]!.length)))
  for (const row of cells) {
    process.stdout.write(
      `${row
        .map((cell, index) => cell.padEnd(widths[index]!))
        .join('  ')
        .trimEnd()}\n`,
    )
  }
}

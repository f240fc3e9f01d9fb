import { Command, InvalidArgumentError } from 'commander'
import { addConfigOptions, overridesFrom, port } from './command-options.js'
import { ConfigError, loadConfig } from './config.js'
import { createLogger } from './log.js'
import { registerAdminCommands } from './admin/commands.js'
import { AgentCallError } from './agent/agent-client.js'
import { registerAgentCommands } from './agent/commands.js'
import { CliError } from './cli/errors.js'
import { HostNameInUseError } from './cluster/host-registry.js'
import { PortInUseError, startService } from './server.js'

async function serve(options: Record<string, unknown>): Promise<void> {
  // The database contains password hashes and the logs contain request details: files the service
  // creates are not readable by other users of the host.
  process.umask(0o027)
  const config = loadConfig(overridesFrom(options), process.env)
  const log = createLogger({ level: config.log.level, file: config.log.file, stderr: true })
  const service = await startService(config, log)
  process.stdout.write(
    `Image API ${service.imageUrl}, identity ${service.identityUrl}/v3\n` +
      `Credentials: source ${service.rcFile}\n`,
  )

  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'stopping')
    service.stop().then(
      () => log.flush(() => process.exit(0)),
      (error: unknown) => {
        log.error({ err: error }, 'stop failed')
        log.flush(() => process.exit(1))
      },
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

export function buildProgram(): Command {
  const program = new Command('image-library')
    .description('Virtual-machine image library speaking the OpenStack Image API v2')
    .showHelpAfterError()

  addConfigOptions(program.command('serve'))
    .description('run the image API (HTTPS, port 9292) and the embedded identity (port 5000)')
    .option('--host <address>', 'listen address (default 0.0.0.0)')
    .option('--port <n>', 'image API port (default 9292; 0 picks a free one)', port)
    .option('--identity-port <n>', 'identity API port (default 5000; 0 picks a free one)', port)
    .option('--public-host <name>', 'host name clients use, for the catalog and certificate')
    .option('--cert <file>', 'TLS certificate chain (PEM) instead of the generated one')
    .option('--key <file>', 'TLS private key (PEM) for --cert')
    .addHelpText('after', '\nExample:\n  image-library serve --data-dir /var/lib/image-library')
    .action(serve)

  registerAdminCommands(
    program.command('admin').description('administer users, projects and the database'),
  )
  registerAgentCommands(
    program
      .command('agent')
      .description("the hypervisor's image cache: fetch, verify, make VM disks"),
  )
  return program
}

buildProgram()
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`image-library: invalid configuration: ${error.message}\n`)
      process.exit(2)
    }
    if (error instanceof InvalidArgumentError) {
      process.stderr.write(`image-library: ${error.message}\n`)
      process.exit(2)
    }
    if (error instanceof HostNameInUseError || error instanceof PortInUseError) {
      process.stderr.write(`image-library: ${error.message}\n`)
      process.exit(1)
    }
    if (error instanceof AgentCallError || error instanceof CliError) {
      process.stderr.write(`image-library: ${error.message}\n`)
      process.exit(error instanceof CliError ? error.exitCode : 1)
    }
    process.stderr.write(`image-library: ${(error as Error).stack ?? String(error)}\n`)
    process.exit(1)
  })

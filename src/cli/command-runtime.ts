import type { Readable, Writable } from 'node:stream'
import { InvalidArgumentError, type Command } from 'commander'
import { resolveConnectionConfig, type ConnectionOptions } from './connection-config.js'
import { CacheAgentClient } from './cache-agent-client.js'
import { ImageClient } from './image-client.js'
import { openSession, type Session } from './session.js'

/** The streams and environment a pcdctl run uses in place of the process's own. */
export interface CliIo {
  stdout: Writable
  stderr: Writable
  stdin: Readable
  env: NodeJS.ProcessEnv
}

/** A command's body: it writes results to stdout and returns the exit code. */
export type CommandHandler = (runtime: CommandRuntime, command: Command) => Promise<number>

/**
 * The context of one command run: its parsed options, the I/O streams, and an authenticated
 * session that is opened on first use and closed after the command's handler returns.
 */
export class CommandRuntime {
  readonly io: CliIo
  readonly options: Record<string, unknown>
  #session: Promise<Session> | undefined

  constructor(io: CliIo, options: Record<string, unknown>) {
    this.io = io
    this.options = options
  }

  /** Authenticates on the first call and returns the same session afterwards. */
  session(): Promise<Session> {
    if (this.#session === undefined) {
      const config = resolveConnectionConfig(this.options as ConnectionOptions, this.io.env)
      const debug = config.debug ? (line: string) => this.warn(line) : undefined
      this.#session = openSession(config, debug, (line) => this.warn(line))
    }
    return this.#session
  }

  /** Returns an Image API client on the session. */
  async images(): Promise<ImageClient> {
    return new ImageClient(await this.session())
  }

  /** Returns a client of the cache agent API on the session. */
  async cacheAgents(): Promise<CacheAgentClient> {
    return new CacheAgentClient(await this.session())
  }

  /** Writes one diagnostic line to stderr. */
  warn(message: string): void {
    this.io.stderr.write(`${message}\n`)
  }

  /** Closes the session's connections if one was opened. */
  async close(): Promise<void> {
    const session = await this.#session?.catch(() => undefined)
    session?.close()
  }
}

/**
 * Sets a command's action to run `handler` with a fresh runtime, storing the exit code in
 * `result`. Errors propagate to the caller of parseAsync, after the session is closed.
 */
export function setCommandAction(
  command: Command,
  io: CliIo,
  result: { exitCode: number },
  handler: CommandHandler,
): void {
  command.action(async (...actionArgs: unknown[]) => {
    const invoked = actionArgs[actionArgs.length - 1] as Command
    const runtime = new CommandRuntime(io, invoked.optsWithGlobals())
    try {
      result.exitCode = await handler(runtime, invoked)
    } finally {
      await runtime.close()
    }
  })
}

/** Parses a repeatable `key=value` option into an object; later keys override earlier ones. */
export function parseKeyValue(
  value: string,
  previous: Record<string, string> | undefined,
): Record<string, string> {
  const separator = value.indexOf('=')
  if (separator <= 0) {
    throw new InvalidArgumentError('Expected key=value.')
  }
  return { ...(previous ?? {}), [value.slice(0, separator)]: value.slice(separator + 1) }
}

/** Parses an option value that must be an integer of 0 or more. */
export function parseNonNegativeInteger(value: string): number {
  if (!/^\d+$/.test(value)) {
    throw new InvalidArgumentError('Expected an integer of 0 or more.')
  }
  return Number(value)
}

/** Parses an option value that must be an integer of 1 or more. */
export function parsePositiveInteger(value: string): number {
  const parsed = parseNonNegativeInteger(value)
  if (parsed === 0) throw new InvalidArgumentError('Expected an integer of 1 or more.')
  return parsed
}

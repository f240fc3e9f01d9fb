import { spawn, type ChildProcess } from 'node:child_process'

type Stdio = ['pipe' | 'ignore', 'pipe' | 'ignore']

/** Stderr kept per command, for the error; rbd prints one line per failed object write. */
const maxStderrChars = 16 * 1024

/** A `rbd` or `ceph` command that exited with a non-zero status or could not start. */
export class CephCommandError extends Error {
  /** The command and subcommand, such as `rbd import`. */
  readonly label: string
  /** The exit status; rbd exits with the errno of its failure (2 ENOENT, 17 EEXIST, ...). */
  readonly exitCode: number | null
  readonly stderr: string

  constructor(label: string, exitCode: number | null, stderr: string, options?: ErrorOptions) {
    const cause = options?.cause instanceof Error ? `: ${options.cause.message}` : ''
    const status = exitCode === null ? `failed${cause}` : `exited with status ${exitCode}`
    const detail = stderr.trim().split('\n').slice(-3).join(' | ')
    super(`${label} ${status}${detail === '' ? '' : `: ${detail}`}`, options)
    this.name = 'CephCommandError'
    this.label = label
    this.exitCode = exitCode
    this.stderr = stderr
  }
}

/**
 * One spawned `rbd` or `ceph` process: no shell, arguments as an array, stderr kept for errors.
 * `exited` resolves once the process is gone and reaped; it never rejects.
 */
export class CephProcess {
  readonly child: ChildProcess
  readonly exited: Promise<number | null>
  readonly #label: string
  #stderr = ''
  #spawnError: Error | null = null

  /** `label` names the command in errors, such as `rbd import`; arguments may hold paths. */
  constructor(binary: string, args: readonly string[], stdio: Stdio, label: string) {
    this.#label = label
    this.child = spawn(binary, args, { stdio: [...stdio, 'pipe'], shell: false })
    this.child.stderr!.setEncoding('utf8')
    this.child.stderr!.on('data', (text: string) => {
      this.#stderr = (this.#stderr + text).slice(-maxStderrChars)
    })
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code) => resolve(this.#spawnError === null ? code : null))
      // A binary that is missing emits only 'error'; without a listener the error would throw.
      this.child.on('error', (error) => {
        this.#spawnError ??= error
        if (this.child.pid === undefined) resolve(null)
      })
    })
  }

  get isRunning(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && !this.#spawnError
  }

  /** Builds the error for a failed exit from the status, the last stderr lines and any spawn error. */
  failure(exitCode: number | null): CephCommandError {
    return new CephCommandError(this.#label, exitCode, this.#stderr, {
      cause: this.#spawnError ?? undefined,
    })
  }

  /** Waits for the exit and throws `CephCommandError` unless the status is 0. */
  async succeeded(): Promise<void> {
    const code = await this.exited
    if (code !== 0) throw this.failure(code)
  }

  /** Ends the process: SIGTERM, then SIGKILL after `graceMs`, and waits until it is reaped. */
  async stop(graceMs: number): Promise<void> {
    if (this.isRunning) this.child.kill('SIGTERM')
    await this.waitForExit(graceMs)
  }

  /** Waits until the process exits by itself, sends SIGKILL after `timeoutMs`, and reaps it. */
  async waitForExit(timeoutMs: number): Promise<number | null> {
    const timer = setTimeout(() => {
      if (this.isRunning) this.child.kill('SIGKILL')
    }, timeoutMs)
    try {
      return await this.exited
    } finally {
      clearTimeout(timer)
    }
  }
}

/**
 * Runs a command to its end and returns its stdout. Throws `CephCommandError` on failure, and
 * when the command runs longer than `timeoutMs`, which kills it. Without the timeout, a ceph or
 * rbd client whose cluster stops responding mid-command waits forever.
 */
export async function runCephCommand(
  binary: string,
  args: readonly string[],
  label: string,
  timeoutMs = 10 * 60_000,
): Promise<string> {
  const command = new CephProcess(binary, args, ['ignore', 'pipe'], label)
  const chunks: Buffer[] = []
  command.child.stdout!.on('data', (chunk: Buffer) => chunks.push(chunk))
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    command.child.kill('SIGKILL')
  }, timeoutMs)
  try {
    await command.succeeded()
  } catch (error) {
    if (!timedOut) throw error
    const seconds = timeoutMs / 1000
    throw new CephCommandError(label, null, '', {
      cause: new Error(`timed out after ${seconds} s and was killed`),
    })
  } finally {
    clearTimeout(timer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

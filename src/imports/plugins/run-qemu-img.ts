import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { constants } from 'node:fs'
import { access } from 'node:fs/promises'
import { delimiter, join } from 'node:path'

/**
 * Address-space limit for qemu-img, in bytes. Glance runs `qemu-img info` under 1 GiB and 2 s
 * of CPU time (QEMU_IMG_PROC_LIMITS in glance/async_/utils.py), so that a crafted header cannot
 * make it allocate or loop without bound.
 */
export const addressSpaceLimitBytes = 1024 * 1024 * 1024

/**
 * Address-space limit for `qemu-img convert`: its I/O threads each reserve stack and heap
 * arenas, and under 1 GiB thread creation failed ("Resource temporarily unavailable") on a
 * loaded machine here, so conversion gets more room while info keeps Glance's limit.
 */
export const convertAddressSpaceLimitBytes = 4 * 1024 * 1024 * 1024

/** Bytes of stderr kept for error messages; qemu-img prints its error last. */
const stderrTailBytes = 8 * 1024
/** Lines of stderr quoted in an error message. */
const stderrMessageLines = 5

export interface RunQemuImgOptions {
  /** Wall-clock time after which the process group is killed, in milliseconds. */
  timeoutMs: number
  /** The timeout to name in a timeout message, when `timeoutMs` is what remains of it. */
  limitMs?: number
  /** RLIMIT_CPU for the process, in seconds; applied only when prlimit is installed. */
  cpuSeconds: number
  /** RLIMIT_AS for the process; `addressSpaceLimitBytes` unless given. */
  addressSpaceBytes?: number
  /** Maximum stdout bytes kept; more output fails the run. 0 discards stdout. */
  maxStdoutBytes: number
  signal?: AbortSignal
}

/**
 * A qemu-img run that failed: a non-zero exit code, a signal or a timeout. The message contains
 * the last lines of stderr, which may name server paths, so it is for logs and not for clients.
 */
export class QemuImgError extends Error {
  readonly exitCode: number | null
  readonly signal: NodeJS.Signals | null
  /** The last lines of stderr, trimmed. */
  readonly stderr: string
  readonly timedOut: boolean

  constructor(
    message: string,
    details: { exitCode: number | null; signal: NodeJS.Signals | null; stderr: string },
    timedOut = false,
  ) {
    super(message)
    this.name = 'QemuImgError'
    this.exitCode = details.exitCode
    this.signal = details.signal
    this.stderr = details.stderr
    this.timedOut = timedOut
  }
}

let prlimitPath: Promise<string | null> | undefined

/** Finds prlimit (util-linux) on PATH once; null when it is not installed. */
export function findPrlimit(): Promise<string | null> {
  prlimitPath ??= findExecutable('prlimit')
  return prlimitPath
}

/**
 * Runs `qemu-img <args>` under the address-space and CPU limits, in its own process group, and
 * returns its stdout. A timeout or an abort kills the whole group and waits for it to exit.
 *
 * Rejects with QemuImgError on failure or timeout, with `signal.reason` on abort, and with a
 * plain Error when qemu-img cannot be started.
 */
export async function runQemuImg(args: string[], options: RunQemuImgOptions): Promise<string> {
  options.signal?.throwIfAborted()
  const prlimit = await findPrlimit()
  const command =
    prlimit === null
      ? ['qemu-img', ...args]
      : [
          prlimit,
          `--as=${options.addressSpaceBytes ?? addressSpaceLimitBytes}`,
          `--cpu=${options.cpuSeconds}`,
          '--',
          'qemu-img',
          ...args,
        ]
  return new QemuImgProcess(command, args[0] ?? '', options).result
}

/** One spawned qemu-img, with the bookkeeping to settle its result once. */
class QemuImgProcess {
  readonly result: Promise<string>
  readonly #operation: string
  readonly #options: RunQemuImgOptions
  readonly #child: ChildProcess
  readonly #timer: NodeJS.Timeout
  readonly #stdout: Buffer[] = []
  #stdoutBytes = 0
  #stderr = Buffer.alloc(0)
  #timedOut = false
  #failure: Error | undefined
  #settled = false
  #resolve!: (stdout: string) => void
  #reject!: (error: unknown) => void
  readonly #onAbort = () => this.#killGroup()

  constructor(command: string[], operation: string, options: RunQemuImgOptions) {
    this.#operation = operation
    this.#options = options
    this.result = new Promise<string>((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })

    // detached puts qemu-img in a new process group (setsid), so a kill reaches everything it
    // started. LC_ALL=C keeps its messages in English for logs.
    this.#child = spawn(command[0]!, command.slice(1), {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    })
    this.#timer = setTimeout(() => this.#timeOut(), Math.max(0, options.timeoutMs))
    options.signal?.addEventListener('abort', this.#onAbort, { once: true })

    this.#child.stdout?.on('data', (data: Buffer) => this.#collectStdout(data))
    this.#child.stderr?.on('data', (data: Buffer) => this.#collectStderr(data))
    this.#child.once('error', (error) => this.#onSpawnError(error))
    this.#child.once('close', (code, signal) => this.#onClose(code, signal))
  }

  #timeOut(): void {
    if (this.#hasExited()) return
    this.#timedOut = true
    this.#killGroup()
  }

  #hasExited(): boolean {
    return this.#child.exitCode !== null || this.#child.signalCode !== null
  }

  #killGroup(): void {
    const pid = this.#child.pid
    if (pid === undefined || this.#hasExited()) return
    try {
      process.kill(-pid, 'SIGKILL')
    } catch (error) {
      // ESRCH: the group has exited between the check and the kill.
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error
    }
  }

  #collectStdout(data: Buffer): void {
    this.#stdoutBytes += data.length
    if (this.#stdoutBytes <= this.#options.maxStdoutBytes) {
      this.#stdout.push(data)
      return
    }
    if (this.#failure === undefined && this.#options.maxStdoutBytes > 0) {
      this.#failure = new Error(
        `qemu-img ${this.#operation} wrote more than ${this.#options.maxStdoutBytes} bytes ` +
          'to stdout; its output was discarded.',
      )
      this.#killGroup()
    }
  }

  #collectStderr(data: Buffer): void {
    const joined = Buffer.concat([this.#stderr, data])
    this.#stderr = joined.subarray(Math.max(0, joined.length - stderrTailBytes))
  }

  #onSpawnError(error: Error): void {
    this.#settle(() =>
      this.#reject(new Error(`qemu-img could not be started: ${error.message}`, { cause: error })),
    )
  }

  #onClose(code: number | null, signal: NodeJS.Signals | null): void {
    this.#settle(() => {
      const abortSignal = this.#options.signal
      if (abortSignal?.aborted) return this.#reject(abortSignal.reason)
      if (this.#failure !== undefined) return this.#reject(this.#failure)

      const stderr = lastLines(this.#stderr.toString('utf8'), stderrMessageLines)
      const details = { exitCode: code, signal, stderr }
      if (this.#timedOut) {
        const limitMs = this.#options.limitMs ?? this.#options.timeoutMs
        const message = `qemu-img ${this.#operation} timed out after its limit of ${limitMs} ms`
        return this.#reject(new QemuImgError(message, details, true))
      }
      if (code !== 0) return this.#reject(new QemuImgError(this.#failureMessage(details), details))

      this.#resolve(Buffer.concat(this.#stdout).toString('utf8'))
    })
  }

  #failureMessage(details: {
    exitCode: number | null
    signal: NodeJS.Signals | null
    stderr: string
  }): string {
    const operation = `qemu-img ${this.#operation}`
    const output = details.stderr === '' ? 'no output' : details.stderr.replaceAll('\n', ' | ')
    if (details.signal === 'SIGXCPU') {
      const limit = `${this.#options.cpuSeconds} s`
      return `${operation} exceeded its CPU time limit of ${limit}; stderr: ${output}`
    }
    if (details.signal !== null) {
      return `${operation} was killed by ${details.signal}; stderr: ${output}`
    }
    return `${operation} failed with exit code ${details.exitCode}; stderr: ${output}`
  }

  #settle(finish: () => void): void {
    if (this.#settled) return
    this.#settled = true
    clearTimeout(this.#timer)
    this.#options.signal?.removeEventListener('abort', this.#onAbort)
    finish()
  }
}

/** Returns the last `count` non-empty lines of `text`, each trimmed. */
function lastLines(text: string, count: number): string {
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
  return lines.slice(-count).join('\n')
}

async function findExecutable(name: string): Promise<string | null> {
  for (const directory of (process.env.PATH ?? '').split(delimiter)) {
    if (directory === '') continue
    const candidate = join(directory, name)
    try {
      await access(candidate, constants.X_OK)
      return candidate
    } catch {
      continue
    }
  }
  return null
}

import { spawn } from 'node:child_process'
import { spawnSync } from 'node:child_process'
import { secondsSince } from './https-client.js'

export interface CommandRun {
  seconds: number
  stdout: string
}

export interface TimeCommandOptions {
  /** Sends stdout to /dev/null, for commands that write bulk data there. */
  discardStdout?: boolean
}

/** Runs a command to completion and times it; throws when it exits non-zero. */
export function timeCommand(
  command: string,
  args: string[],
  options: TimeCommandOptions = {},
): Promise<CommandRun> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint()
    const stdoutMode = options.discardStdout ? 'ignore' : 'pipe'
    const child = spawn(command, args, { stdio: ['ignore', stdoutMode, 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout?.on(
      'data',
      (chunk: Buffer) => (stdout = (stdout + chunk.toString()).slice(-65536)),
    )
    child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4096)))
    child.once('error', reject)
    child.once('close', (code, signal) => {
      const seconds = secondsSince(started)
      if (code === 0) resolve({ seconds, stdout })
      else
        reject(new Error(`${command} ${args.join(' ')} failed with ${signal ?? code}: ${stderr}`))
    })
  })
}

/** Returns true when `command` is on the PATH. */
export function hasCommand(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0
}

/** The figures that wrk printed for one run. */
export interface WrkResult {
  requestsPerSecond: number
  requests: number
  /** Responses with a status outside 2xx and 3xx, plus socket errors. */
  failures: number
  latencyAverage: string
  output: string
}

export interface WrkOptions {
  url: string
  headers: string[]
  connections: number
  seconds: number
  /** A Lua script that picks each request's path. */
  scriptFile: string
}

/**
 * Runs wrk with one thread, which leaves the second core of a 2-core machine to the server.
 * wrk does not verify the server certificate, which is fine on loopback.
 */
export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const args = [
    '-t1',
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    '-s',
    options.scriptFile,
  ]
  for (const header of options.headers) args.push('-H', header)
  const { stdout } = await timeCommand('wrk', [...args, options.url])

  const rate = /^Requests\/sec:\s+([\d.]+)/m.exec(stdout)
  const total = /^\s*(\d+) requests in /m.exec(stdout)
  if (rate === null || total === null)
    throw new Error(`cannot read the request rate from wrk's output:\n${stdout}`)
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(stdout)
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(
    stdout,
  )
  const errorCount =
    socketErrors === null ? 0 : socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0)
  return {
    requestsPerSecond: Number(rate[1]),
    requests: Number(total[1]),
    failures: Number(non2xx?.[1] ?? 0) + errorCount,
    latencyAverage: /^\s+Latency\s+(\S+)/m.exec(stdout)?.[1] ?? '?',
    output: stdout,
  }
}

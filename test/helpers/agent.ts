import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { callAgent } from '../../src/agent/agent-client.js'
import { imageLibraryBin, type RunningServer } from './server.js'

export interface RunningAgent {
  name: string
  cacheDir: string
  socket: string
  pid: number
  stderr(): string
  /** Calls the agent's socket API. */
  call<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T>
  /**
   * Stops the agent with SIGTERM (SIGKILL after 10 s), waits for it to exit, and removes the
   * cache directory unless the caller gave it.
   */
  stop(): Promise<number | null>
}

export interface AgentOptions {
  name: string
  /** A cache directory to reuse (for restart tests); a new temporary one otherwise. */
  cacheDir?: string
  maxSize?: string
  /** The OS_* variables; the server's admin RC file by default. */
  env?: Record<string, string>
  /** A network namespace to run the agent in, with `ip netns exec`. */
  namespace?: string
  extraArgs?: string[]
}

/** Starts `image-library agent serve` against `server` and waits until its socket accepts calls. */
export async function startAgent(
  server: RunningServer,
  options: AgentOptions,
): Promise<RunningAgent> {
  const cacheDir = options.cacheDir ?? (await mkdtemp(join(tmpdir(), 'image-library-agent-')))
  const socket = join(cacheDir, 'agent.sock')
  const args = [imageLibraryBin, 'agent', 'serve', '--cache-dir', cacheDir, '--socket', socket]
  args.push('--max-size', options.maxSize ?? '1G', '--name', options.name, '--os-cacert')
  args.push(join(server.dataDir, 'tls', 'ca.pem'), ...(options.extraArgs ?? []))
  const command = [process.execPath, ...args]
  if (options.namespace !== undefined) command.unshift('ip', 'netns', 'exec', options.namespace)
  const child = spawn(command[0]!, command.slice(1), {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { PATH: process.env.PATH, ...(options.env ?? server.env) },
  })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  await waitForSocket(child, socket, () => stderr)
  return {
    name: options.name,
    cacheDir,
    socket,
    pid: child.pid!,
    stderr: () => stderr,
    call: (method, path, body) => callAgent(socket, method, path, body),
    stop: async () => {
      const code = await stopChild(child)
      if (options.cacheDir === undefined) await rm(cacheDir, { recursive: true, force: true })
      return code
    },
  }
}

async function waitForSocket(child: ChildProcess, socket: string, stderr: () => string) {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`agent exited with ${child.exitCode}:\n${stderr()}`)
    try {
      await callAgent(socket, 'GET', '/v1/status')
      return
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  child.kill('SIGKILL')
  throw new Error(`agent did not answer within 30 s:\n${stderr()}`)
}

function stopChild(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode)
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve(code)
    })
    child.kill('SIGTERM')
  })
}

/** Returns the bytes of an image's data that the library's access log records as sent. */
export function bytesServed(server: RunningServer, imageId: string): number {
  let total = 0
  for (const line of server.stderr().split('\n')) {
    if (!line.includes(imageId) || !line.startsWith('{')) continue
    const entry = JSON.parse(line) as Record<string, unknown>
    const isDownload = entry['method'] === 'GET' && entry['route'] === '/v2/images/:id/file'
    if (isDownload && entry['imageId'] === imageId) total += Number(entry['bytesOut'] ?? 0)
  }
  return total
}

import { spawn, type ChildProcess } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { sendJson, type Target } from './https-client.js'

/** An `image-library serve` process started for the benchmark. */
export interface BenchServer {
  pid: number
  dataDir: string
  imageOrigin: string
  identityOrigin: string
  ca: Buffer
  /** Directory of the file store's blobs, for the reference server. */
  blobDirectory: string
  /** The service's JSON-lines log, `<dataDir>/logs/image-library.log` by default. */
  logFile: string
  /** Stops the process with SIGTERM (SIGKILL after 15 s) and waits for it to exit. */
  stop(): Promise<void>
}

export interface ServerOptions {
  repoRoot: string
  dataDir: string
  /** Directory for a V8 CPU profile of the server, written when it stops; none when absent. */
  cpuProfileDir?: string
  /** Contents of `<dataDir>/image-library.toml`, written before the start; none when absent. */
  configToml?: string
  /** The service's log level; `warn` when absent, which leaves out the access lines. */
  logLevel?: string
}

const startTimeoutMs = 60_000
const listeningLine = /^Image API (https:\/\/\S+), identity (https:\/\/\S+)\/v3$/m

/** Starts the service on loopback with free ports and resolves once it listens. */
export async function startServer(options: ServerOptions): Promise<BenchServer> {
  if (options.configToml !== undefined) {
    await writeFile(join(options.dataDir, 'image-library.toml'), options.configToml)
  }
  const profile =
    options.cpuProfileDir === undefined
      ? []
      : ['--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir]
  // The V8 flag is the one in bin/image-library's shebang, which a call through node skips.
  const args = [
    '--max-semi-space-size=2',
    ...profile,
    join(options.repoRoot, 'bin', 'image-library'),
    'serve',
  ]
  args.push(
    '--data-dir',
    options.dataDir,
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--identity-port',
    '0',
  )

  // At warn level the service logs no access lines, so logging does not weigh on the numbers.
  const child = spawn(process.execPath, args, {
    cwd: options.repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, IMAGE_LIBRARY_LOG_LEVEL: options.logLevel ?? 'warn' },
  })
  const stderr = keepTail(child)
  const [imageOrigin, identityOrigin] = await waitForListening(child, stderr)

  return {
    pid: child.pid!,
    dataDir: options.dataDir,
    imageOrigin,
    identityOrigin,
    ca: await readFile(join(options.dataDir, 'tls', 'ca.pem')),
    blobDirectory: join(options.dataDir, 'images'),
    // NOTE: a `[log] file` in configToml moves the log elsewhere; no bench part sets one.
    logFile: join(options.dataDir, 'logs', 'image-library.log'),
    stop: () => stopChild(child, 'image-library'),
  }
}

/**
 * Reads the `export NAME=value` lines of `<dataDir>/admin-openrc.sh`, whose values are bare
 * words or single-quoted shell strings, into a map of the OS_* variables.
 */
export async function readAdminOpenrc(server: BenchServer): Promise<Record<string, string>> {
  const rc = await readFile(join(server.dataDir, 'admin-openrc.sh'), 'utf8')
  const variables: Record<string, string> = {}
  for (const match of rc.matchAll(/^export (\w+)=(?:'((?:[^']|'\\'')*)'|(\S*))$/gm)) {
    variables[match[1]!] = (match[2] ?? match[3] ?? '').replaceAll(`'\\''`, "'")
  }
  return variables
}

/** Reads the admin password from `<dataDir>/admin-openrc.sh` and gets a project-scoped token. */
export async function issueAdminToken(server: BenchServer): Promise<string> {
  const password = (await readAdminOpenrc(server))['OS_PASSWORD']
  if (password === undefined)
    throw new Error(`OS_PASSWORD is missing from ${server.dataDir}/admin-openrc.sh`)

  const domain = { name: 'Default' }
  const body = {
    auth: {
      identity: { methods: ['password'], password: { user: { name: 'admin', domain, password } } },
      scope: { project: { name: 'admin', domain } },
    },
  }
  const target: Target = { origin: server.identityOrigin, ca: server.ca }
  const response = await sendJson(target, 'POST', '/v3/auth/tokens', null, body)
  const token = response.headers['x-subject-token']
  if (response.status !== 201 || typeof token !== 'string') {
    throw new Error(`token request returned ${response.status}: ${JSON.stringify(response.body)}`)
  }
  return token
}

/** Creates a raw, bare image record without data and returns its id. */
export async function createImage(target: Target, token: string, name: string): Promise<string> {
  const body = { name, disk_format: 'raw', container_format: 'bare' }
  const response = await sendJson(target, 'POST', '/v2/images', token, body)
  const id = (response.body as { id?: unknown }).id
  if (response.status !== 201 || typeof id !== 'string') {
    throw new Error(`POST /v2/images returned ${response.status}: ${JSON.stringify(response.body)}`)
  }
  return id
}

/** Keeps the last 8 KiB of the child's stderr, for error messages, and drains the rest. */
export function keepTail(child: ChildProcess): () => string {
  let tail = ''
  child.stderr!.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-8192)
  })
  return () => tail
}

function waitForListening(child: ChildProcess, stderr: () => string): Promise<[string, string]> {
  return new Promise((resolve, reject) => {
    let stdout = ''
    const fail = (reason: string) => {
      clearTimeout(timer)
      child.kill('SIGKILL')
      reject(new Error(`image-library did not start: ${reason}\n${stderr()}`))
    }
    const timer = setTimeout(
      () => fail(`no listening line within ${startTimeoutMs / 1000} s`),
      startTimeoutMs,
    )

    child.once('exit', (code, signal) => fail(`exited with ${signal ?? code}`))
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8')
      const match = listeningLine.exec(stdout)
      if (match === null) return
      clearTimeout(timer)
      child.removeAllListeners('exit')
      resolve([match[1]!, match[2]!])
    })
  })
}

/** Sends SIGTERM, then SIGKILL if the process is still running after 15 s. */
export async function stopChild(child: ChildProcess, name: string): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => {
    process.stderr.write(
      `bench: ${name} (pid ${child.pid}) ignored SIGTERM for 15 s; sending SIGKILL\n`,
    )
    child.kill('SIGKILL')
  }, 15_000)
  await exited
  clearTimeout(timer)
}

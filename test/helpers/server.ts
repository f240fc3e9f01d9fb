import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root, found from this compiled file in dist/test/helpers. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
export const imageLibraryBin = join(repoRoot, 'bin', 'image-library')
export const pcdctlBin = join(repoRoot, 'bin', 'pcdctl')

export interface RunningServer {
  dataDir: string
  /** The `--database-url` given to the server, which `admin` also gets, or `null`. */
  databaseUrl: string | null
  imageUrl: string
  identityUrl: string
  /** Process id of the server, for tests that kill it with a signal of their own. */
  pid: number
  /** The OS_* variables of `<dataDir>/admin-openrc.sh`. */
  env: Record<string, string>
  /** The CA certificate clients trust. */
  ca: Buffer
  /** Everything the server printed to stderr (its log lines). */
  stderr(): string
  /** Stops the server with SIGTERM and waits for it to exit; keeps the data directory. */
  kill(): Promise<number | null>
  /** Stops the server and removes its data directory. */
  stop(): Promise<void>
}

export interface StartOptions {
  /** Reuse a data directory (for restart tests); a new temporary one otherwise. */
  dataDir?: string
  /** Contents of `image-library.toml`, written before the start. */
  configToml?: string
  /** Passed as `--database-url` to `serve` and `admin`. Without it, SQLite in the data directory. */
  databaseUrl?: string
  extraArgs?: string[]
  /** Address to listen on; 127.0.0.1 by default. */
  host?: string
  /** A network namespace to run the server in, with `ip netns exec`. */
  namespace?: string
}

/** Parses `export NAME='value'` lines of an RC file. */
export function parseRcFile(text: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const match of text.matchAll(/^export (\w+)=(?:'((?:[^']|'\\'')*)'|(\S*))$/gm)) {
    env[match[1]!] = (match[2] ?? match[3] ?? '').replaceAll(`'\\''`, "'")
  }
  return env
}

/** Starts `image-library serve` on loopback with free ports and waits until it listens. */
export async function startServer(options: StartOptions = {}): Promise<RunningServer> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'image-library-test-')))
  if (options.configToml !== undefined) {
    await writeFile(join(dataDir, 'image-library.toml'), options.configToml)
  }
  const args = ['serve', '--data-dir', dataDir, '--host', options.host ?? '127.0.0.1']
  args.push('--port', '0', '--identity-port', '0', ...(options.extraArgs ?? []))
  if (options.databaseUrl !== undefined) args.push('--database-url', options.databaseUrl)
  const command = [process.execPath, imageLibraryBin, ...args]
  if (options.namespace !== undefined) command.unshift('ip', 'netns', 'exec', options.namespace)
  const child = spawn(command[0]!, command.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, IMAGE_LIBRARY_LOG_LEVEL: process.env.IMAGE_LIBRARY_LOG_LEVEL ?? 'info' },
  })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))

  let urls: Awaited<ReturnType<typeof waitForUrls>>
  try {
    urls = await waitForUrls(child, () => stderr)
  } catch (error) {
    // A test that expects the start to fail must not leave a temporary data directory behind.
    await stopChild(child)
    if (options.dataDir === undefined) await rm(dataDir, { recursive: true, force: true })
    throw error
  }
  const env = parseRcFile(await readFile(join(dataDir, 'admin-openrc.sh'), 'utf8'))
  const ca = await readFile(join(dataDir, 'tls', 'ca.pem'))
  const kill = () => stopChild(child)
  return {
    dataDir,
    databaseUrl: options.databaseUrl ?? null,
    ...urls,
    pid: child.pid!,
    env,
    ca,
    stderr: () => stderr,
    kill,
    async stop() {
      await kill()
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}

function waitForUrls(
  child: ChildProcess,
  stderr: () => string,
): Promise<{ imageUrl: string; identityUrl: string }> {
  return new Promise((resolvePromise, reject) => {
    let stdout = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`server did not start within 30 s; stderr:\n${stderr()}`))
    }, 30_000)
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      const match = /Image API (\S+), identity (\S+)\/v3/.exec(stdout)
      if (match !== null) {
        clearTimeout(timer)
        resolvePromise({ imageUrl: match[1]!, identityUrl: match[2]! })
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`server exited with ${code} before listening; stderr:\n${stderr()}`))
    })
  })
}

function stopChild(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode)
  return new Promise((resolvePromise) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolvePromise(code)
    })
    child.kill('SIGTERM')
  })
}

/** Runs `image-library admin ...` against the server's data directory; throws on failure. */
export async function admin(server: RunningServer, args: string[]): Promise<string> {
  const database = server.databaseUrl === null ? [] : ['--database-url', server.databaseUrl]
  const child = spawn(
    process.execPath,
    [imageLibraryBin, 'admin', '--data-dir', server.dataDir, ...database, ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const code = await new Promise<number | null>((done) => child.once('exit', done))
  if (code !== 0)
    throw new Error(`image-library admin ${args.join(' ')} failed (${code}): ${stderr}`)
  return stdout
}

export interface Tenant {
  username: string
  password: string
  project: string
  projectId: string
}

/** Creates a project and a user with the member role on it. */
export async function createTenant(server: RunningServer, name: string): Promise<Tenant> {
  const [project] = JSON.parse(await admin(server, ['-f', 'json', 'project', 'create', name])) as {
    id: string
  }[]
  const password = `${name}-secret`
  await admin(server, ['user', 'create', name, '--password', password, '--project', name])
  return { username: name, password, project: name, projectId: project!.id }
}

import { execFile, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { appendFile, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'

const run = promisify(execFile)

/**
 * A throwaway PostgreSQL cluster that listens on 127.0.0.1 only, made for one test process.
 * Its superuser `postgres` logs in over TCP with a random password.
 */
export interface PostgresCluster {
  port: number
  password: string
  /** The `postgresql://` URL of a database in the cluster, at 127.0.0.1 or `host`. */
  url(database: string, host?: string): string
  /** Creates an empty database and returns its URL, at 127.0.0.1 or `host`. */
  createDatabase(host?: string): Promise<string>
}

/** A second address to listen on, and the network whose clients may log in through it. */
export interface PostgresNetwork {
  address: string
  cidr: string
}

/** Where the server programs are and which user runs them. */
interface Installation {
  binDir: string
  /** The `postgres` user when the tests run as root, since PostgreSQL refuses to run as root. */
  runAs: { name: string; uid: number; gid: number } | null
}

const installation = findInstallation()

/** Why PostgreSQL tests cannot run on this machine, or `null` when they can. */
export const postgresSkipReason: string | null =
  typeof installation === 'string' ? installation : null

let cluster: Promise<RunningCluster> | null = null

/**
 * Starts this process's cluster on first use and returns it. Later calls share it. With
 * `network`, the first call also makes it listen on that address, for hosts in network
 * namespaces.
 */
export function startPostgres(network: PostgresNetwork | null = null): Promise<PostgresCluster> {
  if (typeof installation === 'string') {
    return Promise.reject(new Error(`PostgreSQL tests cannot run: ${installation}`))
  }
  cluster ??= startCluster(installation, network)
  return cluster
}

/** Stops the cluster, if one was started, and removes its files. */
export async function stopPostgres(): Promise<void> {
  const started = cluster
  cluster = null
  if (started !== null) await (await started).stop()
}

function findInstallation(): Installation | string {
  const binDir = findBinDir()
  if (binDir === null) {
    return 'PostgreSQL is not installed (the Debian postgresql package provides initdb and pg_ctl)'
  }
  if (process.getuid?.() !== 0) return { binDir, runAs: null }

  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' })
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' })
  if (uid.status !== 0 || gid.status !== 0) {
    return 'the tests run as root, and PostgreSQL refuses root, but there is no postgres user'
  }
  const runAs = { name: 'postgres', uid: Number(uid.stdout), gid: Number(gid.stdout) }
  return { binDir, runAs }
}

/** Debian's versioned directories first (newest version), then `pg_config --bindir`. */
function findBinDir(): string | null {
  const debianRoot = '/usr/lib/postgresql'
  if (existsSync(debianRoot)) {
    const versions = readdirSync(debianRoot)
      .filter((name) => /^\d+$/.test(name))
      .sort((a, b) => Number(b) - Number(a))
    for (const version of versions) {
      const binDir = join(debianRoot, version, 'bin')
      if (existsSync(join(binDir, 'initdb')) && existsSync(join(binDir, 'pg_ctl'))) return binDir
    }
  }
  const pgConfig = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' })
  const binDir = pgConfig.status === 0 ? pgConfig.stdout.trim() : ''
  return binDir !== '' && existsSync(join(binDir, 'initdb')) ? binDir : null
}

interface RunningCluster extends PostgresCluster {
  stop(): Promise<void>
}

async function startCluster(
  install: Installation,
  network: PostgresNetwork | null,
): Promise<RunningCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'image-library-pg-'))
  const dataDir = join(dir, 'data')
  const socketDir = join(dir, 'socket')
  const password = randomBytes(12).toString('hex')
  const server = (program: string, args: string[]) =>
    runServerProgram(install, program, args).catch(async (error: unknown) => {
      const log = await readFile(join(dir, 'server.log'), 'utf8').catch(() => '')
      throw new Error(`${program} failed. Server log:\n${log}`, { cause: error })
    })

  await mkdir(socketDir)
  await writeFile(join(dir, 'password'), password, { mode: 0o600 })
  if (install.runAs !== null) {
    for (const path of [dir, socketDir, join(dir, 'password')]) {
      await chown(path, install.runAs.uid, install.runAs.gid)
    }
  }
  await initCluster(server, dataDir, join(dir, 'password'))
  if (network !== null) {
    await appendFile(join(dataDir, 'pg_hba.conf'), `host all all ${network.cidr} scram-sha-256\n`)
  }
  const listen = ['127.0.0.1', ...(network === null ? [] : [network.address])].join(',')

  // A free port can be taken by another process before the server binds it, so try again.
  let port = 0
  for (let attempt = 1; ; attempt++) {
    port = await findFreePort()
    const options = [
      `-c listen_addresses=${listen}`,
      `-c port=${port}`,
      `-c unix_socket_directories=${socketDir}`,
      // Durability does not matter for a cluster that lives as long as one test process.
      '-c fsync=off -c synchronous_commit=off -c full_page_writes=off',
    ].join(' ')
    const logFile = join(dir, 'server.log')
    const started = await server('pg_ctl', [
      '-D',
      dataDir,
      '-l',
      logFile,
      '-o',
      options,
      '-w',
      '-t',
      '30',
      'start',
    ]).then(
      () => true,
      (error: unknown) => {
        if (attempt === 3) throw error
        return false
      },
    )
    if (started) break
  }

  const stopSync = () => {
    runServerProgramSync(install, 'pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop'])
    rmSync(dir, { recursive: true, force: true })
  }
  // A test process that ends without its after() hooks still takes the cluster down.
  process.once('exit', stopSync)

  const url = (database: string, host = '127.0.0.1') =>
    `postgresql://postgres:${password}@${host}:${port}/${database}`
  let databases = 0
  return {
    port,
    password,
    url,
    async createDatabase(host?: string) {
      databases += 1
      const name = `test_${databases}`
      const client = new pg.Client({ connectionString: url('postgres') })
      await client.connect()
      try {
        await client.query(`create database ${name}`)
      } finally {
        await client.end()
      }
      return url(name, host)
    },
    async stop() {
      process.removeListener('exit', stopSync)
      await server('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', 'stop'])
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/**
 * Creates the cluster with an ICU English collation by default, as a database created on a
 * typical English-locale host sorts, so that tests notice text sorted by locale rather than by
 * byte. Without ICU support it falls back to the C locale.
 */
async function initCluster(
  server: (program: string, args: string[]) => Promise<unknown>,
  dataDir: string,
  passwordFile: string,
): Promise<void> {
  const common = ['-D', dataDir, '-U', 'postgres', '--pwfile', passwordFile, '-E', 'UTF8']
  const auth = ['--auth-local', 'trust', '--auth-host', 'scram-sha-256', '--no-sync']
  try {
    await server('initdb', [
      ...common,
      ...auth,
      '--locale-provider=icu',
      '--icu-locale=en-US',
      '--locale=C.UTF-8',
    ])
  } catch {
    await rm(dataDir, { recursive: true, force: true })
    await server('initdb', [...common, ...auth, '--locale=C'])
  }
}

function serverCommand(install: Installation, program: string, args: string[]) {
  const path = join(install.binDir, program)
  if (install.runAs === null) return { command: path, args }
  return { command: 'runuser', args: ['-u', install.runAs.name, '--', path, ...args] }
}

async function runServerProgram(install: Installation, program: string, args: string[]) {
  const { command, args: fullArgs } = serverCommand(install, program, args)
  // The server's working directory must be readable by the postgres user.
  await run(command, fullArgs, { cwd: '/', timeout: 60_000 })
}

function runServerProgramSync(install: Installation, program: string, args: string[]): void {
  const { command, args: fullArgs } = serverCommand(install, program, args)
  spawnSync(command, fullArgs, { cwd: '/', stdio: 'ignore', timeout: 30_000 })
}

function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      probe.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
    })
  })
}

import { execFile } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** scripts/ceph.sh, found from this file's compiled copy in dist/src/store/testing. */
const cephScript = fileURLToPath(new URL('../../../../scripts/ceph.sh', import.meta.url))

const requiredCommands = ['ceph-mon', 'ceph-osd', 'ceph-mgr', 'radosgw', 'ceph', 'rbd']
/** Includes installing the packages with apt-get when they are missing. */
const startTimeoutMs = 10 * 60 * 1000

/** A throwaway cluster that scripts/ceph.sh started; see that script for what it contains. */
export interface CephCluster {
  directory: string
  cephConf: string
  /** The keyring of client.admin (and of every daemon). */
  keyring: string
  /** An empty pool for RBD images. */
  pool: string
  s3: { endpoint: string; region: string; accessKey: string; secretKey: string }
  /** Stops the daemons and removes the directory; safe to call twice. */
  stop(): Promise<void>
}

/**
 * Returns why Ceph tests cannot run here, or `undefined` when they can: the Ceph commands are
 * installed, or this process runs as root and scripts/ceph.sh can install them.
 */
export function cephSkipReason(): string | undefined {
  const missing = requiredCommands.filter((command) => !isOnPath(command))
  if (missing.length === 0 || process.getuid?.() === 0) return undefined
  return (
    `Ceph is not installed (${missing.join(', ')} missing) and installing it needs root: ` +
    'apt-get install -y ceph-mon ceph-osd ceph-mgr ceph-common radosgw'
  )
}

/** Starts a cluster that stops by itself when this process exits. */
export async function startCephCluster(): Promise<CephCluster> {
  const directory = await mkdtemp(join(tmpdir(), 'ceph-test-'))
  const script = (command: string, ...args: string[]) =>
    run(cephScript, [command, directory, ...args], { timeout: startTimeoutMs })
  try {
    await script('start', '--watch', String(process.pid))
  } catch (error) {
    await script('stop').catch(() => undefined)
    throw new Error(`scripts/ceph.sh start failed; its logs are in ${directory}/log`, {
      cause: error,
    })
  }

  const s3 = parseEnvFile(await readFile(join(directory, 's3.env'), 'utf8'))
  let stopped: Promise<void> | null = null
  return {
    directory,
    cephConf: join(directory, 'ceph.conf'),
    keyring: join(directory, 'keyring'),
    pool: 'rbd',
    s3: {
      endpoint: s3.S3_ENDPOINT!,
      region: s3.S3_REGION!,
      accessKey: s3.S3_ACCESS_KEY!,
      secretKey: s3.S3_SECRET_KEY!,
    },
    stop() {
      stopped ??= script('stop').then(() => rm(directory, { recursive: true, force: true }))
      return stopped
    },
  }
}

function parseEnvFile(text: string): Record<string, string> {
  const values: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line)
    if (match !== null) values[match[1]!] = match[2]!
  }
  return values
}

function isOnPath(command: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((directory) => {
    try {
      accessSync(join(directory, command), constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** A throwaway Ceph cluster from scripts/ceph.sh, with its OSD's data in RAM (memstore). */
export interface BenchCeph {
  directory: string
  cephConf: string
  keyring: string
  pool: string
  s3: { endpoint: string; region: string; accessKey: string; secretKey: string }
  /** Stops the daemons and removes the directory. */
  stop(): Promise<void>
}

/**
 * Starts a cluster under `parentDir` whose memstore has room for `memstoreBytes`. The cluster also
 * stops by itself when this process exits, so an interrupted run leaves no daemons behind.
 */
export async function startCeph(
  repoRoot: string,
  parentDir: string,
  memstoreBytes: number,
): Promise<BenchCeph> {
  const script = join(repoRoot, 'scripts', 'ceph.sh')
  const directory = await mkdtemp(join(parentDir, 'ceph-'))
  const env = { ...process.env, CEPH_MEMSTORE_BYTES: String(memstoreBytes) }
  const stop = async () => {
    await run(script, ['stop', directory])
    await rm(directory, { recursive: true, force: true })
  }

  try {
    await run(script, ['start', directory, '--watch', String(process.pid)], { env })
  } catch (error) {
    await run(script, ['stop', directory]).catch(() => undefined)
    throw new Error(`scripts/ceph.sh start failed; its logs are in ${directory}/log`, {
      cause: error,
    })
  }

  const s3 = parseEnvFile(await readFile(join(directory, 's3.env'), 'utf8'))
  return {
    directory,
    cephConf: join(directory, 'ceph.conf'),
    keyring: join(directory, 'keyring'),
    pool: 'rbd',
    s3: {
      endpoint: requireValue(s3, 'S3_ENDPOINT'),
      region: requireValue(s3, 'S3_REGION'),
      accessKey: requireValue(s3, 'S3_ACCESS_KEY'),
      secretKey: requireValue(s3, 'S3_SECRET_KEY'),
    },
    stop,
  }
}

function parseEnvFile(text: string): Map<string, string> {
  const values = new Map<string, string>()
  for (const match of text.matchAll(/^([A-Z0-9_]+)=(.*)$/gm)) values.set(match[1]!, match[2]!)
  return values
}

function requireValue(values: Map<string, string>, name: string): string {
  const value = values.get(name)
  if (value === undefined) throw new Error(`scripts/ceph.sh wrote no ${name} to s3.env`)
  return value
}

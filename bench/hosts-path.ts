import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { downloadDiscard, secondsSince, uploadFile, type Target } from './https-client.js'
import type { InputFile } from './inputs.js'
import { startNginx } from './nginx.js'
import { createImage, issueAdminToken, startServer, type BenchServer } from './service.js'
import { median } from './statistics.js'

export interface HostsPathOptions {
  repoRoot: string
  /** Throwaway directory for the hosts' data directories, the shared files and nginx. */
  directory: string
  input: InputFile
  hosts: number
  /** Concurrent downloads in each timed round. */
  clients: number
  runs: number
  cpuProfileDir?: string
  log: (message: string) => void
}

/** Aggregate rates in MB/s of `clients` concurrent downloads of one image. */
export interface HostsResult {
  sizeMiB: number
  hosts: number
  clients: number
  runs: number
  spread: number
  oneHost: number
  nginx: number
}

/**
 * Starts `hosts` servers that share one SQLite file and one file store directory, uploads the
 * input once, then times rounds of concurrent downloads: spread round-robin over the hosts, all
 * from the first host, and from nginx serving the blob file.
 */
export async function measureHosts(options: HostsPathOptions): Promise<HostsResult> {
  const shared = join(options.directory, 'shared')
  await mkdir(join(shared, 'images'), { recursive: true })
  const servers: BenchServer[] = []
  try {
    for (let index = 0; index < options.hosts; index++) {
      options.log(`hosts: starting host ${index + 1} of ${options.hosts}`)
      servers.push(await startHost(options, shared, index))
    }
    return await measureWithHosts(options, servers, join(shared, 'images'))
  } finally {
    for (const server of servers) await server.stop()
  }
}

async function startHost(
  options: HostsPathOptions,
  shared: string,
  index: number,
): Promise<BenchServer> {
  const dataDir = join(options.directory, `host-${index + 1}`)
  await mkdir(dataDir, { recursive: true })
  const configToml = [
    '[database]',
    `url = "sqlite://${join(shared, 'library.db')}"`,
    '[store]',
    `file_directory = "${join(shared, 'images')}"`,
    '[cluster]',
    `host_name = "bench-host-${index + 1}"`,
  ].join('\n')
  const profile =
    options.cpuProfileDir === undefined ? {} : { cpuProfileDir: options.cpuProfileDir }
  return startServer({ repoRoot: options.repoRoot, dataDir, configToml, ...profile })
}

async function measureWithHosts(
  options: HostsPathOptions,
  servers: BenchServer[],
  imageDirectory: string,
): Promise<HostsResult> {
  // The first host created the shared database, so its admin password is the valid one, and
  // every host accepts its tokens because they are stored in that database.
  const first = servers[0]!
  const token = await issueAdminToken(first)
  const imageId = await uploadImage(first, token, options.input)
  const hostTargets = servers.map((server) => ({ origin: server.imageOrigin, ca: server.ca }))

  const nginx = await startNginx({
    workDir: join(options.directory, 'nginx'),
    root: imageDirectory,
    certFile: join(first.dataDir, 'tls', 'cert.pem'),
    keyFile: join(first.dataDir, 'tls', 'key.pem'),
  })
  try {
    const apiPath = `/v2/images/${imageId}/file`
    const headers = { 'x-auth-token': token }
    const spread: number[] = []
    const oneHost: number[] = []
    const fromNginx: number[] = []
    for (let run = 1; run <= options.runs; run++) {
      options.log(`hosts: ${options.clients} concurrent downloads, run ${run} of ${options.runs}`)
      spread.push(await downloadConcurrently(options, hostTargets, apiPath, headers))
      oneHost.push(await downloadConcurrently(options, [hostTargets[0]!], apiPath, headers))
      const nginxTarget = { origin: nginx.origin, ca: first.ca }
      fromNginx.push(
        await downloadConcurrently(options, [nginxTarget], `${nginx.prefix}${imageId}`, {}),
      )
    }
    return {
      sizeMiB: options.input.size / 1024 / 1024,
      hosts: servers.length,
      clients: options.clients,
      runs: options.runs,
      spread: median(spread),
      oneHost: median(oneHost),
      nginx: median(fromNginx),
    }
  } finally {
    await nginx.stop()
  }
}

async function uploadImage(server: BenchServer, token: string, input: InputFile): Promise<string> {
  const target = { origin: server.imageOrigin, ca: server.ca }
  const imageId = await createImage(target, token, 'bench-hosts')
  const headers = { 'x-auth-token': token, 'content-type': 'application/octet-stream' }
  await uploadFile(target, `/v2/images/${imageId}/file`, headers, input, 204)
  return imageId
}

/**
 * Starts `options.clients` downloads at once, assigned round-robin to `targets`, and returns
 * their total bytes divided by the time until the last one ends, in MB/s.
 */
async function downloadConcurrently(
  options: HostsPathOptions,
  targets: Target[],
  path: string,
  headers: Record<string, string>,
): Promise<number> {
  const started = process.hrtime.bigint()
  const transfers = await Promise.all(
    Array.from({ length: options.clients }, (_, index) =>
      downloadDiscard(targets[index % targets.length]!, path, headers),
    ),
  )
  const seconds = secondsSince(started)

  for (const transfer of transfers) {
    if (transfer.bytes !== options.input.size) {
      throw new Error(
        `GET ${path} returned ${transfer.bytes} bytes, expected ${options.input.size}`,
      )
    }
  }
  return (options.clients * options.input.size) / 1e6 / seconds
}

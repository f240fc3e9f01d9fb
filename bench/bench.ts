import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises'
import { cpus, release, totalmem } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { measureAgents, type AgentsResult } from './agents-path.js'
import { hasCommand } from './commands.js'
import { secondsSince } from './https-client.js'
import { measureSize, type SizeResult } from './data-path.js'
import { measureMetadata, type MetadataResult } from './metadata-path.js'
import { startCeph } from './ceph.js'
import { measureHosts, type HostsResult } from './hosts-path.js'
import { ensureInputFile } from './inputs.js'
import { startNginx } from './nginx.js'
import { readCpuStallSeconds, readLoadAverage } from './process-stats.js'
import {
  benchParts,
  renderReport,
  renderResultsTable,
  type BenchPart,
  type BenchSettings,
  type MachineFacts,
} from './report.js'
import { issueAdminToken, startServer, type BenchServer, type ServerOptions } from './service.js'
import {
  createS3Bucket,
  createS3Client,
  measureRbdStore,
  measureS3Store,
  storeConfig,
  type StoreResult,
} from './store-path.js'

const usage = `Usage: npm run bench -- [--quick] [--sizes MiB,MiB] [--only PARTS] [--cpu-prof]

Measures the image service against sha512sum, md5sum, dd, nginx, rbd, an S3 client and cp on
this machine and writes bench/results.md.

  --quick         files of 256 and 1024 MiB (256 MiB for stores, hosts and agents), fewer runs,
                  shorter request-rate runs
  --sizes LIST    file sizes in MiB for the data path, comma-separated (default 1024,4096)
  --only PARTS    run only these parts, comma-separated: data, metadata, stores, hosts, agents
  --cpu-prof      start the servers with node --cpu-prof; profiles go to bench/work/profiles/
  -h, --help      show this help
`

/** The repository root, found from this compiled file in dist/bench/. */
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const workDir = join(repoRoot, 'bench', 'work')
const resultsFile = join(repoRoot, 'bench', 'results.md')

interface CommandLine {
  settings: BenchSettings
  cpuProfileDir: string | undefined
}

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`)
}

function parseCommandLine(argv: string[]): CommandLine | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      sizes: { type: 'string' },
      only: { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) return null

  const quick = values.quick
  const settings: BenchSettings = {
    mode: quick ? 'quick' : 'full',
    parts: parseParts(values.only ?? benchParts.join(',')),
    sizesMiB: parseSizes(values.sizes ?? (quick ? '256,1024' : '1024,4096')),
    uploadRuns: quick ? 1 : 3,
    downloadRuns: quick ? 2 : 5,
    images: 1000,
    listRuns: quick ? 10 : 20,
    rateSeconds: quick ? 3 : 10,
    connections: 16,
    storeSizeMiB: quick ? 256 : 1024,
    hosts: 3,
    hostClients: 8,
    hostsSizeMiB: quick ? 256 : 1024,
    hostsRuns: quick ? 1 : 3,
    agentRequests: 16,
    agents: 4,
    agentsSizeMiB: quick ? 256 : 1024,
    agentsRuns: quick ? 1 : 3,
  }
  const cpuProfileDir = values['cpu-prof'] ? join(workDir, 'profiles') : undefined
  return { settings, cpuProfileDir }
}

function parseSizes(text: string): number[] {
  const sizes = text.split(',').map((part) => Number(part.trim()))
  if (sizes.length === 0 || sizes.some((size) => !Number.isInteger(size) || size <= 0)) {
    throw new TypeError(
      `--sizes expects positive whole numbers of MiB separated by commas, got ${text}`,
    )
  }
  return sizes
}

function parseParts(text: string): BenchPart[] {
  const parts = text.split(',').map((part) => part.trim())
  const unknown = parts.filter((part) => !(benchParts as readonly string[]).includes(part))
  if (unknown.length > 0) {
    throw new TypeError(`--only expects ${benchParts.join(', ')}, got ${unknown.join(', ')}`)
  }
  return parts as BenchPart[]
}

/** Removes data directories and other files that an interrupted run left behind. */
async function removeLeftovers(): Promise<void> {
  for (const name of await readdir(workDir)) {
    const isLeftover = ['nginx', 'dd.out', 'show-images.lua'].includes(name)
    const isRunDirectory = ['data-', 'ceph-', 'agents-'].some((prefix) => name.startsWith(prefix))
    if (isRunDirectory || isLeftover) {
      await rm(join(workDir, name), { recursive: true, force: true })
    }
  }
}

async function withServer<T>(
  name: string,
  cpuProfileDir: string | undefined,
  body: (server: BenchServer, token: string) => Promise<T>,
  serverOptions: Pick<ServerOptions, 'configToml' | 'logLevel'> = {},
): Promise<T> {
  const dataDir = join(workDir, `data-${process.pid}-${name}`)
  await mkdir(dataDir, { recursive: true })
  const server = await startServer({
    repoRoot,
    dataDir,
    ...(cpuProfileDir && { cpuProfileDir }),
    ...serverOptions,
  })
  try {
    return await body(server, await issueAdminToken(server))
  } finally {
    await server.stop()
    await rm(dataDir, { recursive: true, force: true })
  }
}

async function runDataPath(command: CommandLine): Promise<SizeResult[]> {
  return withServer('data', command.cpuProfileDir, async (server, token) => {
    const nginx = await startNginx({
      workDir: join(workDir, 'nginx'),
      root: server.blobDirectory,
      certFile: join(server.dataDir, 'tls', 'cert.pem'),
      keyFile: join(server.dataDir, 'tls', 'key.pem'),
    })
    try {
      const { uploadRuns, downloadRuns } = command.settings
      const options = { workDir, server, token, nginx, uploadRuns, downloadRuns, log }
      const results: SizeResult[] = []
      for (const sizeMiB of command.settings.sizesMiB)
        results.push(await measureSize(options, sizeMiB))
      return results
    } finally {
      await nginx.stop()
      await rm(join(workDir, 'nginx'), { recursive: true, force: true })
    }
  })
}

async function runMetadataPath(command: CommandLine): Promise<MetadataResult> {
  const { settings } = command
  return withServer('metadata', command.cpuProfileDir, (server, token) =>
    measureMetadata({
      workDir,
      server,
      token,
      images: settings.images,
      listRuns: settings.listRuns,
      rateSeconds: settings.rateSeconds,
      connections: settings.connections,
      useWrk: hasCommand('wrk'),
      log,
    }),
  )
}

/**
 * Measures the rbd and s3 stores on a throwaway Ceph cluster. The OSD keeps its data in RAM,
 * and radosgw frees deleted objects only at its garbage collection, hours later. So the memstore
 * gets room for the four copies that the run writes: two in rbd and two in S3.
 */
async function runStores(command: CommandLine): Promise<StoreResult[]> {
  const sizeMiB = command.settings.storeSizeMiB
  const input = await ensureInputFile(workDir, sizeMiB)
  log(`stores: starting a Ceph cluster`)
  const ceph = await startCeph(repoRoot, workDir, (4 * sizeMiB + 512) * 1024 * 1024)
  const client = createS3Client(ceph)
  try {
    await createS3Bucket(client)
    return await withServer(
      'stores',
      command.cpuProfileDir,
      async (server, token) => {
        const options = {
          server,
          token,
          ceph,
          input,
          downloadRuns: command.settings.downloadRuns,
          log,
        }
        return [await measureRbdStore(options), await measureS3Store(options, client)]
      },
      { configToml: storeConfig(ceph) },
    )
  } finally {
    client.destroy()
    await ceph.stop()
  }
}

async function runHosts(command: CommandLine): Promise<HostsResult> {
  const { settings } = command
  const input = await ensureInputFile(workDir, settings.hostsSizeMiB)
  const directory = join(workDir, `data-${process.pid}-hosts`)
  try {
    return await measureHosts({
      repoRoot,
      directory,
      input,
      hosts: settings.hosts,
      clients: settings.hostClients,
      runs: settings.hostsRuns,
      ...(command.cpuProfileDir && { cpuProfileDir: command.cpuProfileDir }),
      log,
    })
  } finally {
    await rm(directory, { recursive: true, force: true })
  }
}

async function runAgents(command: CommandLine): Promise<AgentsResult> {
  const { settings } = command
  const input = await ensureInputFile(workDir, settings.agentsSizeMiB)
  const directory = join(workDir, `agents-${process.pid}`)
  try {
    return await withServer(
      'agents',
      command.cpuProfileDir,
      (server, token) =>
        measureAgents({
          repoRoot,
          directory,
          server,
          token,
          input,
          requests: settings.agentRequests,
          agents: settings.agents,
          runs: settings.agentsRuns,
          log,
        }),
      // The bytes served for an image come from the access lines, which the info level writes.
      { logLevel: 'info' },
    )
  } finally {
    await rm(directory, { recursive: true, force: true })
  }
}

/** Load figures taken when the run starts, to compare with those at its end. */
interface RunStart {
  load: number
  cpuStallSeconds: number | null
  time: bigint
}

function startRun(): RunStart {
  return {
    load: readLoadAverage(),
    cpuStallSeconds: readCpuStallSeconds(),
    time: process.hrtime.bigint(),
  }
}

function cpuStallShare(start: RunStart): number | null {
  const stalled = readCpuStallSeconds()
  if (stalled === null || start.cpuStallSeconds === null) return null
  return (stalled - start.cpuStallSeconds) / secondsSince(start.time)
}

function collectFacts(start: RunStart): MachineFacts {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8')
  return {
    date: new Date().toISOString(),
    nproc: execFileSync('nproc', { encoding: 'utf8' }).trim(),
    cpuModel:
      /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown',
    memoryGiB: totalmem() / 1024 ** 3,
    kernel: release(),
    node: process.version,
    nginx: toolVersion('nginx', ['-v']),
    wrk: toolVersion('wrk', ['-v']),
    loadAtStart: start.load,
    loadAtEnd: readLoadAverage(),
    cpuStallShare: cpuStallShare(start),
  }
}

/** Returns the first line that a tool prints about its version, or a note that it is missing. */
function toolVersion(command: string, args: string[]): string {
  if (!hasCommand(command)) return `${command} not installed`
  // nginx prints its version to stderr and wrk prints its usage and exits 1, so read both streams.
  const result = execFileSync('sh', ['-c', `${command} ${args.join(' ')} 2>&1 || true`], {
    encoding: 'utf8',
  })
  return result.split('\n')[0]?.trim() ?? command
}

async function main(): Promise<number> {
  const command = parseCommandLine(process.argv.slice(2))
  if (command === null) {
    process.stdout.write(usage)
    return 0
  }
  const { parts } = command.settings
  const needsNginx = parts.includes('data') || parts.includes('hosts')
  if (needsNginx && !hasCommand('nginx')) {
    log('nginx is missing; install it with apt-get install -y nginx-light')
    return 1
  }
  if (parts.includes('agents') && !hasCommand('qemu-img')) {
    log('qemu-img is missing; install it with apt-get install -y qemu-utils')
    return 1
  }

  await mkdir(workDir, { recursive: true })
  await removeLeftovers()
  const start = startRun()
  const sizes = parts.includes('data') ? await runDataPath(command) : []
  const metadata = parts.includes('metadata') ? await runMetadataPath(command) : null
  const stores = parts.includes('stores') ? await runStores(command) : []
  const hosts = parts.includes('hosts') ? await runHosts(command) : null
  const agents = parts.includes('agents') ? await runAgents(command) : null

  const facts = collectFacts(start)
  const run = { facts, settings: command.settings, sizes, metadata, stores, hosts, agents }
  process.stdout.write(`${renderResultsTable(run)}\n`)
  await writeFile(resultsFile, renderReport(run))
  log(`results written to ${resultsFile}`)
  return 0
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(`failed: ${(error as Error).stack ?? String(error)}`)
    process.exit(1)
  },
)

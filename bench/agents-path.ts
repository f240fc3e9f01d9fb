import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { callAgent } from '../src/agent/agent-client.js'
import { readBytesServed, type BytesServed } from './access-log.js'
import { timeCommand } from './commands.js'
import { secondsSince, uploadFile } from './https-client.js'
import type { InputFile } from './inputs.js'
import { createImage, keepTail, readAdminOpenrc, stopChild, type BenchServer } from './service.js'
import { median } from './statistics.js'

export interface AgentsPathOptions {
  repoRoot: string
  /** Throwaway directory for the agents' cache directories, the VM disks and the copy. */
  directory: string
  /** A server that logs at info level, so that its access log records the bytes it serves. */
  server: BenchServer
  token: string
  input: InputFile
  /** Simultaneous `POST /v1/disks` requests in each timed round. */
  requests: number
  /** Agents of the second setup, which get the requests round-robin. */
  agents: number
  runs: number
  log: (message: string) => void
}

/** The rounds of one setup: requests spread over `agents` agents with empty caches. */
export interface ProvisioningResult {
  agents: number
  /** Median seconds from sending the requests to the last VM disk's response. */
  seconds: number
  /** Bytes of the image that the library served in each round, from its access log. */
  bytesServed: number[]
}

export interface AgentsResult {
  sizeMiB: number
  imageBytes: number
  requests: number
  runs: number
  /** Median seconds of `cp` of the image's blob file followed by `sync` of the copy. */
  copySeconds: number
  oneAgent: ProvisioningResult
  manyAgents: ProvisioningResult
  /** VM disks of all rounds that passed `qemu-img check`; any failure fails the part. */
  overlaysChecked: number
}

/** The image and settings that every round of a run uses. */
interface RunContext {
  options: AgentsPathOptions
  imageId: string
  /** The admin `OS_*` variables of the server's `admin-openrc.sh`, for the agents. */
  env: Record<string, string>
}

interface Round {
  seconds: number
  bytesServed: number
  overlays: number
}

interface BenchAgent {
  cacheDir: string
  socket: string
  stop(): Promise<void>
}

/** A VM disk that an agent made, with the cached copy that it reads from. */
interface VmDisk {
  path: string
  backingFile: string
}

/** The fields of a `POST /v1/disks` response that the checks read. */
interface DiskResponse {
  path: string
  format: string
  backing_file: string | null
}

const agentStartTimeoutMs = 30_000
/** How long to wait for the service's asynchronous log writes to reach the file. */
const logWaitMs = 10_000

/**
 * Uploads the input once, then times rounds of `requests` simultaneous qcow2 VM disks of that
 * image: through one agent, through `agents` agents, and a plain copy of the image's blob file.
 * Every round starts agents with empty caches before its timer, checks every overlay with
 * qemu-img afterwards, and removes its agents, caches and disks.
 */
export async function measureAgents(options: AgentsPathOptions): Promise<AgentsResult> {
  await mkdir(options.directory, { recursive: true })
  const imageId = await uploadImage(options)
  const context = { options, imageId, env: await readAdminOpenrc(options.server) }
  const blobFile = await findBlobFile(options, imageId)

  const copies: number[] = []
  const oneAgent: Round[] = []
  const manyAgents: Round[] = []
  for (let run = 1; run <= options.runs; run++) {
    options.log(`agents: ${options.requests} VM disks at once, run ${run} of ${options.runs}`)
    copies.push(await timeCopy(blobFile, join(options.directory, 'copy.bin')))
    oneAgent.push(await measureRound(context, 1, run))
    manyAgents.push(await measureRound(context, options.agents, run))
  }

  return {
    sizeMiB: options.input.size / 1024 / 1024,
    imageBytes: options.input.size,
    requests: options.requests,
    runs: options.runs,
    copySeconds: median(copies),
    oneAgent: summarize(1, oneAgent),
    manyAgents: summarize(options.agents, manyAgents),
    overlaysChecked: [...oneAgent, ...manyAgents].reduce((sum, round) => sum + round.overlays, 0),
  }
}

function summarize(agents: number, rounds: Round[]): ProvisioningResult {
  return {
    agents,
    seconds: median(rounds.map((round) => round.seconds)),
    bytesServed: rounds.map((round) => round.bytesServed),
  }
}

async function uploadImage(options: AgentsPathOptions): Promise<string> {
  const target = { origin: options.server.imageOrigin, ca: options.server.ca }
  const imageId = await createImage(target, options.token, 'bench-agents')
  const headers = { 'x-auth-token': options.token, 'content-type': 'application/octet-stream' }
  await uploadFile(target, `/v2/images/${imageId}/file`, headers, options.input, 204)
  return imageId
}

async function findBlobFile(options: AgentsPathOptions, imageId: string): Promise<string> {
  const path = join(options.server.blobDirectory, imageId)
  const size = (await stat(path)).size
  if (size !== options.input.size) {
    throw new Error(`the blob file ${path} has ${size} bytes, expected ${options.input.size}`)
  }
  return path
}

/** Times `cp` to a new file and `sync FILE`, which fsyncs the copy, then removes the copy. */
async function timeCopy(source: string, target: string): Promise<number> {
  const started = process.hrtime.bigint()
  await timeCommand('cp', [source, target])
  await timeCommand('sync', [target])
  const seconds = secondsSince(started)
  await rm(target, { force: true })
  return seconds
}

async function measureRound(context: RunContext, agentCount: number, run: number): Promise<Round> {
  const { options } = context
  const roundDirectory = join(options.directory, `run-${run}-agents-${agentCount}`)
  const disksDirectory = join(roundDirectory, 'disks')
  await mkdir(disksDirectory, { recursive: true })
  const agents: BenchAgent[] = []
  try {
    for (let index = 1; index <= agentCount; index++) {
      agents.push(await startAgent(context, join(roundDirectory, `agent-${index}`), index))
    }
    const before = await readBytesServed(options.server.logFile, context.imageId)
    const { seconds, disks } = await provisionDisks(context, agents, disksDirectory)
    const bytesServed = await waitForBytesServed(context, before, agentCount)
    await checkOverlays(disks)
    return { seconds, bytesServed, overlays: disks.length }
  } finally {
    await Promise.all(agents.map((agent) => agent.stop()))
    await rm(roundDirectory, { recursive: true, force: true })
  }
}

/** Starts `image-library agent serve` with an empty cache and waits until its socket responds. */
async function startAgent(context: RunContext, cacheDir: string, index: number) {
  const { options } = context
  await mkdir(cacheDir, { recursive: true })
  const socket = join(cacheDir, 'agent.sock')
  const name = `bench-agent-${index}`
  // The V8 flag is the one in bin/image-library's shebang, which a call through node skips.
  const args = ['--max-semi-space-size=2', join(options.repoRoot, 'bin', 'image-library')]
  args.push('agent', 'serve', '--cache-dir', cacheDir, '--socket', socket, '--name', name)
  args.push('--max-size', String(2 * options.input.size))
  args.push('--os-cacert', join(options.server.dataDir, 'tls', 'ca.pem'))

  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { PATH: process.env.PATH, ...context.env },
  })
  const stderr = keepTail(child)
  const stop = () => stopChild(child, name)
  try {
    await waitForSocket(child, socket, stderr)
  } catch (error) {
    await stop()
    throw error
  }
  return { cacheDir, socket, stop } satisfies BenchAgent
}

async function waitForSocket(child: ChildProcess, socket: string, stderr: () => string) {
  const deadline = Date.now() + agentStartTimeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the agent exited with ${child.signalCode ?? child.exitCode}:\n${stderr()}`)
    }
    try {
      await callAgent(socket, 'GET', '/v1/status')
      return
    } catch {
      await sleep(100)
    }
  }
  const limit = agentStartTimeoutMs / 1000
  throw new Error(`the agent did not respond on ${socket} within ${limit} s:\n${stderr()}`)
}

/**
 * Sends all requests at once, round-robin over the agents, each for its own disk path, and
 * times them until the last response.
 */
async function provisionDisks(context: RunContext, agents: BenchAgent[], directory: string) {
  const requests = Array.from({ length: context.options.requests }, (_, index) => ({
    agent: agents[index % agents.length]!,
    path: join(directory, `vm-${index + 1}.qcow2`),
  }))
  const body = { image: context.imageId, size: context.options.input.size, format: 'qcow2' }

  const started = process.hrtime.bigint()
  const responses = await Promise.all(
    requests.map(({ agent, path }) =>
      callAgent<DiskResponse>(agent.socket, 'POST', '/v1/disks', { ...body, path }),
    ),
  )
  const seconds = secondsSince(started)

  const disks = requests.map(({ agent, path }, index) =>
    checkResponse(agent, path, responses[index]!),
  )
  return { seconds, disks }
}

/** Checks that the agent made a qcow2 overlay at `path` on a base in its own cache. */
function checkResponse(agent: BenchAgent, path: string, response: DiskResponse): VmDisk {
  const backingFile = response.backing_file
  const isOverlay = response.format === 'qcow2' && backingFile?.startsWith(agent.cacheDir)
  if (response.path !== path || !isOverlay) {
    throw new Error(`POST /v1/disks for ${path} returned ${JSON.stringify(response)}`)
  }
  return { path, backingFile: backingFile! }
}

/**
 * Returns the bytes of the image served since `before`. The service writes its log lines
 * asynchronously, so this waits until the log has at least one download per agent, or until
 * `logWaitMs` has passed, and reads it once more after a short pause for any stragglers.
 */
async function waitForBytesServed(
  context: RunContext,
  before: BytesServed,
  agentCount: number,
): Promise<number> {
  const { logFile } = context.options.server
  const deadline = Date.now() + logWaitMs
  let served = await readBytesServed(logFile, context.imageId)
  while (served.downloads - before.downloads < agentCount && Date.now() < deadline) {
    await sleep(100)
    served = await readBytesServed(logFile, context.imageId)
  }
  await sleep(200)
  served = await readBytesServed(logFile, context.imageId)
  return served.bytes - before.bytes
}

/**
 * Runs `qemu-img check` on every VM disk and compares the backing file that `qemu-img info`
 * reports with the agent's response. Throws one error that lists every disk that failed.
 */
async function checkOverlays(disks: VmDisk[]): Promise<void> {
  const failures: string[] = []
  for (const disk of disks) {
    try {
      await timeCommand('qemu-img', ['check', '-q', '-f', 'qcow2', disk.path])
      const { stdout } = await timeCommand('qemu-img', [
        'info',
        '--output=json',
        '-f',
        'qcow2',
        disk.path,
      ])
      const backing = (JSON.parse(stdout) as Record<string, unknown>)['full-backing-filename']
      if (backing !== disk.backingFile) {
        failures.push(`${disk.path}: backing file ${String(backing)}, expected ${disk.backingFile}`)
      }
    } catch (error) {
      failures.push(`${disk.path}: ${(error as Error).message}`)
    }
  }
  if (failures.length > 0) {
    throw new Error(
      `${failures.length} of ${disks.length} VM disks failed the qemu-img checks:\n` +
        failures.join('\n'),
    )
  }
}

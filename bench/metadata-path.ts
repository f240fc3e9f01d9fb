import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { runWrk } from './commands.js'
import { getStatus, keepAliveAgent, secondsSince, send, type Target } from './https-client.js'
import { CpuMeter, type CpuUse } from './process-stats.js'
import { createImage, type BenchServer } from './service.js'
import { median, percentile } from './statistics.js'

export interface MetadataOptions {
  workDir: string
  server: BenchServer
  token: string
  images: number
  listRuns: number
  /** Duration of each request-rate run, in seconds. */
  rateSeconds: number
  connections: number
  /** Whether to measure the request rate with wrk too; set it only when wrk is on the PATH. */
  useWrk: boolean
  log: (message: string) => void
}

export interface ListResult {
  imagesPerResponse: number
  medianMs: number
  minMs: number
  p90Ms: number
  runs: number
}

/** Requests per second of `GET /v2/images/{id}` as one load tool measured it. */
export interface RateResult {
  tool: string
  requestsPerSecond: number
  failures: number
  cpu: CpuUse
}

export interface MetadataResult {
  createsPerSecond: number
  list: ListResult
  rates: RateResult[]
}

/** Creates the images, then times the full list and the request rate of single-image reads. */
export async function measureMetadata(options: MetadataOptions): Promise<MetadataResult> {
  options.log(`metadata path: creating ${options.images} images`)
  const { ids, perSecond } = await createImages(options)

  options.log(`metadata path: GET /v2/images?limit=${options.images}, ${options.listRuns} runs`)
  const list = await measureList(options)

  const rates: RateResult[] = []
  options.log(`metadata path: GET /v2/images/{id}, node:https client, ${options.rateSeconds} s`)
  await runNodeClient(options, ids, 1)
  rates.push(await measureNodeClientRate(options, ids))
  if (options.useWrk) {
    options.log(`metadata path: GET /v2/images/{id}, wrk, ${options.rateSeconds} s`)
    rates.push(await measureWrkRate(options, ids))
  }
  return { createsPerSecond: perSecond, list, rates }
}

/** Creates the images over 8 keep-alive connections; the rate is reported for information. */
async function createImages(
  options: MetadataOptions,
): Promise<{ ids: string[]; perSecond: number }> {
  const target = keepAliveTarget(options, 8)
  const ids: string[] = []
  const started = process.hrtime.bigint()
  let next = 0
  const worker = async () => {
    while (next < options.images) {
      const index = next++
      ids[index] = await createImage(target, options.token, `bench-metadata-${index}`)
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker))
  target.agent!.destroy()
  return { ids, perSecond: options.images / secondsSince(started) }
}

/**
 * Times `GET /v2/images?limit=N` on one keep-alive connection, from sending the request to the
 * last byte of the body. Three untimed requests first open the connection and warm the server.
 */
async function measureList(options: MetadataOptions): Promise<ListResult> {
  const target = keepAliveTarget(options, 1)
  const path = `/v2/images?limit=${options.images}`
  const headers = { 'x-auth-token': options.token, accept: 'application/json' }
  const timesMs: number[] = []
  let imagesPerResponse = 0

  for (let run = -3; run < options.listRuns; run++) {
    const started = process.hrtime.bigint()
    const { response, text } = await send(target, 'GET', path, headers)
    const elapsedMs = secondsSince(started) * 1000
    if (response.statusCode !== 200)
      throw new Error(`GET ${path} returned ${response.statusCode}: ${text}`)
    if (run < 0) continue

    timesMs.push(elapsedMs)
    imagesPerResponse = (JSON.parse(text) as { images: unknown[] }).images.length
  }
  target.agent!.destroy()
  return {
    imagesPerResponse,
    medianMs: median(timesMs),
    minMs: Math.min(...timesMs),
    p90Ms: percentile(timesMs, 90),
    runs: timesMs.length,
  }
}

async function measureNodeClientRate(options: MetadataOptions, ids: string[]): Promise<RateResult> {
  const cpu = new CpuMeter({ server: options.server.pid })
  const { completed, failures, seconds } = await runNodeClient(options, ids, options.rateSeconds)
  const tool = `node:https, ${options.connections} keep-alive connections`
  return { tool, requestsPerSecond: completed / seconds, failures, cpu: cpu.stop() }
}

/**
 * Sends `GET /v2/images/{id}` over `connections` keep-alive connections, each waiting for its
 * response before the next request, cycling through `ids` for `seconds`.
 */
async function runNodeClient(
  options: MetadataOptions,
  ids: string[],
  seconds: number,
): Promise<{ completed: number; failures: number; seconds: number }> {
  const target = keepAliveTarget(options, options.connections)
  const headers = { 'x-auth-token': options.token, accept: 'application/json' }
  const started = process.hrtime.bigint()
  const deadline = started + BigInt(Math.round(seconds * 1e9))
  let completed = 0
  let failures = 0
  let next = 0

  const connection = async () => {
    while (process.hrtime.bigint() < deadline) {
      const id = ids[next++ % ids.length]!
      const status = await getStatus(target, `/v2/images/${id}`, headers)
      if (status === 200) completed++
      else failures++
    }
  }
  await Promise.all(Array.from({ length: options.connections }, connection))
  const elapsed = secondsSince(started)
  target.agent!.destroy()
  return { completed, failures, seconds: elapsed }
}

async function measureWrkRate(options: MetadataOptions, ids: string[]): Promise<RateResult> {
  const scriptFile = join(options.workDir, 'show-images.lua')
  await writeFile(scriptFile, wrkScript(ids))
  const cpu = new CpuMeter({ server: options.server.pid })
  const result = await runWrk({
    url: options.server.imageOrigin,
    headers: [`X-Auth-Token: ${options.token}`, 'Accept: application/json'],
    connections: options.connections,
    seconds: options.rateSeconds,
    scriptFile,
  }).finally(() => rm(scriptFile, { force: true }))
  const tool = `wrk -t1 -c${options.connections}`
  return {
    tool,
    requestsPerSecond: result.requestsPerSecond,
    failures: result.failures,
    cpu: cpu.stop(),
  }
}

/** Writes a wrk script that requests the images in turn, with the headers given by -H. */
function wrkScript(ids: string[]): string {
  const table = ids.map((id) => `"${id}"`).join(',\n  ')
  return `local ids = {\n  ${table}\n}
local i = 0
request = function()
  i = i % #ids + 1
  return wrk.format("GET", "/v2/images/" .. ids[i])
end
`
}

function keepAliveTarget(options: MetadataOptions, sockets: number): Target {
  const { imageOrigin, ca } = options.server
  return { origin: imageOrigin, ca, agent: keepAliveAgent(ca, sockets) }
}

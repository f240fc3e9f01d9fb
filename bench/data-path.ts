import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { timeCommand } from './commands.js'
import {
  downloadDiscard,
  sendJson,
  uploadFile,
  type Target,
  type Transfer,
} from './https-client.js'
import { ensureInputFile, type InputFile } from './inputs.js'
import type { ReferenceServer } from './nginx.js'
import { CpuMeter, RssSampler, type CpuUse } from './process-stats.js'
import { createImage, type BenchServer } from './service.js'
import { median } from './statistics.js'

export interface DataPathOptions {
  workDir: string
  server: BenchServer
  token: string
  nginx: ReferenceServer
  /** Timed runs of the references and of the upload; the report gives the median. */
  uploadRuns: number
  /** Timed downloads from each server; the report gives the median. */
  downloadRuns: number
  log: (message: string) => void
}

/** One timed transfer with the resources that the serving process used meanwhile. */
export interface TransferMeasurement {
  megabytesPerSecond: number
  /** Peak `VmRSS` of the serving process, sampled every 50 ms. */
  rssPeakBytes: number
  rssSamples: number
  rssMaxGapMs: number
  cpu: CpuUse
  tls: string
}

/** Rates of the reference commands, in MB/s (10^6 bytes per second). */
export interface ReferenceRates {
  pageCacheRead: number
  sha512sum: number
  md5sum: number
  ddWriteFsync: number
}

export interface SizeResult {
  sizeMiB: number
  references: ReferenceRates
  upload: TransferMeasurement
  download: TransferMeasurement
  nginxDownload: TransferMeasurement
}

interface ReferenceRun extends ReferenceRates {
  md5: string
  sha512: string
}

/** Measures uploads and downloads of one generated file of `sizeMiB` against the references. */
export async function measureSize(options: DataPathOptions, sizeMiB: number): Promise<SizeResult> {
  options.log(`data path ${sizeMiB} MiB: preparing the input file`)
  const input = await ensureInputFile(options.workDir, sizeMiB)

  const referenceRuns: ReferenceRun[] = []
  const uploads: TransferMeasurement[] = []
  let imageId: string | null = null
  for (let run = 1; run <= options.uploadRuns; run++) {
    options.log(
      `data path ${sizeMiB} MiB: references and upload, run ${run} of ${options.uploadRuns}`,
    )
    referenceRuns.push(await runReferences(options.workDir, input))
    const uploaded = await measureUpload(options, input, sizeMiB, referenceRuns.at(-1)!)
    uploads.push(uploaded.measurement)
    // One image stays for the downloads; the others go at once to free the disk.
    if (imageId !== null) await deleteImage(options, imageId)
    imageId = uploaded.imageId
  }

  try {
    options.log(`data path ${sizeMiB} MiB: downloads from the service and from nginx`)
    const downloads = await measureDownloads(options, imageId!, input)
    return {
      sizeMiB,
      references: medianReferences(referenceRuns),
      upload: medianTransfer(uploads),
      ...downloads,
    }
  } finally {
    await deleteImage(options, imageId!)
  }
}

/**
 * Reads the file once into the page cache (timed, as the cache's read rate), then times
 * sha512sum, md5sum and a dd copy that ends with fsync. All three read the same cached pages
 * that the upload reads.
 */
async function runReferences(workDir: string, input: InputFile): Promise<ReferenceRun> {
  const rate = (seconds: number) => input.size / 1e6 / seconds
  const cacheRead = await timeCommand('dd', [
    `if=${input.path}`,
    'of=/dev/null',
    'bs=1M',
    'status=none',
  ])
  const sha512 = await timeCommand('sha512sum', [input.path])
  const md5 = await timeCommand('md5sum', [input.path])

  const ddOut = join(workDir, 'dd.out')
  const ddWrite = await timeCommand('dd', [
    `if=${input.path}`,
    `of=${ddOut}`,
    'bs=1M',
    'conv=fsync',
    'status=none',
  ])
  await rm(ddOut, { force: true })
  return {
    pageCacheRead: rate(cacheRead.seconds),
    sha512sum: rate(sha512.seconds),
    md5sum: rate(md5.seconds),
    ddWriteFsync: rate(ddWrite.seconds),
    sha512: firstWord(sha512.stdout),
    md5: firstWord(md5.stdout),
  }
}

/**
 * Creates an image record, then times `PUT /v2/images/{id}/file` from its first byte to the
 * 204, which the service sends after it has hashed, fsynced and recorded the data. Checks the
 * recorded checksums against md5sum and sha512sum.
 */
async function measureUpload(
  options: DataPathOptions,
  input: InputFile,
  sizeMiB: number,
  reference: ReferenceRun,
): Promise<{ imageId: string; measurement: TransferMeasurement }> {
  const target = apiTarget(options)
  const imageId = await createImage(target, options.token, `bench-${sizeMiB}MiB`)
  const headers = { 'x-auth-token': options.token, 'content-type': 'application/octet-stream' }
  const path = `/v2/images/${imageId}/file`
  const measurement = await measureTransfer(options.server.pid, () =>
    uploadFile(target, path, headers, input, 204),
  )

  await checkStoredImage(options, imageId, input, reference)
  return { imageId, measurement }
}

async function checkStoredImage(
  options: DataPathOptions,
  imageId: string,
  input: InputFile,
  reference: ReferenceRun,
): Promise<void> {
  const response = await sendJson(apiTarget(options), 'GET', `/v2/images/${imageId}`, options.token)
  const image = response.body as Record<string, unknown>
  const expected = {
    status: 'active',
    size: input.size,
    checksum: reference.md5,
    os_hash_value: reference.sha512,
  }
  for (const [field, value] of Object.entries(expected)) {
    if (image[field] !== value) {
      throw new Error(
        `image ${imageId} has ${field} ${String(image[field])} after upload, expected ${value}`,
      )
    }
  }
}

/** Alternates downloads from the service and from nginx, so that both see the same conditions. */
async function measureDownloads(
  options: DataPathOptions,
  imageId: string,
  input: InputFile,
): Promise<Pick<SizeResult, 'download' | 'nginxDownload'>> {
  const service: TransferMeasurement[] = []
  const nginx: TransferMeasurement[] = []
  const nginxTarget = { origin: options.nginx.origin, ca: options.server.ca }
  const servicePath = `/v2/images/${imageId}/file`
  const nginxPath = `${options.nginx.prefix}${imageId}`

  for (let run = 1; run <= options.downloadRuns; run++) {
    const headers = { 'x-auth-token': options.token }
    service.push(
      await measureDownload(options.server.pid, apiTarget(options), servicePath, headers, input),
    )
    nginx.push(await measureDownload(options.nginx.workerPid, nginxTarget, nginxPath, {}, input))
  }
  return { download: medianTransfer(service), nginxDownload: medianTransfer(nginx) }
}

async function measureDownload(
  pid: number,
  target: Target,
  path: string,
  headers: Record<string, string>,
  input: InputFile,
): Promise<TransferMeasurement> {
  return measureTransfer(pid, async () => {
    const transfer = await downloadDiscard(target, path, headers)
    if (transfer.bytes !== input.size) {
      throw new Error(
        `GET ${target.origin}${path} returned ${transfer.bytes} bytes, expected ${input.size}`,
      )
    }
    return transfer
  })
}

/** Runs one transfer while sampling the RSS and CPU use of the serving process `pid`. */
async function measureTransfer(
  pid: number,
  transfer: () => Promise<Transfer>,
): Promise<TransferMeasurement> {
  const sampler = await RssSampler.start(pid)
  const cpu = new CpuMeter({ server: pid })
  try {
    const result = await transfer()
    const cpuUse = cpu.stop()
    const rss = await sampler.stop()
    return {
      megabytesPerSecond: result.bytes / 1e6 / result.seconds,
      rssPeakBytes: rss.peakBytes,
      rssSamples: rss.samples,
      rssMaxGapMs: rss.maxGapMs,
      cpu: cpuUse,
      tls: result.tls,
    }
  } catch (error) {
    await sampler.stop()
    throw error
  }
}

async function deleteImage(options: DataPathOptions, imageId: string): Promise<void> {
  const response = await sendJson(
    apiTarget(options),
    'DELETE',
    `/v2/images/${imageId}`,
    options.token,
  )
  if (response.status !== 204) {
    throw new Error(
      `DELETE /v2/images/${imageId} returned ${response.status}: ${JSON.stringify(response.body)}`,
    )
  }
}

function apiTarget(options: DataPathOptions): Target {
  return { origin: options.server.imageOrigin, ca: options.server.ca }
}

function firstWord(text: string): string {
  return text.trim().split(/\s+/)[0] ?? ''
}

function medianReferences(runs: ReferenceRun[]): ReferenceRates {
  return {
    pageCacheRead: median(runs.map((run) => run.pageCacheRead)),
    sha512sum: median(runs.map((run) => run.sha512sum)),
    md5sum: median(runs.map((run) => run.md5sum)),
    ddWriteFsync: median(runs.map((run) => run.ddWriteFsync)),
  }
}

/** Picks the run with the median rate and gives it the highest RSS peak of all runs. */
function medianTransfer(runs: TransferMeasurement[]): TransferMeasurement {
  const sorted = [...runs].sort((a, b) => a.megabytesPerSecond - b.megabytesPerSecond)
  const middle = sorted[Math.floor((sorted.length - 1) / 2)]!
  const peak = runs.reduce((max, run) => (run.rssPeakBytes > max.rssPeakBytes ? run : max))
  return {
    ...middle,
    rssPeakBytes: peak.rssPeakBytes,
    rssSamples: peak.rssSamples,
    rssMaxGapMs: peak.rssMaxGapMs,
  }
}

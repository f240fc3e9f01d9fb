import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { realpath, rm, stat } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { CliError } from '../cli/errors.js'
import type { ImageClient, ImageRecord } from '../cli/image-client.js'
import {
  convertAddressSpaceLimitBytes,
  QemuImgError,
  runQemuImg,
} from '../imports/plugins/run-qemu-img.js'
import { callAgent } from './agent-client.js'

export interface SnapshotRequest {
  socketPath: string
  disk: string
  name: string
  instanceUuid: string | undefined
  /** Stops the snapshot, which then removes the flattened file and the new image record. */
  signal?: AbortSignal
}

interface AgentDisk {
  path: string
  image_id: string
  format: 'qcow2' | 'raw'
  backing_file: string | null
}

/** The fields of `qemu-img info --output=json` that the checks read. */
interface DiskInfo {
  'full-backing-filename'?: string
  'backing-filename'?: string
  'format-specific'?: { data?: { 'data-file'?: string } }
}

const qemuLimits = { timeoutMs: 60_000, cpuSeconds: 30, maxStdoutBytes: 1024 * 1024 }

/**
 * Uploads a VM disk that `agent disk create` made as a new image of the caller's project, with
 * `image_type=snapshot`, `base_image_ref` (the cached base) and `instance_uuid`. A qcow2 disk
 * must still read from the cached copy it was made on. `qemu-img convert` flattens the disk into a
 * qcow2 file beside it, which is removed afterwards. An upload that
 * fails deletes the new image record, so no empty snapshot remains.
 */
export async function snapshotDisk(
  request: SnapshotRequest,
  images: ImageClient,
): Promise<ImageRecord> {
  const disk = await findAgentDisk(request)
  await checkDisk(disk)

  const flat = join(
    dirname(disk.path),
    `.${basename(disk.path)}.snapshot-${randomBytes(6).toString('hex')}.qcow2`,
  )
  try {
    await runQemuImg(['convert', '-q', '-f', disk.format, '-O', 'qcow2', disk.path, flat], {
      timeoutMs: 6 * 60 * 60 * 1000,
      cpuSeconds: 6 * 60 * 60,
      maxStdoutBytes: 0,
      addressSpaceBytes: convertAddressSpaceLimitBytes,
      ...(request.signal === undefined ? {} : { signal: request.signal }),
    }).catch((error: unknown) => {
      request.signal?.throwIfAborted()
      if (!(error instanceof QemuImgError)) throw error
      throw new CliError(
        `qemu-img could not flatten ${disk.path}: ${error.stderr || error.message}`,
        { cause: error },
      )
    })
    request.signal?.throwIfAborted()
    return await upload(flat, disk, request, images)
  } finally {
    await rm(flat, { force: true })
  }
}

async function findAgentDisk(request: SnapshotRequest): Promise<AgentDisk> {
  const given = resolve(request.disk)
  const real = await realpath(given).catch(() => {
    throw new CliError(`The disk ${given} does not exist.`)
  })
  const { disks } = await callAgent<{ disks: AgentDisk[] }>(request.socketPath, 'GET', '/v1/disks')
  const disk = disks.find((entry) => entry.path === given || entry.path === real)
  if (disk === undefined) {
    throw new CliError(
      `${given} was not made by \`image-library agent disk create\` on this agent; ` +
        'only such disks can be uploaded as snapshots.',
    )
  }
  return { ...disk, path: real }
}

/**
 * Rejects a disk that is no longer as `disk create` left it: a qcow2 overlay must read straight
 * from the cached copy it was made on, and no disk may use an external data file. The check
 * reads only the disk's own header (`qemu-img info` without `--backing-chain`), so it opens no
 * backing file that names another file, a network address or a `json:` description. The cached
 * copy passed the agent's format inspection, which rejects backing and data files.
 */
async function checkDisk(disk: AgentDisk): Promise<void> {
  const output = await runQemuImg(
    ['info', '-f', disk.format, '--output=json', disk.path],
    qemuLimits,
  ).catch((error: unknown) => {
    const reason = error instanceof QemuImgError ? error.stderr || error.message : String(error)
    throw new CliError(`qemu-img cannot read ${disk.path} as ${disk.format}: ${reason}`, {
      cause: error,
    })
  })
  const info = JSON.parse(output) as DiskInfo
  if (info['format-specific']?.data?.['data-file'] !== undefined) {
    throw new CliError(`${disk.path} uses an external data file, so the snapshot was rejected.`)
  }
  if (disk.format === 'raw') return

  const backing = info['full-backing-filename'] ?? info['backing-filename']
  if (backing === undefined || disk.backing_file === null) {
    throw new CliError(`${disk.path} lost its backing file; it is not the overlay the agent made.`)
  }
  const expected = await realpath(disk.backing_file).catch(() => disk.backing_file)
  const actual = await realpath(backing).catch(() => backing)
  if (actual !== expected) {
    throw new CliError(
      `The backing file of ${disk.path} is ${backing}, not the cached copy ${disk.backing_file} ` +
        'that the disk was made on, so the snapshot was rejected.',
    )
  }
}

async function upload(
  flat: string,
  disk: AgentDisk,
  request: SnapshotRequest,
  images: ImageClient,
): Promise<ImageRecord> {
  const image = await images.createImage({
    name: request.name,
    disk_format: 'qcow2',
    container_format: 'bare',
    visibility: 'private',
    image_type: 'snapshot',
    base_image_ref: disk.image_id,
    ...(request.instanceUuid === undefined ? {} : { instance_uuid: request.instanceUuid }),
  })
  try {
    const sent = images.uploadImageData(image.id, {
      body: createReadStream(flat),
      size: (await stat(flat)).size,
      reopen: () => createReadStream(flat),
    })
    await untilAborted(sent, request.signal)
  } catch (error) {
    await images.deleteImage(image.id).catch(() => {})
    throw error
  }
  return images.getImage(image.id)
}

/** Resolves as `promise` does, or rejects with the signal's reason as soon as it aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    if (signal.aborted) onAbort()
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

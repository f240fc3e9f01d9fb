import { randomBytes } from 'node:crypto'
import { link, lstat, realpath, rm, stat } from 'node:fs/promises'
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path'
import type { Logger } from 'pino'
import {
  convertAddressSpaceLimitBytes,
  QemuImgError,
  runQemuImg,
} from '../imports/plugins/run-qemu-img.js'
import { AgentError } from './agent-error.js'
import type { VmDisk, VmDiskFormat } from './disk-registry.js'
import type { ImageAgent } from './image-agent.js'
import { formatBytes } from '../cli/transfer.js'
import type { ImageFacts } from './library-client.js'

/** qemu-img's driver name for each disk_format a VM disk can be made from. */
const qemuFormats: Readonly<Record<string, string>> = {
  raw: 'raw',
  qcow2: 'qcow2',
  vmdk: 'vmdk',
  vhd: 'vpc',
  vhdx: 'vhdx',
  vdi: 'vdi',
}

export interface DiskRequest {
  /** The image, by id or unique name. */
  image: string
  /** The virtual size of the new disk in bytes. */
  size: number
  /** The path of the new disk: absolute, and not existing yet. */
  path: string
  format: VmDiskFormat
}

const gib = 1024 ** 3

/**
 * Makes a VM disk from a cached image: a qcow2 overlay whose backing file is the cached copy,
 * or a raw copy that needs no base. The disk appears at its path only when complete (it is
 * built under a temporary name and linked into place, never over an existing file). An
 * overlay pins its base in the cache until the overlay file is deleted.
 */
export async function createVmDisk(
  agent: ImageAgent,
  request: DiskRequest,
  log: Logger,
): Promise<VmDisk> {
  if (!agent.disks.claim(request.path)) {
    throw new AgentError(
      'DISK_EXISTS',
      `Another disk create for ${request.path} is running. Wait for it, or choose another path.`,
    )
  }
  try {
    return await makeVmDisk(agent, request, log)
  } finally {
    agent.disks.release(request.path)
  }
}

async function makeVmDisk(agent: ImageAgent, request: DiskRequest, log: Logger): Promise<VmDisk> {
  await checkTarget(agent, request.path)
  // The image record decides the format and the size, so a bad request downloads nothing.
  const fetched = await agent.fetch(request.image, {
    check: (image) => {
      checkFormat(image)
      checkSize(request.size, image.virtualSize ?? image.size, image.minDisk, image.id)
    },
  })
  const { image } = fetched
  return agent.holding(image.id, async () => {
    const qemuFormat = checkFormat(image)
    const temporary = join(
      dirname(request.path),
      `.${basename(request.path)}.${randomBytes(6).toString('hex')}.tmp`,
    )
    const disk: VmDisk = {
      path: request.path,
      imageId: image.id,
      format: request.format,
      backingFile: request.format === 'qcow2' ? fetched.path : null,
      createdAt: Date.now(),
      temporaryPath: temporary,
    }
    // Registered first: an overlay that exists must always pin its base, even after a crash.
    await agent.disks.add(disk)
    try {
      await buildDisk(fetched.path, qemuFormat, request, temporary)
    } catch (error) {
      await agent.disks.remove(request.path)
      throw error
    }
    await agent.disks.created(request.path, await readFileId(request.path))
    log.info(
      { op: 'disk-create', imageId: image.id, path: request.path, format: request.format },
      'VM disk created',
    )
    return disk
  })
}

/** Deletes a VM disk that `createVmDisk` made, which unpins its base image. */
export async function deleteVmDisk(agent: ImageAgent, path: string, log: Logger): Promise<void> {
  // Deleting the entry while the disk is built would leave an overlay that pins nothing.
  if (agent.disks.isClaimed(path)) {
    throw new AgentError(
      'DISK_BUSY',
      `A disk create for ${path} is running. Delete the disk after it has finished.`,
    )
  }
  const disk = agent.disks.get(path)
  if (disk === undefined) {
    throw new AgentError('DISK_NOT_FOUND', `${path} is not a VM disk made by this agent.`)
  }
  // A file that a user put in place of the disk (or a link there) is not the agent's to delete.
  const fileId = await readFileId(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined
    throw error
  })
  if (disk.fileId !== undefined && fileId !== undefined && fileId !== disk.fileId) {
    throw new AgentError(
      'DISK_REPLACED',
      `${path} is another file than the disk the agent made, so the agent leaves it alone. ` +
        'Remove it yourself if it is not needed; the entry of the disk goes once the path is gone.',
    )
  }
  await rm(path, { force: true })
  await agent.disks.remove(path)
  log.info({ op: 'disk-delete', imageId: disk.imageId, path }, 'VM disk deleted')
}

async function checkTarget(agent: ImageAgent, path: string): Promise<void> {
  if (!isAbsolute(path)) {
    throw new AgentError('BAD_REQUEST', `The disk path must be absolute, got '${path}'.`)
  }
  const parent = await realpath(dirname(path)).catch(() => undefined)
  const parentStat = parent === undefined ? undefined : await stat(parent)
  if (parent === undefined || !parentStat?.isDirectory()) {
    throw new AgentError('BAD_REQUEST', `The directory ${dirname(path)} does not exist.`)
  }
  // Links are resolved too: at start the agent deletes files in tmp/ and partial/, and unknown
  // entries in images/, so a disk reached through a link into the cache would be lost.
  const root = await realpath(agent.directory.root)
  if (isInside(agent.directory.root, path) || isInside(root, join(parent, basename(path)))) {
    throw new AgentError('BAD_REQUEST', `The disk path ${path} is inside the cache directory.`)
  }
  if (
    await lstat(path).then(
      () => true,
      () => false,
    )
  ) {
    throw new AgentError(
      'DISK_EXISTS',
      `${path} exists already; the agent never overwrites a disk.`,
    )
  }
}

/**
 * Returns `dev:ino:birth time in ns` of the entry at `path`, without following a link. The birth
 * time distinguishes a new file from the disk when the file system reuses the freed inode number.
 */
async function readFileId(path: string): Promise<string> {
  // NOTE: where the file system reports no birth time (Node then gives 0), a replacement that
  // reuses the inode number of the deleted disk is taken for the disk.
  const entry = await lstat(path, { bigint: true })
  return `${entry.dev}:${entry.ino}:${entry.birthtimeNs}`
}

function isInside(directory: string, path: string): boolean {
  const inside = relative(directory, path)
  return inside !== '..' && !inside.startsWith(`..${sep}`) && !isAbsolute(inside)
}

/** Returns qemu-img's driver for the image's disk_format; throws when it cannot back a disk. */
function checkFormat(image: ImageFacts): string {
  const qemuFormat = qemuFormats[image.diskFormat]
  if (qemuFormat === undefined) {
    throw new AgentError(
      'BAD_REQUEST',
      `Image ${image.id} has disk_format ${image.diskFormat}, which cannot back a VM disk` +
        (image.diskFormat === 'iso' ? '; attach an ISO image as a CD-ROM instead.' : '.'),
    )
  }
  return qemuFormat
}

function checkSize(size: number, virtualSize: number, minDisk: number, imageId: string): void {
  const minimum = Math.max(virtualSize, minDisk * gib)
  if (size >= minimum) return
  throw new AgentError(
    'DISK_TOO_SMALL',
    `A disk of ${formatBytes(size)} cannot hold image ${imageId}: its virtual size is ` +
      `${formatBytes(virtualSize)} and its min_disk is ${minDisk} GiB. ` +
      `Ask for at least ${formatBytes(minimum)} (${minimum} bytes).`,
  )
}

async function buildDisk(
  base: string,
  qemuFormat: string,
  request: DiskRequest,
  temporary: string,
): Promise<void> {
  const limits = { timeoutMs: 60 * 60 * 1000, cpuSeconds: 3600, maxStdoutBytes: 0 }
  try {
    if (request.format === 'qcow2') {
      await runQemuImg(
        [
          'create',
          '-q',
          '-f',
          'qcow2',
          '-F',
          qemuFormat,
          '-b',
          base,
          temporary,
          String(request.size),
        ],
        limits,
      )
    } else {
      await runQemuImg(['convert', '-q', '-f', qemuFormat, '-O', 'raw', base, temporary], {
        ...limits,
        addressSpaceBytes: convertAddressSpaceLimitBytes,
      })
      await runQemuImg(['resize', '-q', '-f', 'raw', temporary, String(request.size)], limits)
    }
    await link(temporary, request.path)
  } catch (error) {
    if (error instanceof QemuImgError) {
      throw new AgentError(
        'INTERNAL',
        `qemu-img could not make the disk: ${error.stderr || error.message}`,
        {
          cause: error,
        },
      )
    }
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new AgentError('DISK_EXISTS', `${request.path} appeared while the disk was being made.`)
    }
    throw error
  } finally {
    await rm(temporary, { force: true })
  }
}

import type { Readable, Writable } from 'node:stream'
import type { Command } from 'commander'
import { setCommandAction, type CliIo, type CommandRuntime } from '../command-runtime.js'
import { addConnectionOptions } from '../connection-config.js'
import { CliError, UsageError } from '../errors.js'
import type { ImageRecord } from '../image-client.js'
import { findImage } from '../image-lookup.js'
import { describeError } from '../http-client.js'
import { createProgress, resumableDownload, saveVerified, type SaveTarget } from '../transfer.js'

interface SaveOptions {
  file?: string
}

const example = `
Examples:
  pcdctl image save my-image --file disk.qcow2
  pcdctl image save my-image | gzip > disk.qcow2.gz`

/** Adds `image save`: download an image's data and verify its checksums. */
export function defineImageSaveCommand(image: Command, io: CliIo, result: { exitCode: number }) {
  const command = image
    .command('save')
    .description(
      "Download an image's data, checking its md5 checksum and os_hash_value; " +
        'a file that fails the check is deleted',
    )
    .argument('<image>', 'image to download, by name or ID')
    .option('--file <path>', 'write the data to this file (default: standard output)')
  addConnectionOptions(command, { hidden: true })
  command.addHelpText('after', example)
  setCommandAction(command, io, result, runImageSave)
  return command
}

async function runImageSave(runtime: CommandRuntime, command: Command): Promise<number> {
  const [nameOrId] = command.processedArgs as [string]
  const options = runtime.options as SaveOptions
  const stdout = runtime.io.stdout as Writable & { isTTY?: boolean }
  if (options.file === undefined && stdout.isTTY === true) {
    throw new UsageError(
      'Not writing binary image data to a terminal: pass --file PATH or redirect standard output.',
    )
  }

  const images = await runtime.images()
  const image = await findImage(images, nameOrId)
  const response = await images.downloadImageData(image.id)
  if (response === undefined) {
    throw new CliError(`Image ${image.id} has no data (status ${image.status ?? 'unknown'}).`)
  }

  const size = typeof image['size'] === 'number' ? image['size'] : undefined
  const data = resumableDownload(response.body, size, async (offset, cause) => {
    if (!images.failOver(`download cut off after ${offset} bytes: ${describeError(cause)}`)) {
      return null
    }
    return (await images.downloadImageData(image.id, offset))?.body ?? null
  })
  await saveWithProgress(runtime, data, image, options.file)
  return 0
}

async function saveWithProgress(
  runtime: CommandRuntime,
  data: Readable,
  image: ImageRecord,
  file: string | undefined,
): Promise<void> {
  const target: SaveTarget =
    file === undefined
      ? { kind: 'stream', stream: runtime.io.stdout }
      : { kind: 'file', path: file }
  const size = typeof image['size'] === 'number' ? image['size'] : undefined
  const progress = createProgress(runtime.io.stderr, 'Downloading', size)
  try {
    await saveVerified(data, image, target, {
      warn: (message) => runtime.warn(message),
      onProgress: (bytes) => progress.update(bytes),
    })
  } finally {
    progress.stop()
  }
}

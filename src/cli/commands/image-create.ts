import { Option, type Command } from 'commander'
import {
  parseKeyValue,
  parseNonNegativeInteger,
  setCommandAction,
  type CliIo,
  type CommandRuntime,
} from '../command-runtime.js'
import { addConnectionOptions } from '../connection-config.js'
import { CliError } from '../errors.js'
import { describeError } from '../http-client.js'
import type { ImageClient, ImageRecord } from '../image-client.js'
import { findProjectId } from '../image-lookup.js'
import {
  addProtectionOptions,
  addVisibilityOptions,
  containerFormats,
  diskFormats,
  readProtected,
  readVisibility,
} from '../image-options.js'
import { toImageShowResult } from '../image-view.js'
import { addShowOutputOptions, appendValue, writeShow, type OutputOptions } from '../output.js'
import type { JsonValue } from '../python-format.js'
import { createProgress, openUploadSource, type UploadSource } from '../transfer.js'

interface CreateOptions extends OutputOptions {
  id?: string
  containerFormat: string
  diskFormat: string
  minDisk?: number
  minRam?: number
  file?: string
  property?: Record<string, string>
  tag?: string[]
  project?: string
  projectDomain?: string
}

const example = `
Example:
  pcdctl image create --container-format bare --disk-format qcow2 --public \\
    --file disk.qcow2 my-image`

/** Adds `image create`: create an image record and upload its data. */
export function defineImageCreateCommand(image: Command, io: CliIo, result: { exitCode: number }) {
  const command = image
    .command('create')
    .description('Create an image record and, with --file, upload its data')
    .argument('<image-name>', 'name of the new image')
    .option('--id <id>', 'id of the new image, a UUID (default: chosen by the server)')
    .addOption(
      new Option('--container-format <format>', 'container format of the image')
        .choices(containerFormats)
        .default('bare'),
    )
    .addOption(
      new Option('--disk-format <format>', 'disk format of the image')
        .choices(diskFormats)
        .default('raw'),
    )
    .option(
      '--min-disk <gb>',
      'minimum disk size to boot the image, in GiB',
      parseNonNegativeInteger,
    )
    .option('--min-ram <mb>', 'minimum RAM to boot the image, in MiB', parseNonNegativeInteger)
    .option('--file <path>', 'upload the image data from this file; - reads standard input')
    .option(
      '--progress',
      'accepted for compatibility; the progress bar appears whenever stderr is a terminal',
    )
  addProtectionOptions(command)
  addVisibilityOptions(command, (visibility) => `set the image's visibility to ${visibility}`)
  command
    .option('--property <key=value>', 'set an extra property; repeat for more', parseKeyValue)
    .option('--tag <tag>', 'add a tag; repeat for more', appendValue)
    .option('--project <project>', 'owner project of the image, by name or ID (admin only)')
    .option('--project-domain <domain>', 'domain of --project, by name or ID')
  addShowOutputOptions(command)
  addConnectionOptions(command, { hidden: true })
  command.addHelpText('after', example)
  setCommandAction(command, io, result, runImageCreate)
  return command
}

async function runImageCreate(runtime: CommandRuntime, command: Command): Promise<number> {
  const [name] = command.processedArgs as [string]
  const options = runtime.options as unknown as CreateOptions
  const source =
    options.file === undefined ? undefined : await openUploadSource(options.file, runtime.io.stdin)

  try {
    const images = await runtime.images()
    const owner =
      options.project === undefined
        ? undefined
        : await findProjectId(await runtime.session(), options.project, options.projectDomain)

    const created = await images.createImage(buildCreateRequest(name, options, owner))
    const image =
      source === undefined ? created : await uploadData(runtime, images, created, source)
    writeShow(runtime.io.stdout, toImageShowResult(image), options)
    return 0
  } finally {
    if (source !== undefined && source.stream !== runtime.io.stdin) source.stream.destroy()
  }
}

/** Builds the body of `POST /v2/images`; extra properties go at the top level as strings. */
export function buildCreateRequest(
  name: string,
  options: Omit<CreateOptions, keyof OutputOptions>,
  owner: string | undefined,
): Record<string, JsonValue> {
  const body: Record<string, JsonValue> = {
    ...options.property,
    name,
    disk_format: options.diskFormat,
    container_format: options.containerFormat,
  }
  const flags = options as unknown as Record<string, unknown>
  const visibility = readVisibility(flags)
  const isProtected = readProtected(flags)

  if (options.id !== undefined) body['id'] = options.id
  if (visibility !== undefined) body['visibility'] = visibility
  if (isProtected !== undefined) body['protected'] = isProtected
  if (options.minDisk !== undefined) body['min_disk'] = options.minDisk
  if (options.minRam !== undefined) body['min_ram'] = options.minRam
  if (options.tag !== undefined && options.tag.length > 0) body['tags'] = [...new Set(options.tag)]
  if (owner !== undefined) body['owner'] = owner
  return body
}

async function uploadData(
  runtime: CommandRuntime,
  images: ImageClient,
  created: ImageRecord,
  source: UploadSource,
): Promise<ImageRecord> {
  const progress = createProgress(runtime.io.stderr, 'Uploading', source.size)
  try {
    await images.uploadImageData(created.id, {
      body: source.stream,
      size: source.size,
      onProgress: (bytes) => progress.update(bytes),
      ...(source.reopen === undefined ? {} : { reopen: source.reopen }),
    })
  } catch (error) {
    progress.stop()
    throw await deleteAfterFailedUpload(images, created.id, error)
  }
  progress.stop()
  return images.getImage(created.id)
}

// The openstack CLI deletes the image record when its upload fails (openstacksdk 0.101,
// _upload_image_put in openstack/image/v2/_proxy.py), so a failed import leaves no queued
// image behind. pcdctl does the same and reports both steps.
async function deleteAfterFailedUpload(
  images: ImageClient,
  imageId: string,
  uploadError: unknown,
): Promise<CliError> {
  const failure = `Uploading the data of image ${imageId} failed: ${describeError(uploadError)}`
  try {
    await images.deleteImage(imageId)
    return new CliError(`${failure}\nDeleted the queued image ${imageId}.`, { cause: uploadError })
  } catch (deleteError) {
    return new CliError(
      `${failure}\nDeleting the queued image ${imageId} failed too: ${describeError(deleteError)}`,
      { cause: new AggregateError([uploadError, deleteError]) },
    )
  }
}

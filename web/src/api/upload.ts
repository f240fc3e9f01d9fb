import { describeApiError } from '../lib/api-error.js'
import { TransferRate } from '../lib/transfer-rate.js'
import { ApiError, reportUnauthorized } from './http.js'

export interface UploadProgress {
  sentBytes: number
  totalBytes: number
  bytesPerSecond: number
  /** `null` until the rate is known. */
  secondsLeft: number | null
}

export interface RunningUpload {
  /** Resolves when the server has stored the data; rejects with ApiError or UploadCancelled. */
  done: Promise<void>
  cancel(): void
}

export class UploadCancelled extends Error {
  constructor() {
    super('The upload was cancelled.')
    this.name = 'UploadCancelled'
  }
}

/**
 * Sends a file as the image's data with `PUT /v2/images/{id}/file`. XMLHttpRequest is used
 * because fetch reports no upload progress. Given a File, the browser streams it from disk,
 * so multi-gigabyte files are not read into memory.
 */
export function uploadImageData(
  token: string,
  imageId: string,
  file: File,
  onProgress: (progress: UploadProgress) => void,
): RunningUpload {
  const request = new XMLHttpRequest()
  const rate = new TransferRate()
  const done = new Promise<void>((resolve, reject) => {
    request.open('PUT', `/v2/images/${encodeURIComponent(imageId)}/file`)
    request.setRequestHeader('content-type', 'application/octet-stream')
    request.setRequestHeader('accept', 'application/json')
    request.setRequestHeader('x-auth-token', token)
    request.upload.onprogress = (event) => {
      rate.record(performance.now(), event.loaded)
      onProgress({
        sentBytes: event.loaded,
        totalBytes: file.size,
        bytesPerSecond: rate.bytesPerSecond(),
        secondsLeft: rate.secondsLeft(file.size),
      })
    }
    request.onload = () => {
      if (request.status >= 200 && request.status < 300) resolve()
      else {
        reject(responseError(request))
        reportUnauthorized(request.status, token)
      }
    }
    request.onerror = () => {
      isReadable(file).then((readable) => reject(readable ? connectionFailed() : fileChanged()))
    }
    request.onabort = () => reject(new UploadCancelled())
    request.send(file)
  })
  return { done, cancel: () => request.abort() }
}

/**
 * Returns whether the browser can still read `file`. A File is a snapshot of the picked file.
 * When the file changes on disk, Chromium stops its upload with the same error event as a broken
 * connection, and reading it fails as well.
 */
async function isReadable(file: File): Promise<boolean> {
  try {
    await file.slice(0, 1).arrayBuffer()
    return true
  } catch {
    return false
  }
}

function connectionFailed(): ApiError {
  return new ApiError('The connection failed during the upload. Try again.', 0)
}

function fileChanged(): ApiError {
  return new ApiError(
    'The file changed on disk after it was picked, so the browser stopped sending it. ' +
      'Pick the file again, then upload it.',
    0,
  )
}

function responseError(request: XMLHttpRequest): ApiError {
  const message = describeApiError(
    request.status,
    request.responseText,
    request.getResponseHeader('content-type'),
    request.getResponseHeader('x-openstack-request-id'),
  )
  return new ApiError(message, request.status)
}

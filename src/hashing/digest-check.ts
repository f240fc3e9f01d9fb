import { createHash } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'
import type { Image } from '../domain/image.js'
import type { InspectionSession } from '../domain/ports.js'

/**
 * Passes image data through and fails at the end unless its SHA-512 is the image's
 * `os_hash_value`, so that a copy made from it is never published when the source was damaged.
 * With an inspection session, the data must also pass the format inspection.
 */
export class DigestCheck extends Transform {
  readonly #hash = createHash('sha512')
  readonly #image: Image
  readonly #inspection: InspectionSession | null

  constructor(image: Image, inspection: InspectionSession | null = null) {
    super()
    this.#image = image
    this.#inspection = inspection
  }

  override _transform(chunk: Buffer, _encoding: string, callback: TransformCallback): void {
    try {
      this.#inspection?.push(chunk)
    } catch (error) {
      return callback(error as Error)
    }
    this.#hash.update(chunk)
    callback(null, chunk)
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.#inspection?.finish()
    } catch (error) {
      return callback(error as Error)
    }
    const digest = this.#hash.digest('hex')
    if (this.#image.osHashValue === null || digest === this.#image.osHashValue) callback()
    else callback(new Error(`image ${this.#image.id} data has SHA-512 ${digest}, not its own`))
  }
}

import { createHash } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'
import type { Image } from '../domain/image.js'

/**
 * Passes image data through and fails at the end unless its SHA-512 is the image's
 * `os_hash_value`, so that a copy made from it is never published when the source was damaged.
 */
export class DigestCheck extends Transform {
  readonly #hash = createHash('sha512')
  readonly #image: Image

  constructor(image: Image) {
    super()
    this.#image = image
  }

  override _transform(chunk: Buffer, _encoding: string, callback: TransformCallback): void {
    this.#hash.update(chunk)
    callback(null, chunk)
  }

  override _flush(callback: TransformCallback): void {
    const digest = this.#hash.digest('hex')
    if (this.#image.osHashValue === null || digest === this.#image.osHashValue) callback()
    else callback(new Error(`image ${this.#image.id} data has SHA-512 ${digest}, not its own`))
  }
}

import { ServiceError } from '../domain/errors.js'

/** The base of errors a store driver raises; names the driver. */
export class StoreError extends Error {
  readonly store: string

  constructor(store: string, message: string, options?: ErrorOptions) {
    super(`${store} store: ${message}`, options)
    this.name = 'StoreError'
    this.store = store
  }
}

export class BlobNotFound extends StoreError {
  readonly key: string

  constructor(store: string, key: string) {
    super(store, `blob ${key} not found`)
    this.name = 'BlobNotFound'
    this.key = key
  }
}

export class BlobExists extends StoreError {
  readonly key: string

  constructor(store: string, key: string) {
    super(store, `blob ${key} already exists`)
    this.name = 'BlobExists'
    this.key = key
  }
}

export class InvalidKey extends StoreError {
  constructor(store: string, key: string) {
    super(store, `invalid blob key ${JSON.stringify(key)}: use 1-200 of [A-Za-z0-9._-]`)
    this.name = 'InvalidKey'
  }
}

/** The store cannot be used now (disk full, mount gone, backend down); clients may retry. */
export class StoreUnavailable extends ServiceError {
  readonly store: string

  constructor(store: string, message: string, cause?: unknown) {
    super('STORE_UNAVAILABLE', `The ${store} image store is unavailable: ${message}`, { cause })
    this.name = 'StoreUnavailable'
    this.store = store
  }
}

/** Free space ran out during a write. */
export class StoreFull extends ServiceError {
  readonly store: string

  constructor(store: string, cause?: unknown) {
    super(
      'PAYLOAD_TOO_LARGE',
      `The ${store} image store has no free space left for this image; ask an operator to free space or use a smaller image.`,
      { cause },
    )
    this.name = 'StoreFull'
    this.store = store
  }
}

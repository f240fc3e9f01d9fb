/**
 * The error catalogue. Every error the service shows a client has a code here, with the HTTP
 * status it maps to, a short client-safe title and a description for operators.
 */
export const errorCatalogue = {
  BAD_REQUEST: {
    status: 400,
    title: 'Bad Request',
    description: 'The request is malformed or names an invalid value.',
  },
  UNAUTHORIZED: {
    status: 401,
    title: 'Unauthorized',
    description: 'The request carries no token, or the token is invalid, expired or revoked.',
  },
  FORBIDDEN: {
    status: 403,
    title: 'Forbidden',
    description: 'The caller is authenticated but the policy does not allow the operation.',
  },
  IMAGE_NOT_FOUND: {
    status: 404,
    title: 'Not Found',
    description: 'No image with this id exists, or the caller may not see it.',
  },
  CACHE_AGENT_NOT_FOUND: {
    status: 404,
    title: 'Not Found',
    description: 'No image cache agent of this name has reported to the library.',
  },
  NOT_FOUND: {
    status: 404,
    title: 'Not Found',
    description: 'The requested resource does not exist or is not visible to the caller.',
  },
  METHOD_NOT_ALLOWED: {
    status: 405,
    title: 'Method Not Allowed',
    description: 'The resource exists but does not support this HTTP method.',
  },
  NOT_ACCEPTABLE: {
    status: 406,
    title: 'Not Acceptable',
    description: 'The service cannot produce a representation the client accepts.',
  },
  CONFLICT: {
    status: 409,
    title: 'Conflict',
    description: 'The request conflicts with the current state of the resource.',
  },
  IMAGE_STATE_CONFLICT: {
    status: 409,
    title: 'Conflict',
    description: 'The image is not in a status that allows the operation.',
  },
  PAYLOAD_TOO_LARGE: {
    status: 413,
    title: 'Request Entity Too Large',
    description: 'The image data exceeds the configured maximum image size or free space.',
  },
  QUOTA_EXCEEDED: {
    status: 413,
    title: 'Request Entity Too Large',
    description: 'The request would take the project past one of its quotas.',
  },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    title: 'Unsupported Media Type',
    description: 'The request body has a content type the operation does not accept.',
  },
  RANGE_NOT_SATISFIABLE: {
    status: 416,
    title: 'Requested Range Not Satisfiable',
    description: 'The requested byte range lies outside the image data.',
  },
  INTERNAL: {
    status: 500,
    title: 'Internal Server Error',
    description: 'An unexpected failure; the log has the details under the request id.',
  },
  NOT_IMPLEMENTED: {
    status: 501,
    title: 'Not Implemented',
    description: 'The service does not implement this operation.',
  },
  STORE_UNAVAILABLE: {
    status: 503,
    title: 'Service Unavailable',
    description: 'The image data store cannot be read or written at the moment.',
  },
} as const satisfies Record<string, { status: number; title: string; description: string }>

export type ErrorCode = keyof typeof errorCatalogue

export interface ServiceErrorOptions {
  /** Client-safe detail lines appended to the message in some renderings. */
  details?: Record<string, unknown>
  /** The internal error behind this one; logged, never sent to clients. */
  cause?: unknown
  /** Extra response headers, such as `Accept-Patch` on a 415. */
  headers?: Record<string, string>
}

/**
 * The base of every error whose message may be shown to a client. The HTTP status comes from
 * the catalogue entry of `code`.
 */
export class ServiceError extends Error {
  readonly code: ErrorCode
  readonly details: Record<string, unknown> | undefined
  readonly headers: Record<string, string> | undefined

  constructor(code: ErrorCode, message: string, options: ServiceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'ServiceError'
    this.code = code
    this.details = options.details
    this.headers = options.headers
  }

  get status(): number {
    return errorCatalogue[this.code].status
  }

  get title(): string {
    return errorCatalogue[this.code].title
  }
}

/** A missing resource, or one the caller may not see (which reads the same on purpose). */
export class NotFoundError extends ServiceError {
  constructor(
    message: string,
    code: 'NOT_FOUND' | 'IMAGE_NOT_FOUND' | 'CACHE_AGENT_NOT_FOUND' = 'NOT_FOUND',
  ) {
    super(code, message)
    this.name = 'NotFoundError'
  }
}

/** A request that is syntactically or semantically invalid. */
export class InvalidInputError extends ServiceError {
  constructor(message: string, options: ServiceErrorOptions = {}) {
    super('BAD_REQUEST', message, options)
    this.name = 'InvalidInputError'
  }
}

/** A request the caller is not allowed to make. */
export class ForbiddenError extends ServiceError {
  constructor(message: string) {
    super('FORBIDDEN', message)
    this.name = 'ForbiddenError'
  }
}

/** A request that clashes with the resource's current state. */
export class ConflictError extends ServiceError {
  constructor(message: string, code: 'CONFLICT' | 'IMAGE_STATE_CONFLICT' = 'CONFLICT') {
    super(code, message)
    this.name = 'ConflictError'
  }
}

/** Codes of the failures the agent reports to its callers, with the HTTP status of each. */
export const agentErrorStatus = {
  BAD_REQUEST: 400,
  CALL_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  IMAGE_NOT_FOUND: 404,
  DISK_NOT_FOUND: 404,
  IMAGE_NOT_ACTIVE: 409,
  DISK_EXISTS: 409,
  DISK_BUSY: 409,
  DISK_REPLACED: 409,
  DISK_TOO_SMALL: 400,
  CHECKSUM_MISMATCH: 502,
  IMAGE_FORMAT_INVALID: 422,
  CACHE_FULL: 507,
  LIBRARY_UNAVAILABLE: 503,
  INTERNAL: 500,
} as const

export type AgentErrorCode = keyof typeof agentErrorStatus

/** A failure with a code, and a message with the cause and the fix for the caller. */
export class AgentError extends Error {
  readonly code: AgentErrorCode

  constructor(code: AgentErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'AgentError'
    this.code = code
  }

  get status(): number {
    return agentErrorStatus[this.code]
  }
}

/**
 * An error that pcdctl reports to the user as one message on stderr, ending the command with
 * `exitCode`: 1 when an operation failed, 2 when the command line itself is wrong.
 */
export class CliError extends Error {
  readonly exitCode: 1 | 2

  constructor(message: string, options: { exitCode?: 1 | 2; cause?: unknown } = {}) {
    super(message, { cause: options.cause })
    this.name = 'CliError'
    this.exitCode = options.exitCode ?? 1
  }
}

/** A command line that cannot run as written: a bad value, a missing option, a conflict. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, { exitCode: 2 })
    this.name = 'UsageError'
  }
}

/**
 * An HTTP response with an error status. `message` is the server's message cleaned of markup,
 * followed by the status and the request id, so it can be shown as it is.
 */
export class HttpError extends CliError {
  readonly status: number
  readonly requestId: string | undefined

  constructor(status: number, serverMessage: string, requestId: string | undefined) {
    const suffix = requestId === undefined ? `HTTP ${status}` : `HTTP ${status}, ${requestId}`
    super(`${serverMessage} (${suffix})`)
    this.name = 'HttpError'
    this.status = status
    this.requestId = requestId
  }
}

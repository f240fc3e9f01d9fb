import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import pino, { type Logger } from 'pino'

export interface LogOptions {
  level: string
  /** JSON-lines log file; `null` logs to stderr only. */
  file: string | null
  /** Also write to stderr (a service does; a command-line tool keeps stderr for the user). */
  stderr: boolean
}

/** Fields that may carry secrets; pino replaces their values before a line is written. */
const redactPaths = [
  'password',
  '*.password',
  'token',
  '*.token',
  'headers.authorization',
  'headers.cookie',
  'headers["x-auth-token"]',
  'headers["x-subject-token"]',
  '*.headers["x-auth-token"]',
  '*.headers["x-subject-token"]',
]

/** Creates the process logger: JSON lines with a fixed set of field names. */
export function createLogger(options: LogOptions): Logger {
  const streams: pino.StreamEntry[] = []
  if (options.stderr) streams.push({ level: 'trace', stream: pino.destination(2) })
  if (options.file !== null) {
    mkdirSync(dirname(options.file), { recursive: true })
    streams.push({ level: 'trace', stream: pino.destination({ dest: options.file, sync: false }) })
  }
  return pino(
    {
      level: options.level,
      base: { pid: process.pid },
      redact: { paths: redactPaths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.multistream(streams),
  )
}

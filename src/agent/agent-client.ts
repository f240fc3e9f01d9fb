import { request as httpRequest } from 'node:http'

/** An error returned by the agent, or a failure to reach it. */
export class AgentCallError extends Error {
  readonly code: string
  readonly status: number

  constructor(code: string, status: number, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'AgentCallError'
    this.code = code
    this.status = status
  }
}

/**
 * Calls the agent's socket API and resolves with the JSON response. Rejects with an
 * AgentCallError carrying the agent's code and message, or code `AGENT_UNREACHABLE`.
 */
export function callAgent<T>(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        socketPath,
        method,
        path,
        headers:
          payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': payload.length },
      },
      (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.once('error', reject)
        response.once('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          try {
            const parsed = JSON.parse(text) as { error?: { code: string; message: string } }
            const status = response.statusCode ?? 500
            if (status < 300) resolve(parsed as T)
            else
              reject(
                new AgentCallError(
                  parsed.error?.code ?? 'INTERNAL',
                  status,
                  parsed.error?.message ?? text,
                ),
              )
          } catch {
            reject(
              new AgentCallError(
                'INTERNAL',
                response.statusCode ?? 500,
                `The agent answered: ${text}`,
              ),
            )
          }
        })
      },
    )
    request.once('error', (error) =>
      reject(
        new AgentCallError(
          'AGENT_UNREACHABLE',
          0,
          `Cannot reach the agent at ${socketPath}: ${error.message}. Is \`image-library agent serve\` running with this --socket?`,
          { cause: error },
        ),
      ),
    )
    request.end(payload)
  })
}

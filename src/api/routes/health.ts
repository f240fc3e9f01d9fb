import type { FastifyInstance } from 'fastify'

export interface HealthCheck {
  name: string
  /** Resolves when healthy; rejects with the reason otherwise. */
  run(): Promise<Record<string, unknown> | void>
}

const checkTimeoutMs = 5000

/** `GET /healthcheck`: 200 when every check passes, 503 naming the failed ones. No token needed. */
export function registerHealthRoute(app: FastifyInstance, checks: HealthCheck[]): void {
  app.get('/healthcheck', async (request, reply) => {
    const results = await Promise.all(checks.map((check) => runCheck(check)))
    const healthy = results.every((result) => result.ok)
    if (!healthy) request.log.warn({ checks: results }, 'health check failed')
    reply.status(healthy ? 200 : 503)
    return {
      status: healthy ? 'ok' : 'failed',
      checks: Object.fromEntries(results.map(({ name, ...rest }) => [name, rest])),
    }
  })
}

async function runCheck(check: HealthCheck) {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${checkTimeoutMs} ms`)),
      checkTimeoutMs,
    )
  })
  try {
    const details = await Promise.race([check.run(), timeout])
    return { name: check.name, ok: true, ...(details ?? {}) }
  } catch (error) {
    return { name: check.name, ok: false, error: (error as Error).message }
  } finally {
    clearTimeout(timer)
  }
}

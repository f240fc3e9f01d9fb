import type { FastifyReply } from 'fastify'

/**
 * The Content-Security-Policy of every UI response. The UI is built to files under the same
 * origin, so nothing inline and nothing from another origin is needed: scripts, styles and
 * API calls all come from 'self', and no page may frame the UI.
 */
export const uiContentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ')

/** Sets the headers that every response under `/ui/` carries. */
export function setUiSecurityHeaders(reply: FastifyReply): void {
  reply
    .header('content-security-policy', uiContentSecurityPolicy)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cross-origin-opener-policy', 'same-origin')
    .header('cross-origin-resource-policy', 'same-origin')
    .header('permissions-policy', 'camera=(), microphone=(), geolocation=(), payment=()')
}

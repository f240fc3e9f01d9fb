import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { acceptsHtml } from '../../src/api/routes/ui.js'
import { call, passwordAuthBody, type Response } from '../helpers/client.js'
import { startServer, type RunningServer } from '../helpers/server.js'

describe('accepts html', () => {
  it('takes a browser navigation for HTML', () => {
    const chromium = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'
    assert.equal(acceptsHtml(chromium), true)
  })

  it('does not take a wildcard or JSON for HTML', () => {
    assert.equal(acceptsHtml('*/*'), false)
    assert.equal(acceptsHtml('application/json'), false)
    assert.equal(acceptsHtml(undefined), false)
  })

  it('does not take text/html with quality 0', () => {
    assert.equal(acceptsHtml('text/html;q=0, application/json'), false)
  })
})

describe('web UI routes of image-library serve', () => {
  let server: RunningServer
  const get = (path: string, headers: Record<string, string> = {}) =>
    call(server, server.imageUrl, 'GET', path, { headers })
  const logIn = () =>
    call(server, server.imageUrl, 'POST', '/ui/identity/v3/auth/tokens', {
      body: passwordAuthBody({
        username: 'admin',
        password: server.env.OS_PASSWORD!,
        project: 'admin',
      }),
    })

  before(async () => {
    server = await startServer()
  })
  after(async () => {
    await server?.stop()
  })

  it('redirects a browser from / to /ui/', async () => {
    const response = await get('/', { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' })
    assert.equal(response.status, 303)
    assert.equal(response.headers.location, '/ui/')
  })

  it('still sends API clients the versions document at /', async () => {
    const response = await get('/', { accept: 'application/json' })
    assert.equal(response.status, 300)
    assert.ok(Array.isArray(response.json().versions))
  })

  it('serves the UI page with a strict policy', async () => {
    const response = await get('/ui/', { accept: 'text/html' })
    assert.equal(response.status, 200)
    assert.match(String(response.headers['content-type']), /^text\/html/)
    const policy = String(response.headers['content-security-policy'])
    assert.match(policy, /default-src 'self'/)
    assert.match(policy, /script-src 'self'(;|$)/)
    assert.match(policy, /style-src 'self'(;|$)/)
    assert.match(policy, /frame-ancestors 'none'/)
    assert.doesNotMatch(policy, /unsafe-inline|unsafe-eval/)
    assert.equal(response.headers['x-content-type-options'], 'nosniff')
    assert.equal(response.headers['referrer-policy'], 'no-referrer')
    assert.equal(response.headers['cache-control'], 'no-store')
  })

  it('has no inline script or style in the page', async () => {
    const html = (await get('/ui/')).text()
    assert.doesNotMatch(html, /<script(?![^>]*\ssrc=)[^>]*>/)
    assert.doesNotMatch(html, /<style|\sstyle=/)
  })

  it('serves the hashed assets the page names', async () => {
    const html = (await get('/ui/')).text()
    const script = /src="(\/ui\/assets\/[^"]+\.js)"/.exec(html)?.[1]
    assert.ok(script, 'the page names a script under /ui/assets/')
    const response = await get(script)
    assert.equal(response.status, 200)
    assert.match(String(response.headers['content-type']), /^text\/javascript/)
    assert.match(String(response.headers['cache-control']), /immutable/)
  })

  it('serves the icon the page names', async () => {
    // Without a named icon, browsers request /favicon.ico, which the API rejects with 401.
    const html = (await get('/ui/')).text()
    const icon = /<link rel="icon"[^>]*href="(\/ui\/[^"]+)"/.exec(html)?.[1]
    assert.ok(icon, 'the page names an icon under /ui/')
    const response = await get(icon)
    assert.equal(response.status, 200)
    assert.match(String(response.headers['content-type']), /^image\/svg\+xml/)
  })

  it('answers 404 for unknown UI files without a token', async () => {
    assert.equal((await get('/ui/assets/missing.js')).status, 404)
    assert.equal((await get('/ui/../v2/images')).status, 401)
  })

  it('adds security headers to redirects and errors', async () => {
    const html = { accept: 'text/html' }
    const cases: [method: string, path: string, status: number, headers: Record<string, string>][] =
      [
        ['GET', '/ui', 301, html],
        ['GET', '/ui/identity/v3/users', 404, html],
        ['GET', '/ui/identity/%3Cscript%3E', 404, html],
        ['POST', '/ui/index.html', 404, html],
        ['POST', '/ui/identity/v3/auth/tokens', 403, { ...html, origin: 'https://a.example' }],
        ['POST', '/ui/identity/v3/auth/tokens', 415, { ...html, 'content-type': 'text/plain' }],
      ]
    for (const [method, path, status, headers] of cases) {
      const response = await call(server, server.imageUrl, method, path, { headers })
      const label = `${method} ${path}`
      assert.equal(response.status, status, label)
      assert.match(String(response.headers['content-security-policy']), /default-src 'self'/, label)
      assert.equal(response.headers['x-content-type-options'], 'nosniff', label)
      assert.equal(response.headers['x-frame-options'], 'DENY', label)
      assert.equal(response.headers['referrer-policy'], 'no-referrer', label)
    }
  })

  it('adds no UI headers to API responses', async () => {
    const response = await get('/v2/images')
    assert.equal(response.status, 401)
    assert.equal(response.headers['content-security-policy'], undefined)
  })

  it('logs in through the same-origin identity path', async () => {
    const response = await logIn()
    assert.equal(response.status, 201)
    const token = String(response.headers['x-subject-token'])
    assert.equal(response.json().token.project.name, 'admin')
    assert.match(String(response.headers['content-security-policy']), /default-src 'self'/)

    const images = await call(server, server.imageUrl, 'GET', '/v2/images', { token })
    assert.equal(images.status, 200)
  })

  it('lists projects and revokes the token on logout', async () => {
    const token = String((await logIn()).headers['x-subject-token'])
    const projects = await call(server, server.imageUrl, 'GET', '/ui/identity/v3/auth/projects', {
      token,
    })
    assert.deepEqual(
      projects.json().projects.map((project: { name: string }) => project.name),
      ['admin'],
    )

    const logout = await call(server, server.imageUrl, 'DELETE', '/ui/identity/v3/auth/tokens', {
      token,
      headers: { 'x-subject-token': token },
    })
    assert.equal(logout.status, 204)
    const after = await call(server, server.imageUrl, 'GET', '/v2/images', { token })
    assert.equal(after.status, 401)
  })

  it('forwards only the identity calls the UI makes', async () => {
    const token = String((await logIn()).headers['x-subject-token'])
    for (const path of ['/ui/identity/v3/users', '/ui/identity/v3/projects', '/ui/identity/v3']) {
      const response = await call(server, server.imageUrl, 'GET', path, { token })
      assert.equal(response.status, 404, path)
    }
  })

  describe('requests from another site', () => {
    const post = (headers: Record<string, string>, body: unknown = {}): Promise<Response> =>
      call(server, server.imageUrl, 'POST', '/ui/identity/v3/auth/tokens', { headers, body })

    it('rejects another Origin with 403', async () => {
      const response = await post({ origin: 'https://attacker.example' })
      assert.equal(response.status, 403)
    })

    it('rejects Sec-Fetch-Site cross-site with 403', async () => {
      const response = await post({ 'sec-fetch-site': 'cross-site' })
      assert.equal(response.status, 403)
    })

    it('rejects a form-encoded body with 415', async () => {
      const response = await post(
        { 'content-type': 'application/x-www-form-urlencoded' },
        Buffer.from('auth=x'),
      )
      assert.equal(response.status, 415)
    })

    it('accepts its own origin', async () => {
      const response = await post({ origin: server.imageUrl, 'sec-fetch-site': 'same-origin' })
      assert.equal(response.status, 400)
    })
  })
})

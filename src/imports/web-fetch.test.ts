import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { isIP, Socket } from 'node:net'
import type { AddressInfo, LookupFunction } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { createSecureContext } from 'node:tls'
import { InvalidInputError } from '../domain/errors.js'
import { ensureCertificate } from '../tls/certificate.js'
import { defaultWebFetchConfig, redactUrl, WebFetcher, WebFetchError } from './web-fetch.js'
import type { WebFetchConfig, WebFetchFailure } from './web-fetch.js'

// Every socket this file opens goes through a guard that lets it reach 127.0.0.1 only, so a
// fetcher that ignored a rejection fails its test instead of reaching another host.
const connections = { attempted: 0, blocked: [] as string[] }
type ConnectFunction = (...args: unknown[]) => Socket
const socketPrototype = Socket.prototype as unknown as { connect: ConnectFunction }
const originalConnect = socketPrototype.connect

function guardedConnect(this: Socket, ...args: unknown[]): Socket {
  // net.connect passes its normalized arguments as one array, and tls.connect passes an object.
  const first = Array.isArray(args[0]) ? (args[0][0] as unknown) : args[0]
  if (typeof first !== 'object' || first === null) {
    connections.blocked.push(String(first))
    throw new Error(`connection guard: unexpected connect arguments ${String(first)}`)
  }

  // The HTTP agent sets `path: null` for TCP connections, and a string path is a Unix socket.
  const options = first as { host?: string; path?: string | null; lookup?: LookupFunction }
  const host = options.host ?? 'localhost'
  const target = options.path ?? host
  if (typeof options.path === 'string' || (isIP(host) !== 0 && host !== '127.0.0.1')) {
    connections.blocked.push(target)
    throw new Error(`connection guard: blocked a connection to ${target}`)
  }
  if (isIP(host) === 0) {
    if (options.lookup === undefined) {
      connections.blocked.push(host)
      throw new Error(`connection guard: blocked a system DNS lookup of ${host}`)
    }
    options.lookup = guardLookup(options.lookup)
  }
  connections.attempted += 1
  return originalConnect.apply(this, args)
}

function guardLookup(lookup: LookupFunction): LookupFunction {
  return function guardedLookup(hostname, options, callback) {
    lookup(hostname, options, (error, address, family) => {
      const addresses = typeof address === 'string' ? [address] : address.map((a) => a.address)
      const outside = addresses.filter((candidate) => candidate !== '127.0.0.1')
      if (error === null && outside.length > 0) {
        connections.blocked.push(...outside)
        callback(new Error(`connection guard: blocked ${outside.join(', ')}`), address, family)
        return
      }
      callback(error, address, family)
    })
  }
}

/**
 * A lookup that records its calls and returns the addresses from `addressesFor`. A null result
 * makes the lookup fail with ENOTFOUND.
 */
function fakeLookup(addressesFor: (hostname: string, call: number) => string[] | null) {
  const calls: string[] = []
  const lookup: LookupFunction = (hostname, options, callback) => {
    const addresses = addressesFor(hostname, calls.length)
    calls.push(hostname)
    setImmediate(() => {
      if (addresses === null) {
        const error = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), {
          code: 'ENOTFOUND',
        })
        callback(error, [])
      } else if ((options as { all?: boolean }).all === true) {
        callback(
          null,
          addresses.map((address) => ({ address, family: isIP(address) })),
        )
      } else {
        callback(null, addresses[0]!, isIP(addresses[0]!))
      }
    })
  }
  return { lookup, calls }
}

function lookupTable(table: Record<string, string[]>) {
  return fakeLookup((hostname) => table[hostname] ?? null)
}

interface RecordedRequest {
  method: string
  path: string
  headers: IncomingHttpHeaders
}

interface TestServer {
  port: number
  origin: string
  requests: RecordedRequest[]
  hits(path: string): number
  close(): Promise<void>
}

async function startServer(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
  server: Server = createServer(),
): Promise<TestServer> {
  const requests: RecordedRequest[] = []
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const path = new URL(request.url ?? '/', 'http://test').pathname
    requests.push({ method: request.method ?? '', path, headers: request.headers })
    handler(request, response)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const scheme = 'cert' in server ? 'https' : 'http'

  return {
    port,
    origin: `${scheme}://127.0.0.1:${port}`,
    requests,
    hits: (path) => requests.filter((request) => request.path === path).length,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

const imageBody = Buffer.from('hello image')
const maxBytes = 1024
let main: TestServer
let other: TestServer

function routeMain(request: IncomingMessage, response: ServerResponse): void {
  const path = new URL(request.url ?? '/', 'http://test').pathname
  const redirects: Record<string, string> = {
    '/redirect': '/image',
    '/loop': '/loop',
    '/to-other': `${other.origin}/image`,
    '/to-unlisted': 'http://elsewhere.test/image',
    '/to-internal': 'http://internal.test/image',
    '/to-gopher': 'gopher://127.0.0.1/image',
  }
  const location = redirects[path]
  if (location !== undefined) {
    response.writeHead(302, { location }).end()
    return
  }

  switch (path) {
    case '/image':
      response.writeHead(200, { 'content-length': imageBody.length }).end(imageBody)
      return
    case '/big-declared':
      response.writeHead(200, { 'content-length': 2 * maxBytes }).end(Buffer.alloc(2 * maxBytes))
      return
    case '/big-chunked':
      writeChunks(response, 8, 256)
      return
    case '/exact':
      writeChunks(response, 4, 256)
      return
    case '/large':
      response.writeHead(200, { 'content-length': 256 * 1024 }).end(Buffer.alloc(256 * 1024, 7))
      return
    case '/stall-headers':
      return
    case '/stall-body':
      response.writeHead(200).write('partial')
      return
    case '/trickle':
      trickle(response)
      return
    case '/missing':
      response.writeHead(404).end('not found')
      return
    case '/reset':
      response.writeHead(200, { 'content-length': 100 })
      response.write(Buffer.alloc(10), () => response.socket?.destroy())
      return
    case '/overlong':
      // More bytes than the Content-Length, written past Node's own framing.
      response.socket?.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n' + 'x'.repeat(900))
      return
  }
  routeRanges(path, request, response)
}

function routeRanges(path: string, request: IncomingMessage, response: ServerResponse): void {
  const size = imageBody.length
  const match = /^bytes=(\d+)-(\d+)$/.exec(request.headers.range ?? '')
  if (path === '/range' && match !== null) {
    const start = Number(match[1])
    const end = Number(match[2])
    response
      .writeHead(206, { 'content-range': `bytes ${start}-${end}/${size}` })
      .end(imageBody.subarray(start, end + 1))
  } else if (path === '/range-ignored') {
    response.writeHead(200, { 'content-length': size }).end(imageBody)
  } else if (path === '/range-wrong') {
    response.writeHead(206, { 'content-range': `bytes 0-3/${size}` }).end(imageBody.subarray(0, 4))
  } else {
    response.writeHead(500).end(`no route for ${path}`)
  }
}

function writeChunks(response: ServerResponse, count: number, size: number): void {
  response.writeHead(200)
  for (let i = 0; i < count; i += 1) response.write(Buffer.alloc(size, i))
  response.end()
}

function trickle(response: ServerResponse): void {
  response.writeHead(200)
  const timer = setInterval(() => response.write('x'), 20)
  response.on('close', () => clearInterval(timer))
}

const testConfig: WebFetchConfig = {
  ...defaultWebFetchConfig,
  allowedHosts: [],
  maxRedirects: 3,
  connectTimeoutMs: 2000,
  idleTimeoutMs: 2000,
  totalTimeoutMs: 10_000,
  maxBytes,
}

/** A fetcher that allows the main test server, plus `overrides`. */
function mainFetcher(overrides: Partial<WebFetchConfig> = {}, lookup?: LookupFunction) {
  const config = { ...testConfig, allowedHosts: [`127.0.0.1:${main.port}`], ...overrides }
  return new WebFetcher(config, lookup === undefined ? {} : { lookup })
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** Awaits `promise` and returns what it rejected with. Fails the test when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  return assert.fail('expected a rejection')
}

function assertFetchError(error: unknown, reason: WebFetchFailure): asserts error is WebFetchError {
  assert.ok(error instanceof WebFetchError, `expected a WebFetchError, got ${String(error)}`)
  assert.equal(error.reason, reason)
}

function assertInvalidInput(error: unknown, pattern: RegExp): void {
  assert.ok(
    error instanceof InvalidInputError,
    `expected an InvalidInputError, got ${String(error)}`,
  )
  assert.match(error.message, pattern)
}

before(async () => {
  socketPrototype.connect = guardedConnect
  main = await startServer(routeMain)
  other = await startServer((_request, response) => response.writeHead(200).end('other'))
})

after(async () => {
  socketPrototype.connect = originalConnect
  await main.close()
  await other.close()
  assert.deepEqual(connections.blocked, [], 'the connection guard blocked a connection')
})

describe('WebFetcher.check', () => {
  it('accepts a listed host', () => {
    const fetcher = new WebFetcher({ ...testConfig, allowedHosts: ['images.example.com'] })
    assert.doesNotThrow(() => fetcher.check('https://images.example.com/disk.qcow2?sig=1'))
  })

  it('rejects user info without echoing it', () => {
    const fetcher = new WebFetcher(testConfig)
    const error = catchError(() => fetcher.check('http://admin:s3cret@images.test/disk'))
    assertInvalidInput(error, /contains credentials/)
    assert.doesNotMatch((error as Error).message, /s3cret/)
    assert.doesNotMatch((error as Error).message, /admin/)
  })

  it('rejects the gopher scheme', () => {
    const fetcher = new WebFetcher(testConfig)
    const error = catchError(() => fetcher.check('gopher://images.test/1disk'))
    assertInvalidInput(
      error,
      /^URL scheme gopher is not allowed for web-download; use http or https\.$/,
    )
  })

  it('rejects a scheme left out of allowedSchemes', () => {
    const fetcher = new WebFetcher({ ...testConfig, allowedSchemes: ['https'] })
    assertInvalidInput(
      catchError(() => fetcher.check('http://images.test/disk')),
      /use https\.$/,
    )
    assert.doesNotThrow(() => fetcher.check('https://images.test/disk'))
  })

  it('rejects an invalid URL without echoing it', () => {
    const fetcher = new WebFetcher(testConfig)
    const error = catchError(() => fetcher.check('images.test/disk?token=s3cret'))
    assertInvalidInput(error, /URL is invalid/)
    assert.doesNotMatch((error as Error).message, /s3cret/)
  })

  it('rejects a host missing from the allow-list', () => {
    const fetcher = new WebFetcher({ ...testConfig, allowedHosts: ['images.example.com'] })
    const error = catchError(() => fetcher.check('http://does-not.exist/x'))
    assert.ok(error instanceof InvalidInputError)
    assert.equal(error.status, 400)
    assert.equal(
      error.message,
      'Host does-not.exist is not in the web-download allow-list ([import] web_download_allowed_hosts); ask an operator to allow it.',
    )
  })

  it('matches host names case-insensitively', () => {
    const fetcher = new WebFetcher({ ...testConfig, allowedHosts: ['Images.Example.COM'] })
    assert.doesNotThrow(() => fetcher.check('http://IMAGES.example.com/disk'))
    assert.doesNotThrow(() => fetcher.check('http://images.example.com./disk'))
    assertInvalidInput(
      catchError(() => fetcher.check('http://images.example.co/disk')),
      /allow-list/,
    )
    assertInvalidInput(
      catchError(() => fetcher.check('http://x.images.example.com/d')),
      /allow-list/,
    )
  })

  it('limits a host:port entry to its port', () => {
    const fetcher = new WebFetcher({ ...testConfig, allowedHosts: ['images.test:8080'] })
    assert.doesNotThrow(() => fetcher.check('http://images.test:8080/disk'))
    assertInvalidInput(
      catchError(() => fetcher.check('http://images.test/disk')),
      /images\.test/,
    )
    assertInvalidInput(
      catchError(() => fetcher.check('https://images.test:8443/d')),
      /:8443/,
    )
  })

  it('matches address and CIDR entries only for IP hosts', () => {
    const allowedHosts = ['10.1.0.0/16', '2001:db8::/32', '[fd00::7]:8080', '192.0.2.1']
    const fetcher = new WebFetcher({ ...testConfig, allowedHosts })
    assert.doesNotThrow(() => fetcher.check('http://10.1.2.3/disk'))
    assert.doesNotThrow(() => fetcher.check('http://[2001:db8::5]/disk'))
    assert.doesNotThrow(() => fetcher.check('http://[fd00::7]:8080/disk'))
    assert.doesNotThrow(() => fetcher.check('http://192.0.2.1:9000/disk'))
    assertInvalidInput(
      catchError(() => fetcher.check('http://10.2.0.1/disk')),
      /allow-list/,
    )
    assertInvalidInput(
      catchError(() => fetcher.check('http://[fd00::7]/disk')),
      /allow-list/,
    )
    assertInvalidInput(
      catchError(() => fetcher.check('http://mirror.test/disk')),
      /allow-list/,
    )
  })

  it('rejects non-public literal addresses', () => {
    const fetcher = new WebFetcher(testConfig)
    const cases: [string, RegExp][] = [
      ['http://127.0.0.1/', /loopback range 127\.0\.0\.0\/8/],
      ['http://127.1.2.3/', /loopback/],
      ['http://2130706433/', /Address 127\.0\.0\.1 is in the loopback range/],
      ['http://0x7f.1/', /loopback/],
      ['http://[::1]/', /loopback range ::1\/128/],
      ['http://10.0.0.5/', /private range 10\.0\.0\.0\/8/],
      ['http://172.16.0.1/', /private range 172\.16\.0\.0\/12/],
      ['http://172.31.255.255/', /private/],
      ['http://192.168.1.1/', /private range 192\.168\.0\.0\/16/],
      ['http://[fd00::1]/', /private range fc00::\/7/],
      ['http://169.254.169.254/latest/meta-data/', /link-local range 169\.254\.0\.0\/16/],
      ['http://[fe80::1]/', /link-local range fe80::\/10/],
      ['http://100.64.0.1/', /carrier-grade NAT range 100\.64\.0\.0\/10/],
      ['http://224.0.0.1/', /multicast/],
      ['http://[ff02::1]/', /multicast/],
      ['http://0.0.0.0/', /unspecified/],
      ['http://[::]/', /unspecified/],
      ['http://255.255.255.255/', /broadcast/],
      ['http://[::ffff:127.0.0.1]/', /loopback range 127\.0\.0\.0\/8/],
      ['http://[::ffff:169.254.169.254]/', /link-local range 169\.254\.0\.0\/16/],
      ['http://[::ffff:10.0.0.5]/', /private range 10\.0\.0\.0\/8/],
      ['http://[64:ff9b::a9fe:a9fe]/', /link-local range 169\.254\.0\.0\/16/],
      ['http://[2002:7f00:1::]/', /tunnel range 2002::\/16/],
      ['http://[2001::1]/', /tunnel range 2001::\/32/],
      ['http://[::ffff:0:7f00:1]/', /reserved range ::ffff:0:0:0\/96/],
      ['http://192.0.2.1/', /documentation range 192\.0\.2\.0\/24/],
      ['http://203.0.113.10/', /documentation/],
    ]
    for (const [url, pattern] of cases) {
      const error = catchError(() => fetcher.check(url))
      assert.ok(error instanceof InvalidInputError, `${url} was not rejected`)
      assert.match(error.message, pattern, url)
      assert.match(error.message, /unless an operator allows them\.$/, url)
    }
  })

  it('accepts public literal addresses', () => {
    const fetcher = new WebFetcher(testConfig)
    const urls = [
      'http://93.184.216.34/',
      'http://172.32.0.1/',
      'http://100.128.0.1/',
      'http://169.253.255.255/',
      'http://[2606:4700::1111]/',
      'http://[::ffff:93.184.216.34]/',
    ]
    for (const url of urls) assert.doesNotThrow(() => fetcher.check(url), url)
  })

  it('accepts private literal addresses when allowPrivate', () => {
    const fetcher = new WebFetcher({ ...testConfig, allowPrivate: true })
    assert.doesNotThrow(() => fetcher.check('http://10.0.0.5/disk'))
    assert.doesNotThrow(() => fetcher.check('http://[::1]/disk'))
  })

  it('rejects invalid allow-list entries', () => {
    const entries = ['http://x/', 'a b', '10.0.0.0/33', 'x/8', 'host:0', 'host:99999', '', 'u@host']
    for (const entry of entries) {
      assert.throws(
        () => new WebFetcher({ ...testConfig, allowedHosts: [entry] }),
        (error: unknown) => error instanceof TypeError && error.message.includes('allow-list'),
        JSON.stringify(entry),
      )
    }
  })

  it('rejects invalid limits', () => {
    const invalid: Partial<WebFetchConfig>[] = [
      { maxRedirects: -1 },
      { idleTimeoutMs: 0 },
      { totalTimeoutMs: 2 ** 31 },
      { maxBytes: 1.5 },
      { allowedSchemes: [] },
    ]
    for (const overrides of invalid) {
      assert.throws(() => new WebFetcher({ ...testConfig, ...overrides }), TypeError)
    }
  })
})

describe('WebFetcher.open', () => {
  it('streams the body of a listed origin', async () => {
    const before = main.hits('/image')
    const result = await mainFetcher().open(`${main.origin}/image`)
    assert.deepEqual(await readAll(result.stream), imageBody)
    assert.equal(result.size, imageBody.length)
    assert.equal(result.finalUrl, `${main.origin}/image`)
    assert.equal(main.hits('/image'), before + 1)
    assert.equal(main.requests.at(-1)?.headers.host, `127.0.0.1:${main.port}`)
  })

  it('connects to the address it checked', async () => {
    // A second lookup would return another address, so the request must not make one.
    const { lookup, calls } = fakeLookup((_hostname, call) =>
      call === 0 ? ['127.0.0.1'] : ['10.0.0.5'],
    )
    const config = { ...testConfig, allowedHosts: ['images.test'], allowPrivate: true }
    const result = await new WebFetcher(config, { lookup }).open(
      `http://images.test:${main.port}/image`,
    )
    assert.deepEqual(await readAll(result.stream), imageBody)
    assert.deepEqual(calls, ['images.test'])
    assert.equal(main.requests.at(-1)?.headers.host, `images.test:${main.port}`)
    assert.deepEqual(connections.blocked, [])
  })

  it('rejects an unlisted host before any lookup', async () => {
    const { lookup, calls } = lookupTable({ 'does-not.exist': ['127.0.0.1'] })
    const attempted = connections.attempted
    const error = await rejection(mainFetcher({}, lookup).open('http://does-not.exist/x'))
    assertInvalidInput(error, /^Host does-not\.exist is not in the web-download allow-list/)
    assert.deepEqual(calls, [])
    assert.equal(connections.attempted, attempted)
  })

  it('rejects loopback when not allowed', async () => {
    const { lookup, calls } = lookupTable({ 'loopback.test': ['127.0.0.1'] })
    const fetcher = new WebFetcher(testConfig, { lookup })
    const before = main.hits('/image')
    const attempted = connections.attempted

    const literal = await rejection(fetcher.open(`${main.origin}/image`))
    assertInvalidInput(literal, /^Address 127\.0\.0\.1 is in the loopback range/)
    const named = await rejection(fetcher.open(`http://loopback.test:${main.port}/image`))
    assertInvalidInput(
      named,
      /^Address 127\.0\.0\.1 of host loopback\.test is in the loopback range/,
    )
    assert.deepEqual(calls, ['loopback.test'])
    assert.equal(main.hits('/image'), before)
    assert.equal(connections.attempted, attempted)
  })

  it('rejects non-public resolved addresses without connecting', async () => {
    const table: Record<string, string[]> = {
      'private.test': ['10.0.0.5'],
      'private172.test': ['172.20.1.1'],
      'private192.test': ['192.168.0.10'],
      'metadata.test': ['169.254.169.254'],
      'cgnat.test': ['100.100.100.200'],
      'unspecified.test': ['0.0.0.0'],
      'ula.test': ['fd12:3456::1'],
      'linklocal6.test': ['fe80::1%eth0'],
      'loopback6.test': ['::1'],
      'mapped-metadata.test': ['::ffff:169.254.169.254'],
      'mapped-loopback.test': ['::ffff:7f00:1'],
      'mixed.test': ['93.184.216.34', '10.0.0.5'],
    }
    const { lookup, calls } = lookupTable(table)
    const fetcher = new WebFetcher(testConfig, { lookup })
    const attempted = connections.attempted

    for (const [hostname, addresses] of Object.entries(table)) {
      const error = await rejection(fetcher.open(`http://${hostname}/disk`))
      assert.ok(error instanceof InvalidInputError, `${hostname}: ${String(error)}`)
      const rejected = addresses.at(-1)!
      assert.ok(error.message.includes(`Address ${rejected} of host ${hostname} is in`), hostname)
    }
    assert.deepEqual(calls, Object.keys(table))
    assert.equal(connections.attempted, attempted)
  })

  it('reports a host that does not resolve', async () => {
    const { lookup } = lookupTable({})
    const error = await rejection(new WebFetcher(testConfig, { lookup }).open('http://gone.test/'))
    assertFetchError(error, 'dns')
    assert.match(error.message, /^Host gone\.test could not be resolved \(ENOTFOUND\)/)
  })

  it('follows a redirect to a listed target', async () => {
    const result = await mainFetcher().open(`${main.origin}/redirect`)
    assert.deepEqual(await readAll(result.stream), imageBody)
    assert.equal(result.finalUrl, `${main.origin}/image`)

    const allowedHosts = [`127.0.0.1:${main.port}`, `127.0.0.1:${other.port}`]
    const across = await mainFetcher({ allowedHosts }).open(`${main.origin}/to-other`)
    assert.equal((await readAll(across.stream)).toString(), 'other')
    assert.equal(across.finalUrl, `${other.origin}/image`)
  })

  it('rejects a redirect to an unlisted host', async () => {
    const { lookup, calls } = lookupTable({ 'elsewhere.test': ['127.0.0.1'] })
    const error = await rejection(mainFetcher({}, lookup).open(`${main.origin}/to-unlisted`))
    assertInvalidInput(
      error,
      /^The redirect from http:\/\/127\.0\.0\.1:\d+\/to-unlisted was rejected/,
    )
    assertInvalidInput(error, /Host elsewhere\.test is not in the web-download allow-list/)
    assert.deepEqual(calls, [])
  })

  it('rejects a redirect to an unlisted port', async () => {
    const before = other.hits('/image')
    const error = await rejection(mainFetcher().open(`${main.origin}/to-other`))
    assertInvalidInput(error, new RegExp(`Host 127\\.0\\.0\\.1:${other.port} is not in`))
    assert.equal(other.hits('/image'), before)
  })

  it('rejects a redirect to a non-public address', async () => {
    const { lookup, calls } = lookupTable({ 'internal.test': ['10.0.0.5'] })
    const allowedHosts = [`127.0.0.1:${main.port}`, 'internal.test']
    const attempted = connections.attempted
    const error = await rejection(
      mainFetcher({ allowedHosts }, lookup).open(`${main.origin}/to-internal`),
    )
    assertInvalidInput(error, /Address 10\.0\.0\.5 of host internal\.test is in the private range/)
    assert.deepEqual(calls, ['internal.test'])
    assert.equal(connections.attempted, attempted + 1)
  })

  it('rejects a redirect to gopher', async () => {
    const error = await rejection(mainFetcher().open(`${main.origin}/to-gopher`))
    assertInvalidInput(error, /URL scheme gopher is not allowed/)
  })

  it('stops a redirect loop at maxRedirects', async () => {
    const before = main.hits('/loop')
    const error = await rejection(mainFetcher({ maxRedirects: 3 }).open(`${main.origin}/loop`))
    assertFetchError(error, 'too-many-redirects')
    assert.match(error.message, /redirected more than 3 times/)
    assert.equal(main.hits('/loop') - before, 4)
  })

  it('rejects every redirect with maxRedirects 0', async () => {
    const error = await rejection(mainFetcher({ maxRedirects: 0 }).open(`${main.origin}/redirect`))
    assertFetchError(error, 'too-many-redirects')
  })

  it('rejects a Content-Length over maxBytes', async () => {
    const error = await rejection(mainFetcher().open(`${main.origin}/big-declared`))
    assertFetchError(error, 'too-large')
    assert.match(error.message, /is 2048 bytes, over the web-download limit of 1024 bytes\.$/)
  })

  it('stops a chunked body over maxBytes', async () => {
    const result = await mainFetcher().open(`${main.origin}/big-chunked`)
    assert.equal(result.size, null)
    let received = 0
    result.stream.on('data', (chunk: Buffer) => (received += chunk.length))
    const error = await rejection(readAll(result.stream))
    assertFetchError(error, 'too-large')
    assert.match(error.message, /exceeded the web-download limit of 1024 bytes/)
    assert.ok(received <= maxBytes, `received ${received} bytes`)
  })

  it('accepts a body of exactly maxBytes', async () => {
    const result = await mainFetcher().open(`${main.origin}/exact`)
    assert.equal((await readAll(result.stream)).length, maxBytes)
  })

  it('times out a server that sends no headers', async () => {
    const started = Date.now()
    const fetcher = mainFetcher({ idleTimeoutMs: 200 })
    const error = await rejection(fetcher.open(`${main.origin}/stall-headers`))
    assertFetchError(error, 'idle-timeout')
    assert.match(error.message, /stalled: no data for 200 ms/)
    assert.ok(Date.now() - started < 2000)
  })

  it('times out a body that stalls', async () => {
    const result = await mainFetcher({ idleTimeoutMs: 200 }).open(`${main.origin}/stall-body`)
    let received = ''
    result.stream.on('data', (chunk: Buffer) => (received += chunk.toString()))
    const error = await rejection(readAll(result.stream))
    assertFetchError(error, 'idle-timeout')
    assert.equal(received, 'partial')
  })

  it('does not time out a slow consumer', async () => {
    const fetcher = mainFetcher({ idleTimeoutMs: 200, maxBytes: 1024 * 1024 })
    const result = await fetcher.open(`${main.origin}/large`)
    let received = 0
    for await (const chunk of result.stream) {
      if (received === 0) await new Promise((resolve) => setTimeout(resolve, 600))
      received += (chunk as Buffer).length
    }
    assert.equal(received, 256 * 1024)
  })

  it('times out a download over totalTimeoutMs', async () => {
    const fetcher = mainFetcher({ idleTimeoutMs: 1000, totalTimeoutMs: 300 })
    const result = await fetcher.open(`${main.origin}/trickle`)
    const error = await rejection(readAll(result.stream))
    assertFetchError(error, 'total-timeout')
    assert.match(error.message, /took longer than 300 ms \(web-download total time limit\)/)
  })

  it('times out a lookup with connectTimeoutMs', async () => {
    const lookup: LookupFunction = () => {}
    const config = { ...testConfig, connectTimeoutMs: 200 }
    const error = await rejection(new WebFetcher(config, { lookup }).open('http://slow.test/'))
    assertFetchError(error, 'connect-timeout')
    assert.match(error.message, /^Connecting to slow\.test for http:\/\/slow\.test\/ timed out/)
  })

  it('reports a 404 without the query string', async () => {
    const error = await rejection(mainFetcher().open(`${main.origin}/missing?token=s3cret`))
    assertFetchError(error, 'http-status')
    assert.equal(error.status, 404)
    assert.equal(error.url, `${main.origin}/missing`)
    assert.match(error.message, /failed: the server returned HTTP 404 Not Found\.$/)
    assert.doesNotMatch(error.message, /s3cret/)
  })

  it('reports a connection closed mid-body', async () => {
    const result = await mainFetcher().open(`${main.origin}/reset`)
    assert.equal(result.size, 100)
    const error = await rejection(readAll(result.stream))
    assertFetchError(error, 'network')
    assert.match(error.message, /closed before the response was complete/)
  })

  it('fails at once on a body longer than its Content-Length', async () => {
    const started = Date.now()
    const result = await mainFetcher().open(`${main.origin}/overlong`)
    const outcome = await readAll(result.stream).then(
      (body) => body.length,
      (error: unknown) => error,
    )
    // Either the ten announced bytes arrive, or a network error does, but never a stall.
    if (typeof outcome === 'number') assert.equal(outcome, 10)
    else assertFetchError(outcome, 'network')
    assert.ok(
      Date.now() - started < testConfig.idleTimeoutMs,
      'the fetch waited for the idle timeout',
    )
  })

  it('requests a byte range', async () => {
    const result = await mainFetcher().open(`${main.origin}/range`, { range: { start: 2, end: 5 } })
    assert.equal((await readAll(result.stream)).toString(), 'llo ')
    assert.equal(result.size, 4)
    assert.equal(main.requests.at(-1)?.headers.range, 'bytes=2-5')
  })

  it('rejects a 200 response to a range', async () => {
    const range = { start: 2, end: 5 }
    const error = await rejection(mainFetcher().open(`${main.origin}/range-ignored`, { range }))
    assertFetchError(error, 'bad-range')
    assert.equal(error.status, 200)
    assert.match(error.message, /expected HTTP 206 with that Content-Range, got HTTP 200/)
  })

  it('rejects a mismatched Content-Range', async () => {
    const range = { start: 2, end: 5 }
    const error = await rejection(mainFetcher().open(`${main.origin}/range-wrong`, { range }))
    assertFetchError(error, 'bad-range')
    assert.match(error.message, /Content-Range bytes 0-3\/11/)
  })

  it('rejects an invalid range before sending', async () => {
    const before = main.requests.length
    const range = { start: 5, end: 2 }
    const error = await rejection(mainFetcher().open(`${main.origin}/range`, { range }))
    assert.ok(error instanceof TypeError)
    assert.equal(main.requests.length, before)
  })

  it('destroys the stream when the signal aborts', async () => {
    const controller = new AbortController()
    const fetcher = mainFetcher({ idleTimeoutMs: 5000 })
    const result = await fetcher.open(`${main.origin}/stall-body`, { signal: controller.signal })
    const reading = rejection(readAll(result.stream))
    const reason = new Error('import cancelled')
    setTimeout(() => controller.abort(reason), 50)
    assert.equal(await reading, reason)
  })

  it('rejects at once for an aborted signal', async () => {
    const before = main.requests.length
    const signal = AbortSignal.abort(new Error('import cancelled'))
    const error = await rejection(mainFetcher().open(`${main.origin}/image`, { signal }))
    assert.match(String(error), /import cancelled/)
    assert.equal(main.requests.length, before)
  })

  it('sends the host name for TLS', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'web-fetch-'))
    const paths = {
      certFile: join(directory, 'cert.pem'),
      keyFile: join(directory, 'key.pem'),
      caFile: join(directory, 'ca.pem'),
    }
    await ensureCertificate(paths, ['images.test'])
    const context = createSecureContext({
      cert: await readFile(paths.certFile),
      key: await readFile(paths.keyFile),
    })
    const serverNames: string[] = []
    const tlsServer = createHttpsServer({
      SNICallback: (name, callback) => {
        serverNames.push(name)
        callback(null, context)
      },
    })
    const server = await startServer((_request, response) => response.end('secret'), tlsServer)

    try {
      const { lookup } = lookupTable({ 'images.test': ['127.0.0.1'] })
      const config = { ...testConfig, allowedHosts: ['images.test'], allowPrivate: true }
      const url = `https://images.test:${server.port}/disk`
      // The fetcher trusts only the system CAs, so the private test CA must fail verification.
      const error = await rejection(new WebFetcher(config, { lookup }).open(url))
      assertFetchError(error, 'network')
      assert.match(error.message, /certificate/)
      assert.deepEqual(serverNames, ['images.test'])
    } finally {
      await server.close()
      await rm(directory, { recursive: true, force: true })
    }
  })
})

describe('WebFetcher.size', () => {
  it('returns Content-Length from a HEAD request', async () => {
    const before = main.hits('/image')
    assert.equal(await mainFetcher().size(`${main.origin}/image`), imageBody.length)
    assert.equal(main.hits('/image'), before + 1)
    assert.equal(main.requests.at(-1)?.method, 'HEAD')
  })

  it('follows redirects', async () => {
    assert.equal(await mainFetcher().size(`${main.origin}/redirect`), imageBody.length)
    assert.equal(main.requests.at(-2)?.method, 'HEAD')
  })

  it('reports a 404', async () => {
    const error = await rejection(mainFetcher().size(`${main.origin}/missing`))
    assertFetchError(error, 'http-status')
    assert.equal(error.status, 404)
  })

  it('rejects an unlisted host', async () => {
    const error = await rejection(mainFetcher().size('http://does-not.exist/x'))
    assertInvalidInput(error, /allow-list/)
  })
})

describe('redactUrl', () => {
  it('drops user info, query and fragment', () => {
    const url = 'https://user:pw@images.test:8443/a/disk.img?X-Amz-Signature=abc#part'
    assert.equal(redactUrl(url), 'https://images.test:8443/a/disk.img')
  })

  it('hides text that is not a URL', () => {
    assert.equal(redactUrl('token=abc not a url'), '(invalid URL)')
  })
})

function catchError(action: () => void): unknown {
  try {
    action()
  } catch (error) {
    return error
  }
  return assert.fail('expected an exception')
}

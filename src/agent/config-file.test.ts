import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { InvalidArgumentError } from 'commander'
import { readAgentConfigFile } from './config-file.js'

describe('readAgentConfigFile', () => {
  let work: string
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'agent-config-'))
  })
  after(async () => {
    await rm(work, { recursive: true, force: true })
  })

  async function read(text: string) {
    const path = join(work, 'agent.toml')
    await writeFile(path, text)
    return readAgentConfigFile(path)
  }

  async function assertRejected(text: string, pattern: RegExp) {
    const error = await read(text).then(
      () => undefined,
      (caught: unknown) => caught,
    )
    assert.ok(error instanceof InvalidArgumentError, `${text}: ${String(error)}`)
    assert.match(error.message, pattern)
  }

  it('reads settings, numbers and auth', async () => {
    const file = await read(
      '[agent]\ncache_dir = "/var/cache/x"\nmax_size = 1048576\nhold = 60\n' +
        '[auth]\nusername = "svc"\ninsecure = true\n',
    )
    assert.equal(file.agent.cacheDir, '/var/cache/x')
    assert.equal(file.agent.maxSize, '1048576')
    assert.equal(file.agent.hold, '60')
    assert.equal(file.auth['OS_USERNAME'], 'svc')
    assert.equal(file.auth['OS_INSECURE'], 'true')
  })

  it('resolves relative paths against its directory', async () => {
    const file = await read(
      '[agent]\ncache_dir = "cache"\nsocket = "run/agent.sock"\nlog_file = "agent.log"\n' +
        '[auth]\ncacert = "ca.pem"\n',
    )
    assert.equal(file.agent.cacheDir, join(work, 'cache'))
    assert.equal(file.agent.socket, join(work, 'run', 'agent.sock'))
    assert.equal(file.agent.logFile, join(work, 'agent.log'))
    assert.equal(file.auth['OS_CACERT'], join(work, 'ca.pem'))
  })

  it('rejects a missing file', async () => {
    const missing = join(work, 'missing.toml')
    await assert.rejects(readAgentConfigFile(missing), (error: unknown) => {
      assert.ok(error instanceof InvalidArgumentError)
      assert.match(error.message, /Cannot read the configuration file .*missing\.toml/)
      return true
    })
  })

  it('rejects text that is not TOML', async () => {
    await assertRejected('bad toml [[', /is not valid TOML/)
  })

  it('rejects unknown keys and tables', async () => {
    await assertRejected('[agent]\ncache_dirr = "/x"\n', /\[agent\] has no setting 'cache_dirr'/)
    await assertRejected('[agents]\ncache_dir = "/x"\n', /unknown key 'agents'/)
    await assertRejected('[auth]\ntoken = "x"\n', /\[auth\] has no setting 'token'/)
  })

  it('rejects tables given as values', async () => {
    await assertRejected('agent = 3\n', /'agent' must be a table/)
    await assertRejected('auth = "x"\n', /'auth' must be a table/)
  })

  it('rejects values of the wrong type', async () => {
    await assertRejected(
      '[agent]\ncache_dir = 5\n',
      /\[agent\] cache_dir must be a non-empty string/,
    )
    await assertRejected(
      '[agent]\nreport_interval = [1]\n',
      /report_interval must be .* or a number/,
    )
    await assertRejected('[agent]\nhold = true\n', /\[agent\] hold must be/)
    await assertRejected('[agent]\nname = ""\n', /\[agent\] name must be a non-empty string/)
    await assertRejected('[auth]\npassword = 1234\n', /\[auth\] password must be/)
  })
})

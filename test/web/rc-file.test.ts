import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { promisify } from 'node:util'
import {
  buildImageCreateCommand,
  buildRcFile,
  passwordPlaceholder,
  shellQuote,
  type RcFileSettings,
} from '../../web/src/lib/rc-file.js'
import { parseRcFile } from '../helpers/server.js'

const run = promisify(execFile)

const settings: RcFileSettings = {
  authUrl: 'https://images.example:5000/v3',
  userDomainName: 'Default',
  username: 'alice',
  projectDomainName: 'Default',
  projectName: 'demo',
  projectId: '4f1c6a1e2b8d4c3fa9a0e5d7c6b5a4f3',
  regionName: 'RegionOne',
  endpointInterface: 'public',
}

/** Sources the RC text in a POSIX shell and returns the OS_* variables it exported. */
async function sourceInShell(text: string): Promise<Record<string, string>> {
  const dir = await mkdtemp(join(tmpdir(), 'ui-rc-'))
  try {
    const path = join(dir, 'openstack-rc.sh')
    await writeFile(path, text)
    const { stdout } = await run('sh', ['-c', `. "${path}" && env`], { env: {} })
    const variables: Record<string, string> = {}
    for (const line of stdout.split('\n')) {
      const match = /^(OS_\w+)=(.*)$/.exec(line)
      if (match !== null) variables[match[1]!] = match[2]!
    }
    return variables
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

describe('RC file text', () => {
  it('exports every variable pcdctl and openstack read', async () => {
    const variables = await sourceInShell(buildRcFile(settings))
    assert.deepEqual(variables, {
      OS_AUTH_URL: 'https://images.example:5000/v3',
      OS_IDENTITY_API_VERSION: '3',
      OS_IMAGE_API_VERSION: '2',
      OS_USER_DOMAIN_NAME: 'Default',
      OS_USERNAME: 'alice',
      OS_PASSWORD: passwordPlaceholder,
      OS_PROJECT_DOMAIN_NAME: 'Default',
      OS_PROJECT_NAME: 'demo',
      OS_PROJECT_ID: '4f1c6a1e2b8d4c3fa9a0e5d7c6b5a4f3',
      OS_REGION_NAME: 'RegionOne',
      OS_INTERFACE: 'public',
    })
  })

  it('quotes names with quotes and spaces for the shell', async () => {
    const text = buildRcFile({ ...settings, projectName: "bob's $HOME `x`" })
    const variables = await sourceInShell(text)
    assert.equal(variables.OS_PROJECT_NAME, "bob's $HOME `x`")
  })

  it('runs no line of a project name', async () => {
    const projectName = 'demo\nexport OS_INJECTED=yes\r\nexport OS_CR=yes\n#'
    const text = buildRcFile({ ...settings, projectName })
    const variables = await sourceInShell(text)
    assert.equal(variables.OS_INJECTED, undefined)
    assert.equal(variables.OS_CR, undefined)
    assert.match(text, /^# OpenStack credentials for project demo\?export OS_INJECTED=yes\?\?/m)
  })

  it('reads back with the test helper that parses the server RC file', () => {
    const parsed = parseRcFile(buildRcFile(settings))
    assert.equal(parsed.OS_USERNAME, 'alice')
    assert.equal(parsed.OS_PASSWORD, passwordPlaceholder)
  })

  it('leaves out the region when the catalog has none', () => {
    assert.doesNotMatch(buildRcFile({ ...settings, regionName: null }), /OS_REGION_NAME/)
  })

  it('never contains a password', () => {
    assert.equal(buildRcFile(settings).match(/OS_PASSWORD=/g)?.length, 1)
    assert.match(buildRcFile(settings), new RegExp(`OS_PASSWORD='${passwordPlaceholder}'`))
  })
})

describe('pcdctl image create command', () => {
  it('matches the documented command for a public qcow2', () => {
    const command = buildImageCreateCommand({
      diskFormat: 'qcow2',
      visibility: 'public',
      file: 'disk.qcow2',
      name: 'my-image',
    })
    assert.equal(
      command,
      'pcdctl image create --insecure --container-format bare --disk-format qcow2 --public --file disk.qcow2 my-image',
    )
  })

  it('quotes a name with spaces', () => {
    const command = buildImageCreateCommand({
      diskFormat: 'raw',
      visibility: 'private',
      file: 'my disk.raw',
      name: 'web server',
    })
    assert.match(command, / --private --file 'my disk\.raw' 'web server'$/)
  })

  it('quotes a single quote in a value', () => {
    assert.equal(shellQuote("it's"), `'it'\\''s'`)
  })
})

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { CephCommandError, runCephCommand } from './ceph-command.js'

describe('runCephCommand', () => {
  it('returns the standard output of a command that succeeds', async () => {
    assert.equal(await runCephCommand('echo', ['pool'], 'echo'), 'pool\n')
  })

  it('kills a command that runs past its timeout', async () => {
    const started = Date.now()
    const error = await runCephCommand('sleep', ['30'], 'ceph df', 200).then(
      () => assert.fail('the command should have timed out'),
      (failure: unknown) => failure,
    )
    assert.ok(error instanceof CephCommandError, String(error))
    assert.equal(error.message, 'ceph df failed: timed out after 0.2 s and was killed')
    assert.ok(Date.now() - started < 5_000)
  })
})

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import type { Page } from 'playwright-core'
import {
  browserSkipReason,
  collectPageErrors,
  launchBrowser,
  logIn,
  type TestBrowser,
} from '../helpers/browser.js'
import { call, imageClient, issueToken } from '../helpers/client.js'
import {
  admin,
  createTenant,
  startServer,
  type RunningServer,
  type Tenant,
} from '../helpers/server.js'

const run = promisify(execFile)
const patchType = 'application/openstack-images-v2.1-json-patch'

describe('web UI while other work runs', { skip: browserSkipReason() }, () => {
  let server: RunningServer
  let browser: TestBrowser
  let carol: Tenant
  let workDir: string
  const pageErrors: string[] = []
  const carolApi = async () => imageClient(server, await issueToken(server, carol))

  before(async () => {
    server = await startServer()
    carol = await createTenant(server, 'carol')
    await admin(server, ['project', 'create', 'carol-second'])
    await admin(server, ['role', 'add', '--project', 'carol-second', '--user', 'carol', 'member'])
    workDir = await mkdtemp(join(tmpdir(), 'ui-concurrent-'))
    browser = await launchBrowser()
  })

  after(async () => {
    await browser?.close()
    await server?.stop()
    if (workDir !== undefined) await rm(workDir, { recursive: true, force: true })
  })

  it('keeps a concurrent change by another client', async () => {
    const api = await carolApi()
    const created = await api('POST', '/v2/images', {
      body: {
        name: 'edited-twice',
        disk_format: 'raw',
        container_format: 'bare',
        tags: ['a,b', ' padded '],
        color: 'red',
      },
    })
    assert.equal(created.status, 201)
    const id = created.json().id as string

    const page = await browser.context.newPage()
    const errors = collectPageErrors(page)
    await logIn(page, server, carol)
    await page.goto(`${server.imageUrl}/ui/#/images/${id}`)
    await page.getByRole('button', { name: 'Edit' }).click()
    await page.getByLabel('Name', { exact: true }).waitFor()

    const changed = await api('PATCH', `/v2/images/${id}`, {
      headers: { 'content-type': patchType },
      body: [{ op: 'replace', path: '/color', value: 'blue' }],
    })
    assert.equal(changed.status, 200)
    // A queued image is polled, so the page reads the other client's change while the form is open.
    await page.waitForResponse((response) => response.url().endsWith(`/v2/images/${id}`))
    await page.locator('.detail-grid td', { hasText: 'blue' }).waitFor()

    await page.getByLabel('Name', { exact: true }).fill('renamed')
    await page.getByRole('button', { name: 'Save changes' }).click()
    await page.getByText('Changes saved.').waitFor()

    const image = (await api('GET', `/v2/images/${id}`)).json()
    assert.equal(image.name, 'renamed')
    assert.equal(image.color, 'blue', "the other client's change is kept")
    assert.deepEqual(image.tags.sort(), [' padded ', 'a,b'], 'untouched tags are kept as they are')
    await page.close()
    pageErrors.push(...errors)
  })

  it('cancels an upload when the project is switched', async () => {
    const big = join(workDir, 'big.raw')
    await run('qemu-img', ['create', '-q', '-f', 'raw', big, '1G'])
    const page = await browser.context.newPage()
    const errors = collectPageErrors(page)
    await logIn(page, server, carol)
    // Throttled to 4 MiB/s, the upload is still running when the project changes.
    const cdp = await browser.context.newCDPSession(page)
    await cdp.send('Network.enable')
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: 4 * 1024 * 1024,
    })
    await page.getByRole('link', { name: 'Upload', exact: true }).click()
    await page.getByLabel('Image file').setInputFiles(big)
    await page.getByText('detected raw').waitFor()
    await page.getByLabel('Name').fill('switched-during-upload')
    await page.getByRole('button', { name: 'Upload', exact: true }).click()
    await page.getByText(/ of 1\.0 GiB \(\d+%\)/).waitFor()

    const revoked = page.waitForResponse(
      (response) =>
        response.request().method() === 'DELETE' && response.url().endsWith('/auth/tokens'),
    )
    await page.locator('#project-select').selectOption({ label: 'carol-second' })
    await revoked
    await cdp.detach()

    assert.equal(await page.getByRole('button', { name: 'Log in' }).count(), 0, 'still logged in')
    assert.equal(await page.locator('#project-select option:checked').innerText(), 'carol-second')
    const listing = await (await carolApi())('GET', '/v2/images?name=switched-during-upload')
    assert.deepEqual(listing.json().images, [], 'the record of the cancelled upload is deleted')
    await page.close()
    pageErrors.push(...errors)
  })

  it('cancels an upload on log out', async () => {
    const big = join(workDir, 'big.raw')
    await run('qemu-img', ['create', '-q', '-f', 'raw', big, '1G'])
    const page = await browser.context.newPage()
    const errors = collectPageErrors(page)
    await logIn(page, server, carol)
    // Throttled to 4 MiB/s, the upload is still running at log out.
    const cdp = await browser.context.newCDPSession(page)
    await cdp.send('Network.enable')
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: 4 * 1024 * 1024,
    })
    await page.getByRole('link', { name: 'Upload', exact: true }).click()
    await page.getByLabel('Image file').setInputFiles(big)
    await page.getByText('detected raw').waitFor()
    await page.getByLabel('Name').fill('logged-out-during-upload')
    await page.getByRole('button', { name: 'Upload', exact: true }).click()
    await page.getByText(/ of 1\.0 GiB \(\d+%\)/).waitFor()

    const revoked = page.waitForResponse(
      (response) =>
        response.request().method() === 'DELETE' && response.url().endsWith('/auth/tokens'),
    )
    await page.getByRole('button', { name: 'Log out' }).click()
    assert.equal((await revoked).status(), 204)
    await cdp.detach()

    await page.getByText('You have logged out.').waitFor()
    const listing = await (await carolApi())('GET', '/v2/images?name=logged-out-during-upload')
    assert.deepEqual(listing.json().images, [], 'the record of the cancelled upload is deleted')
    await page.close()
    pageErrors.push(...errors)
  })

  it('logs out when a switch finds the token revoked', async () => {
    const page = await browser.context.newPage()
    const errors = collectPageErrors(page)
    const issued = page.waitForResponse(
      (response) => response.request().method() === 'POST' && response.url().endsWith('/tokens'),
    )
    await logIn(page, server, carol)
    const token = (await issued).headers()['x-subject-token']
    assert.ok(token !== undefined)
    const revoked = await call(server, server.identityUrl, 'DELETE', '/v3/auth/tokens', {
      token: await issueToken(server),
      headers: { 'x-subject-token': token },
    })
    assert.equal(revoked.status, 204)

    await page.locator('#project-select').selectOption({ label: 'carol-second' })
    await page.getByText('Your session has ended. Log in again.').waitFor()
    assert.equal(await page.getByRole('button', { name: 'Log in' }).count(), 1)
    await page.close()
    pageErrors.push(...errors)
  })

  it('shows no console errors or policy violations', () => {
    assert.deepEqual(pageErrors, [])
  })
})

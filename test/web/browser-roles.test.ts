import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  browserSkipReason,
  collectPageErrors,
  launchBrowser,
  logIn,
  type TestBrowser,
} from '../helpers/browser.js'
import { imageClient, issueToken } from '../helpers/client.js'
import {
  admin,
  createTenant,
  startServer,
  type RunningServer,
  type Tenant,
} from '../helpers/server.js'

describe('web UI for a reader-only user', { skip: browserSkipReason() }, () => {
  let server: RunningServer
  let browser: TestBrowser
  let owner: Tenant
  let reader: Tenant

  before(async () => {
    server = await startServer()
    owner = await createTenant(server, 'erin')
    // frank is a member of his own project and only a reader on erin's.
    const frank = await createTenant(server, 'frank')
    await admin(server, ['role', 'add', '--project', 'erin', '--user', 'frank', 'reader'])
    reader = { ...frank, project: 'erin', projectId: owner.projectId }
    browser = await launchBrowser()
  })

  after(async () => {
    await browser?.close()
    await server?.stop()
  })

  it('offers no changes the API would reject', async () => {
    const api = imageClient(server, await issueToken(server, owner))
    const created = await api('POST', '/v2/images', {
      body: { name: 'read-only-view', disk_format: 'raw', container_format: 'bare' },
    })
    assert.equal(created.status, 201)

    const page = await browser.context.newPage()
    const errors = collectPageErrors(page)
    await logIn(page, server, reader)
    await page.getByRole('link', { name: 'read-only-view' }).click()
    await page.getByRole('heading', { name: 'read-only-view' }).waitFor()

    assert.equal(await page.getByRole('button', { name: 'Edit' }).count(), 0)
    assert.equal(await page.getByRole('button', { name: 'Delete' }).count(), 0)
    assert.equal(await page.getByRole('link', { name: 'Upload', exact: true }).count(), 0)
    await page.goto(`${server.imageUrl}/ui/#/upload`)
    await page.getByText('Uploading needs the member role').waitFor()
    assert.equal(await page.getByLabel('Image file').count(), 0)
    await page.close()
    assert.deepEqual(errors, [])
  })
})

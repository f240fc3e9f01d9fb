import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import type { Locator, Page } from 'playwright-core'
import { passwordPlaceholder, shellQuote } from '../../web/src/lib/rc-file.js'
import {
  browserSkipReason,
  collectPageErrors,
  launchBrowser,
  logIn,
  saveScreenshot,
  type TestBrowser,
} from '../helpers/browser.js'
import { imageClient, issueToken } from '../helpers/client.js'
import { startAgent } from '../helpers/agent.js'
import {
  admin,
  createTenant,
  pcdctlBin,
  startServer,
  type RunningServer,
  type Tenant,
} from '../helpers/server.js'

const run = promisify(execFile)

/**
 * Size in GiB of the optional large upload, from `UI_LARGE_UPLOAD_GIB`. It is off by default
 * because a 5 GiB upload takes about a minute and 5 GiB of disk on a 2-core machine.
 */
const largeUploadGib = Number(process.env.UI_LARGE_UPLOAD_GIB ?? 0)

/**
 * Waits until `locator` matches `count` elements. The UI's Content-Security-Policy forbids the
 * string evaluation that `page.waitForFunction` uses, so this polls from the test instead.
 */
async function waitForCount(locator: Locator, count: number): Promise<void> {
  const deadline = Date.now() + 15_000
  let found = await locator.count()
  while (found !== count) {
    assert.ok(Date.now() < deadline, `expected ${count} elements, found ${found}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
    found = await locator.count()
  }
}

/**
 * Opens a tab of the image list and waits until it is the current one, so that the next
 * action does not reach the form of the page that is being replaced.
 */
async function openTab(page: Page, name: 'Images' | 'Snapshots' | 'Shared with me') {
  await page.getByRole('link', { name, exact: true }).first().click()
  await page.locator('.tabs a[aria-current="page"]', { hasText: name }).waitFor()
}

/** Returns the image id in a detail page's URL fragment, `#/images/<id>`. */
function imageIdOf(page: Page): string {
  const match = /#\/images\/([^/]+)$/.exec(page.url())
  assert.ok(match, `expected an image page, got ${page.url()}`)
  return decodeURIComponent(match[1]!)
}

/** Runs a shell command with only PATH set, as a fresh terminal after sourcing the RC file. */
function runShell(command: string, cwd: string) {
  const path = `${dirname(pcdctlBin)}:${dirname(process.execPath)}:${process.env.PATH ?? ''}`
  const child = spawn('bash', ['-c', command], { cwd, env: { PATH: path } })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('close', (code) => resolve({ code, stdout, stderr })),
  )
}

describe('web UI in Chromium', { skip: browserSkipReason() }, () => {
  let server: RunningServer
  let browser: TestBrowser
  let workDir: string
  let disk: string
  let alice: Tenant
  let bob: Tenant
  let alicePage: Page
  let sharedImageId: string
  const pageErrors: string[] = []
  const adminLogin = () => ({
    username: 'admin',
    password: server.env.OS_PASSWORD!,
    project: 'admin',
  })
  const newPage = async () => {
    const page = await browser.context.newPage()
    const errors = collectPageErrors(page)
    page.on('close', () => pageErrors.push(...errors))
    return page
  }
  const aliceApi = async () => imageClient(server, await issueToken(server, alice))

  before(async () => {
    server = await startServer()
    alice = await createTenant(server, 'alice')
    bob = await createTenant(server, 'bob')
    workDir = await mkdtemp(join(tmpdir(), 'ui-browser-'))
    disk = join(workDir, 'disk.qcow2')
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '64M'])
    browser = await launchBrowser()
    alicePage = await newPage()
  })

  after(async () => {
    await browser?.close()
    await server?.stop()
    if (workDir !== undefined) await rm(workDir, { recursive: true, force: true })
  })

  it('sends a browser from / to the login page', async () => {
    const page = await newPage()
    const response = await page.goto(`${server.imageUrl}/`)
    assert.equal(new URL(page.url()).pathname, '/ui/')
    assert.match(String(response?.headers()['content-security-policy']), /frame-ancestors 'none'/)
    await page.getByRole('heading', { name: 'Log in' }).waitFor()
    await page.getByLabel('User name').fill('alice')
    await saveScreenshot(page, 'login')
    await page.close()
  })

  it('rejects a wrong password in plain words', async () => {
    const page = await newPage()
    await page.goto(`${server.imageUrl}/ui/`)
    await page.getByLabel('User name').fill('alice')
    await page.getByLabel('Password').fill('wrong')
    await page.getByRole('button', { name: 'Log in' }).click()
    const alert = page.getByRole('alert')
    await alert.waitFor()
    assert.match(await alert.innerText(), /Login failed: .*password is incorrect/)
    await page.close()
  })

  it('logs in with the keyboard alone', async () => {
    const page = await newPage()
    await page.goto(`${server.imageUrl}/ui/`)
    await page.getByLabel('Domain').focus()
    await page.keyboard.press('Tab')
    await page.keyboard.type(bob.username)
    await page.keyboard.press('Tab')
    await page.keyboard.type(bob.password)
    await page.keyboard.press('Tab')
    await page.keyboard.type(bob.project)
    await page.keyboard.press('Enter')
    await page.getByRole('heading', { name: 'Images', level: 1 }).waitFor()
    assert.equal(await page.locator('#project-select option:checked').innerText(), 'bob')
    await page.getByRole('button', { name: 'Log out' }).click()
    await page.getByText('You have logged out.').waitFor()
    await page.close()
  })

  it('uploads a qcow2 that becomes active', async () => {
    const page = alicePage
    await logIn(page, server, alice)
    await page.getByRole('link', { name: 'Upload', exact: true }).click()
    await page.getByLabel('Image file').setInputFiles(disk)
    await page.getByText('detected qcow2 (qcow2 magic').waitFor()
    assert.equal(await page.getByLabel('Disk format').inputValue(), 'qcow2')
    assert.equal(await page.getByLabel('Name').inputValue(), 'disk')
    await page.getByLabel('Name').fill('alice-disk')
    await page.getByLabel('Visibility').selectOption('private')
    await saveScreenshot(page, 'upload')

    await page.getByRole('button', { name: 'Upload', exact: true }).click()
    await page.waitForURL(/#\/images\/[^/]+$/)
    await page.locator('.page-heading .status', { hasText: 'active' }).waitFor()
    sharedImageId = imageIdOf(page)

    const image = (await (await aliceApi())('GET', `/v2/images/${sharedImageId}`)).json()
    assert.equal(image.status, 'active')
    assert.equal(image.size, (await stat(disk)).size)
    assert.equal(image.disk_format, 'qcow2')
    assert.equal(image.virtual_size, 64 * 1024 * 1024)
  })

  it('edits the image and shares it with a second project', async () => {
    const page = alicePage
    await page.getByRole('button', { name: 'Edit' }).click()
    await page.getByLabel('Name', { exact: true }).fill('alice-shared')
    await page.getByLabel('Visibility').selectOption('shared')
    await page.getByLabel('Protected (cannot be deleted)').check()
    await page.getByLabel('Minimum disk (GiB)').fill('1')
    await page.getByLabel('Minimum RAM (MiB)').fill('512')
    await page.getByLabel('Tags').fill('ui, test')
    await page.getByRole('button', { name: 'Add property' }).click()
    await page.getByLabel('Property 1 name').fill('os_distro')
    await page.getByLabel('Property 1 value').fill('debian')
    await page.getByRole('button', { name: 'Save changes' }).click()
    await page.getByText('Changes saved.').waitFor()

    await page.getByLabel('Project ID').fill(bob.projectId)
    await page.getByRole('button', { name: 'Share with project' }).click()
    await page.locator('table', { hasText: bob.projectId }).getByText('pending').waitFor()
    // Each row's button names its project, so a screen reader can tell the buttons apart.
    await page.getByRole('button', { name: `Remove project ${bob.projectId}` }).waitFor()

    const image = (await (await aliceApi())('GET', `/v2/images/${sharedImageId}`)).json()
    assert.equal(image.name, 'alice-shared')
    assert.equal(image.visibility, 'shared')
    assert.equal(image.protected, true)
    assert.equal(image.min_disk, 1)
    assert.equal(image.min_ram, 512)
    assert.deepEqual([...image.tags].sort(), ['test', 'ui'])
    assert.equal(image.os_distro, 'debian')
    const members = (await (await aliceApi())('GET', `/v2/images/${sharedImageId}/members`)).json()
    assert.deepEqual(
      members.members.map((m: { member_id: string; status: string }) => [m.member_id, m.status]),
      [[bob.projectId, 'pending']],
    )
    await saveScreenshot(page, 'image-detail')
  })

  it('refuses to delete a protected image and says why', async () => {
    const page = alicePage
    const deleteButton = page.getByRole('button', { name: 'Delete' })
    assert.equal(await deleteButton.isDisabled(), true)
    const reasonId = await deleteButton.getAttribute('aria-describedby')
    assert.equal(reasonId, 'delete-reason')
    assert.match(await page.locator('#delete-reason').innerText(), /protected/)
    await deleteButton.click({ force: true })
    assert.equal(await page.getByRole('button', { name: 'Delete permanently' }).count(), 0)

    const image = await (await aliceApi())('GET', `/v2/images/${sharedImageId}`)
    assert.equal(image.status, 200)
  })

  it('lets the second project accept the shared image', async () => {
    const page = await newPage()
    await logIn(page, server, bob)
    assert.equal(await page.getByRole('link', { name: 'alice-shared' }).count(), 0)

    await openTab(page, 'Shared with me')
    await page.getByRole('link', { name: 'alice-shared' }).waitFor()
    await saveScreenshot(page, 'shared-with-me')
    await page.getByRole('link', { name: 'alice-shared' }).click()
    await page.getByRole('heading', { name: 'Shared with your project' }).waitFor()
    await page.getByRole('button', { name: 'Accept' }).click()
    await page.getByText('You have accepted this image.').waitFor()
    assert.equal(await page.getByRole('button', { name: 'Edit' }).count(), 0)

    await openTab(page, 'Images')
    await page.getByRole('link', { name: 'alice-shared' }).waitFor()
    await page.close()

    const members = (await (await aliceApi())('GET', `/v2/images/${sharedImageId}/members`)).json()
    assert.equal(members.members[0].status, 'accepted')
  })

  it('shows a rejected upload in plain words', async () => {
    const page = alicePage
    await page.getByRole('link', { name: 'Upload', exact: true }).click()
    await page.getByLabel('Image file').setInputFiles(disk)
    await page.getByText('detected qcow2').waitFor()
    await page.getByLabel('Name').fill('declared-raw')
    await page.getByLabel('Disk format').selectOption('raw')
    await page.getByRole('button', { name: 'Upload', exact: true }).click()

    const alert = page.getByRole('alert')
    await alert.waitFor()
    const message = await alert.innerText()
    assert.match(message, /^Upload failed: /)
    assert.match(message, /qcow2/)
    assert.match(message, /raw/)
    assert.doesNotMatch(message, /<br|\{"/)
    await saveScreenshot(page, 'upload-error')

    await page.getByRole('button', { name: 'Delete the queued record' }).click()
    await page.getByText('The queued image record was deleted.').waitFor()
    const listing = await (await aliceApi())('GET', '/v2/images?name=declared-raw')
    assert.deepEqual(listing.json().images, [])
  })

  it('explains a file changed after picking', async () => {
    const page = alicePage
    const changing = join(workDir, 'changing.qcow2')
    await copyFile(disk, changing)
    await page.getByRole('link', { name: 'Upload', exact: true }).click()
    await page.getByLabel('Image file').setInputFiles(changing)
    await page.getByText('detected qcow2').waitFor()
    await page.getByLabel('Name').fill('changed-on-disk')
    // A new size and a modification time at least a second later, whatever the clock's step.
    await new Promise((resolve) => setTimeout(resolve, 1100))
    await writeFile(changing, Buffer.alloc(1024 * 1024))
    await page.getByRole('button', { name: 'Upload', exact: true }).click()

    const alert = page.getByRole('alert')
    await alert.waitFor()
    assert.match(await alert.innerText(), /^Upload failed: The file changed on disk/)
    await page.getByRole('button', { name: 'Delete the queued record' }).click()
    await page.getByText('The queued image record was deleted.').waitFor()
    await rm(changing)
  })

  it('cancels a running upload and deletes the record', async () => {
    const page = alicePage
    const big = join(workDir, 'big.raw')
    await run('qemu-img', ['create', '-q', '-f', 'raw', big, '1G'])
    // Throttled to 4 MiB/s, the upload runs long enough to be cancelled half-way.
    const cdp = await browser.context.newCDPSession(page)
    await cdp.send('Network.enable')
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: 4 * 1024 * 1024,
    })
    try {
      await page.getByRole('link', { name: 'Upload', exact: true }).click()
      await page.getByLabel('Image file').setInputFiles(big)
      await page.getByText('detected raw').waitFor()
      await page.getByLabel('Name').fill('cancelled-upload')
      await page.getByRole('button', { name: 'Upload', exact: true }).click()
      await page.getByText(/ of 1\.0 GiB \(\d+%\) · .*\/s · about .* left/).waitFor()
      await saveScreenshot(page, 'upload-progress')
      await page.getByRole('button', { name: 'Cancel upload' }).click()
      await page.getByText('Upload cancelled. The new image record was deleted.').waitFor()
    } finally {
      await cdp.send('Network.emulateNetworkConditions', {
        offline: false,
        latency: 0,
        downloadThroughput: -1,
        uploadThroughput: -1,
      })
      await cdp.detach()
    }
    const listing = await (await aliceApi())('GET', '/v2/images?name=cancelled-upload')
    assert.deepEqual(listing.json().images, [])
  })

  it('uploads nothing after leaving during create', async () => {
    const page = alicePage
    const puts: string[] = []
    page.on('request', (request) => {
      if (request.method() === 'PUT') puts.push(request.url())
    })
    // The record's creation is held back until the user has left the upload page.
    let imageId = ''
    let releaseCreate!: () => void
    const createHeld = new Promise<void>((resolve) => (releaseCreate = resolve))
    await page.route('**/v2/images', async (route) => {
      if (route.request().method() === 'POST') await createHeld
      await route.continue()
    })
    try {
      await page.getByRole('link', { name: 'Upload', exact: true }).click()
      await page.getByLabel('Image file').setInputFiles(disk)
      await page.getByText('detected qcow2').waitFor()
      await page.getByLabel('Name').fill('left-during-create')
      await page.getByRole('button', { name: 'Upload', exact: true }).click()
      await page.getByText('Creating the image record…').waitFor()
      await openTab(page, 'Images')
      const created = page.waitForResponse(
        (response) =>
          response.request().method() === 'POST' && /\/v2\/images$/.test(response.url()),
      )
      releaseCreate()
      imageId = (await (await created).json()).id
    } finally {
      await page.unroute('**/v2/images')
    }

    const api = await aliceApi()
    const deadline = Date.now() + 10_000
    let status = (await api('GET', `/v2/images/${imageId}`)).status
    while (status !== 404 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      status = (await api('GET', `/v2/images/${imageId}`)).status
    }
    assert.equal(status, 404, 'the record of the abandoned upload is deleted')
    assert.deepEqual(puts, [])
    assert.match(page.url(), /#\/images$/)
  })

  it(
    'uploads a multi-gigabyte file',
    { skip: largeUploadGib > 0 ? false : 'set UI_LARGE_UPLOAD_GIB=5 to upload a 5 GiB file' },
    async () => {
      const page = alicePage
      const large = join(workDir, 'large.raw')
      await run('truncate', ['-s', `${largeUploadGib}G`, large])
      await page.getByRole('link', { name: 'Upload', exact: true }).click()
      await page.getByLabel('Image file').setInputFiles(large)
      await page.getByText('detected raw').waitFor()
      await page.getByLabel('Name').fill('large-upload')
      await page.getByRole('button', { name: 'Upload', exact: true }).click()
      await page.waitForURL(/#\/images\/[^/]+$/, { timeout: 30 * 60_000 })
      const status = page.locator('.page-heading .status', { hasText: 'active' })
      await status.waitFor({ timeout: 5 * 60_000 })

      const image = (await (await aliceApi())('GET', `/v2/images/${imageIdOf(page)}`)).json()
      assert.equal(image.size, largeUploadGib * 1024 ** 3)
      await rm(large)
    },
  )

  it('pages through many images with markers', async () => {
    const api = await aliceApi()
    for (let i = 0; i < 30; i += 1) {
      const created = await api('POST', '/v2/images', {
        body: { name: 'paging', disk_format: 'raw', container_format: 'bare' },
      })
      assert.equal(created.status, 201)
    }
    const page = alicePage
    await openTab(page, 'Images')
    await page.getByLabel('Name (exact)').fill('paging')
    await page.getByRole('button', { name: 'Apply filters' }).click()
    const rows = page.locator('table.data tbody tr')
    const links = page.locator('table.data tbody a')
    await waitForCount(links, 25)
    const firstPage = await links.evaluateAll((elements) => elements.map((e) => String(e)))

    await page.getByRole('button', { name: 'Next page' }).click()
    await page.getByText('Page 2').waitFor()
    await waitForCount(links, 5)
    const secondPage = await links.evaluateAll((elements) => elements.map((e) => String(e)))
    assert.equal(new Set([...firstPage, ...secondPage]).size, 30)
    assert.equal(await page.getByRole('button', { name: 'Next page' }).isDisabled(), true)

    await page.getByRole('button', { name: 'Previous page' }).click()
    await page.getByText('Page 1').waitFor()
    await waitForCount(links, 25)
    assert.equal(await rows.count(), 25)
  })

  it('starts again when the marker is deleted', async () => {
    const page = alicePage
    const links = page.locator('table.data tbody a')
    const markerHref = String(await links.nth(24).getAttribute('href'))
    const markerId = decodeURIComponent(markerHref.split('/').at(-1)!)
    await page.getByRole('button', { name: 'Next page' }).click()
    await page.getByText('Page 2').waitFor()
    await waitForCount(links, 5)

    const api = await aliceApi()
    assert.equal((await api('DELETE', `/v2/images/${markerId}`)).status, 204)
    await page.getByRole('button', { name: 'Refresh' }).click()
    await page.getByText('The image list changed while you were paging').waitFor()
    await page.getByText('Page 1', { exact: true }).waitFor()
    await waitForCount(links, 25)
    assert.equal(await page.getByRole('alert').count(), 0)
  })

  it('lists snapshots in their own tab', async () => {
    const api = await aliceApi()
    const created = await api('POST', '/v2/images', {
      body: {
        name: 'nightly-snapshot',
        disk_format: 'qcow2',
        container_format: 'bare',
        image_type: 'snapshot',
      },
    })
    assert.equal(created.status, 201)
    const page = alicePage
    await page.getByRole('button', { name: 'Clear' }).click()
    await page.getByRole('link', { name: 'paging' }).first().waitFor()
    assert.equal(await page.getByRole('link', { name: 'nightly-snapshot' }).count(), 0)

    await openTab(page, 'Snapshots')
    await page.getByRole('link', { name: 'nightly-snapshot' }).waitFor()
    assert.equal(await page.getByRole('link', { name: 'paging' }).count(), 0)
    await saveScreenshot(page, 'snapshots')
  })

  it('sorts and filters the image table', async () => {
    const page = alicePage
    await openTab(page, 'Images')
    await page.getByLabel('Status').selectOption('active')
    await page.getByRole('button', { name: 'Apply filters' }).click()
    await page.getByRole('link', { name: 'alice-shared' }).waitFor()
    assert.equal(await page.getByRole('link', { name: 'paging' }).count(), 0)

    await page.getByLabel('Status').selectOption('')
    await page.getByLabel('Tags').fill('ui')
    await page.getByRole('button', { name: 'Apply filters' }).click()
    await page.getByRole('link', { name: 'alice-shared' }).waitFor()
    await page.getByLabel('Tags').fill('')
    await page.getByRole('button', { name: 'Apply filters' }).click()

    const rows = page.locator('table.data tbody tr')
    await page.getByRole('button', { name: 'Name' }).click()
    const header = page.locator('th[aria-sort]')
    assert.equal(await header.getAttribute('aria-sort'), 'ascending')
    await rows.first().getByRole('link', { name: 'alice-shared' }).waitFor()
    await saveScreenshot(page, 'images')

    await page.setViewportSize({ width: 390, height: 844 })
    const width = await page.evaluate('document.documentElement.scrollWidth')
    assert.ok(Number(width) <= 390, `the page is ${String(width)} px wide on a 390 px screen`)
    await saveScreenshot(page, 'images-narrow')
    await page.setViewportSize({ width: 1280, height: 900 })
  })

  it('wraps names of 255 characters', async () => {
    const page = alicePage
    const api = await aliceApi()
    const name = 'n'.repeat(255)
    const created = await api('POST', '/v2/images', {
      body: {
        name,
        disk_format: 'raw',
        container_format: 'bare',
        tags: ['t'.repeat(255)],
        long_value: 'v'.repeat(255),
      },
    })
    assert.equal(created.status, 201)

    await openTab(page, 'Images')
    await page.getByLabel('Name (exact)').fill(name)
    await page.getByRole('button', { name: 'Apply filters' }).click()
    const link = page.getByRole('link', { name })
    await link.waitFor()
    const table = page.locator('.table-scroll')
    const overflow = await table.evaluate((element) => element.scrollWidth - element.clientWidth)
    assert.equal(overflow, 0, 'the image table scrolls sideways')

    await link.click()
    await page.getByRole('heading', { name, level: 1 }).waitFor()
    for (const width of [1280, 375]) {
      await page.setViewportSize({ width, height: 900 })
      const pageWidth = Number(await page.evaluate('document.documentElement.scrollWidth'))
      assert.ok(pageWidth <= width, `the detail page is ${pageWidth} px wide at ${width} px`)
    }
    await page.setViewportSize({ width: 1280, height: 900 })
    assert.equal((await api('DELETE', `/v2/images/${created.json().id}`)).status, 204)
  })

  it('switches to another project of the user', async () => {
    await admin(server, ['role', 'add', '--project', 'bob', '--user', 'alice', 'member'])
    const page = alicePage
    await page.getByRole('button', { name: 'Log out' }).click()
    await logIn(page, server, alice)
    await page.getByLabel('Project', { exact: true }).selectOption({ label: 'bob' })
    const selected = page.locator('#project-select option:checked', { hasText: 'bob' })
    await selected.waitFor({ state: 'attached' })
    assert.equal(await page.getByRole('alert').count(), 0)
    await openTab(page, 'Shared with me')
    await page.getByRole('link', { name: 'alice-shared' }).waitFor()
  })

  it('gives CLI settings that pcdctl runs with', async () => {
    const page = await newPage()
    await logIn(page, server, adminLogin())
    await page.getByRole('button', { name: 'Import with CLI' }).click()
    const dialog = page.getByRole('dialog', { name: 'Import with the CLI' })
    await dialog.waitFor()
    const rcText = await dialog.getByLabel(/RC file for project admin/).inputValue()
    const command = await dialog.getByLabel('Upload a qcow2 file as an image').inputValue()
    assert.match(rcText, new RegExp(`export OS_AUTH_URL='${server.identityUrl}/v3'`))
    assert.match(rcText, /export OS_PROJECT_NAME='admin'/)
    assert.match(rcText, /export OS_REGION_NAME='RegionOne'/)
    assert.equal(
      command,
      'pcdctl image create --insecure --container-format bare --disk-format qcow2 --public --file disk.qcow2 my-image',
    )
    await saveScreenshot(page, 'import-with-cli', { fullPage: false })

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      dialog.getByRole('button', { name: 'Download openstack-rc.sh' }).click(),
    ])
    assert.equal(download.suggestedFilename(), 'openstack-rc.sh')
    const downloaded = await readFile((await download.path())!, 'utf8')
    assert.equal(downloaded, rcText)

    const cliDir = await mkdtemp(join(workDir, 'cli-'))
    const password = shellQuote(server.env.OS_PASSWORD!)
    await writeFile(
      join(cliDir, 'openstack-rc.sh'),
      downloaded.replace(`'${passwordPlaceholder}'`, password),
    )
    await copyFile(disk, join(cliDir, 'disk.qcow2'))
    const result = await runShell(`. ./openstack-rc.sh && ${command}`, cliDir)
    assert.equal(result.code, 0, `pcdctl failed: ${result.stderr}`)
    assert.match(result.stdout, /\| status +\| active +\|/)

    await dialog.getByRole('button', { name: 'Close' }).click()
    await page.getByLabel('Name (exact)').fill('my-image')
    await page.getByRole('button', { name: 'Apply filters' }).click()
    await page.getByRole('link', { name: 'my-image' }).waitFor()
    await page.close()
  })

  it('deactivates and reactivates as admin', async () => {
    // The owner may edit the image, but only an admin may deactivate it.
    await alicePage.getByLabel('Project', { exact: true }).selectOption({ label: 'alice' })
    const selected = alicePage.locator('#project-select option:checked', { hasText: 'alice' })
    await selected.waitFor({ state: 'attached' })
    await openTab(alicePage, 'Images')
    await alicePage.getByLabel('Name (exact)').fill('alice-shared')
    await alicePage.getByRole('button', { name: 'Apply filters' }).click()
    await alicePage.getByRole('link', { name: 'alice-shared' }).click()
    await alicePage.getByRole('button', { name: 'Edit' }).waitFor()
    assert.equal(await alicePage.getByRole('button', { name: 'Deactivate' }).count(), 0)

    const page = await newPage()
    await logIn(page, server, adminLogin())
    await page.getByLabel('Name (exact)').fill('my-image')
    await page.getByRole('button', { name: 'Apply filters' }).click()
    await page.getByRole('link', { name: 'my-image' }).click()
    await page.getByRole('button', { name: 'Deactivate' }).click()
    await page.getByText('The image is deactivated.').waitFor()
    await page.locator('.page-heading .status', { hasText: 'deactivated' }).waitFor()
    await page.getByRole('button', { name: 'Reactivate' }).click()
    await page.getByText('The image is active again.').waitFor()
    await page.locator('.page-heading .status', { hasText: 'active' }).waitFor()
    await page.close()
  })

  it('shows service health to admins only', async () => {
    assert.equal(await alicePage.getByRole('link', { name: 'Service health' }).count(), 0)

    const page = await newPage()
    await logIn(page, server, adminLogin())
    await page.getByRole('link', { name: 'Service health' }).click()
    const hosts = await (
      await imageClient(server, await issueToken(server))('GET', '/v2/info/hosts')
    ).json().hosts
    const row = page.locator('#hosts-table tbody tr', { hasText: hosts[0].name })
    await row.waitFor()
    assert.match(await row.innerText(), /healthy/)
    assert.match(await row.innerText(), /file: .* free of /)
    await page.locator('#hosts-table').waitFor()

    // A real agent caches an image and reports it; the page then shows it.
    const adminApi = imageClient(server, await issueToken(server))
    const listed = (await adminApi('GET', '/v2/images?status=active')).json().images
    const agent = await startAgent(server, { name: 'hv-ui', extraArgs: ['--report-interval', '1'] })
    try {
      await agent.call('POST', '/v1/fetch', { image: listed[0].id })
      const reported = async () => {
        const response = await adminApi('GET', '/v2/cache/agents/hv-ui')
        return response.status === 200 && response.json().cached_images.length === 1
      }
      for (let tries = 0; !(await reported()); tries++) {
        assert.ok(tries < 100, 'the agent did not report its cached image')
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      await page.reload()
      await logIn(page, server, adminLogin())
      await page.getByRole('link', { name: 'Service health' }).click()
      const card = page.locator('article.agent', { hasText: 'hv-ui' })
      await card.waitFor()
      assert.match(await card.innerText(), /1 misses/)
      await card.locator('summary').click()
      assert.match(await card.innerText(), new RegExp(listed[0].id))
      await saveScreenshot(page, 'service-health')
    } finally {
      await agent.stop()
      await rm(agent.cacheDir, { recursive: true, force: true })
    }
    await page.close()
  })

  it('shows no console errors or policy violations', async () => {
    await alicePage.close()
    assert.deepEqual(pageErrors, [])
  })
})

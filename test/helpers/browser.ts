import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { repoRoot, type RunningServer } from './server.js'

/** Debian's chromium package; the tests never download a browser. */
export const chromiumPath = '/usr/bin/chromium'

/**
 * Flags that keep Chromium off the network except for the test server: no background
 * requests, updates, sync or QUIC, and host names other than localhost and 127.0.0.1 resolve to nothing.
 */
export const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
]

/** Why the browser tests cannot run here, or `false` when they can. */
export function browserSkipReason(): string | false {
  if (existsSync(chromiumPath)) return false
  return `Chromium is not installed at ${chromiumPath}; install the Debian package chromium`
}

export interface TestBrowser {
  context: BrowserContext
  close(): Promise<void>
}

/** Starts headless Chromium with a new, empty profile that trusts any certificate. */
export async function launchBrowser(): Promise<TestBrowser> {
  const profile = await mkdtemp(join(tmpdir(), 'ui-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: chromiumArgs,
    ignoreHTTPSErrors: true,
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
  })
  context.setDefaultTimeout(15_000)
  return {
    context,
    async close() {
      await context.close()
      await rm(profile, { recursive: true, force: true })
    },
  }
}

/**
 * Returns the directory for screenshots: `SCREENSHOT_DIR` when set (docs/screenshots refreshes
 * the README's pictures), otherwise dist/screenshots, which git ignores.
 */
export function screenshotDirectory(): string {
  const configured = process.env.SCREENSHOT_DIR
  return configured === undefined || configured === ''
    ? join(repoRoot, 'dist', 'screenshots')
    : resolve(configured)
}

/**
 * Saves a PNG of the page as `<name>.png` in the screenshot directory: the whole page, or only
 * the viewport with `fullPage: false` (for a modal dialog, whose backdrop covers the viewport).
 */
export async function saveScreenshot(
  page: Page,
  name: string,
  options: { fullPage: boolean } = { fullPage: true },
): Promise<string> {
  const directory = screenshotDirectory()
  await mkdir(directory, { recursive: true })
  const path = join(directory, `${name}.png`)
  await page.screenshot({ path, fullPage: options.fullPage, animations: 'disabled' })
  return path
}

/**
 * Collects the console errors and uncaught exceptions of a page, CSP violations included.
 * Chromium's note on each HTTP error response is left out: the UI shows those itself.
 */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = []
  page.on('console', (message) => {
    const text = message.text()
    if (message.type() === 'error' && !text.startsWith('Failed to load resource')) {
      errors.push(text)
    }
  })
  page.on('pageerror', (error) => errors.push(error.message))
  return errors
}

/** The credentials that the login form takes. */
export interface Login {
  username: string
  password: string
  project: string
}

/** Fills the login form and waits for the image list. */
export async function logIn(page: Page, server: RunningServer, login: Login): Promise<void> {
  await page.goto(`${server.imageUrl}/ui/#/images`)
  await page.getByLabel('Domain').fill('Default')
  await page.getByLabel('User name').fill(login.username)
  await page.getByLabel('Password').fill(login.password)
  await page.getByLabel('Project', { exact: true }).fill(login.project)
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.getByRole('heading', { name: 'Images', level: 1 }).waitFor()
}

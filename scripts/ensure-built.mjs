#!/usr/bin/env node
// Builds dist/ with tsc, and the web UI in dist/ui with Vite, when either is missing or older
// than any of its source files, so that `npm start` works on a fresh checkout and after edits.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

function newestMtime(dir) {
  let newest = 0
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    const info = statSync(path)
    newest = Math.max(newest, info.isDirectory() ? newestMtime(path) : info.mtimeMs)
  }
  return newest
}

function isStale(output, sourceDir) {
  return !existsSync(output) || statSync(output).mtimeMs < newestMtime(sourceDir)
}

if (isStale('dist/src/main.js', 'src')) {
  console.error('Building with tsc...')
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], {
    stdio: 'inherit',
  })
}
if (isStale('dist/ui/index.html', 'web')) {
  console.error('Building the web UI...')
  execFileSync(process.execPath, ['scripts/build-web.mjs'], { stdio: 'inherit' })
}

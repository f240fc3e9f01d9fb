#!/usr/bin/env node
// Builds dist/ with tsc when it is missing or older than any source file, so that `npm start`
// works on a fresh checkout and after edits.
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

const output = 'dist/src/main.js'
const stale = !existsSync(output) || statSync(output).mtimeMs < newestMtime('src')
if (stale) {
  console.error('Building with tsc...')
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], {
    stdio: 'inherit',
  })
}

#!/usr/bin/env node
// Runs every compiled test file (dist/**/*.test.js) with node's test runner. Node 20's --test
// takes no glob, and on a wrong path it runs nothing and still exits 0, so this script finds the
// files itself and fails when there are none.
import { spawn } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

function findTests(dir) {
  const found = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) found.push(...findTests(path))
    else if (name.endsWith('.test.js')) found.push(path)
  }
  return found
}

const filter = process.argv.slice(2)
const files = ['dist/src', 'dist/test']
  .flatMap((dir) => findTests(dir))
  .filter((file) => filter.length === 0 || filter.some((part) => file.includes(part)))
  .sort()
if (files.length === 0) {
  console.error(
    `run-tests: no compiled test files match ${filter.join(' ') || 'dist/**/*.test.js'}`,
  )
  process.exit(1)
}

const child = spawn(process.execPath, ['--test', '--test-concurrency=2', ...files], {
  stdio: 'inherit',
})
child.on('exit', (code, signal) => process.exit(code ?? (signal === null ? 1 : 1)))

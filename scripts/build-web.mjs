#!/usr/bin/env node
// Type-checks the web UI (web/tsconfig.json) and builds it with Vite into dist/ui, which
// `image-library serve` serves under /ui/. Runs from any working directory.
import { execFileSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
execFileSync(
  process.execPath,
  [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'web/tsconfig.json')],
  { stdio: 'inherit' },
)
const { build } = await import('vite')
await build({ configFile: join(root, 'web/vite.config.mjs'), logLevel: 'warn' })

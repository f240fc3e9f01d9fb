// Builds the web UI into dist/ui, which `image-library serve` serves under /ui/.
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/ui/',
  // The build runs offline and writes no cache outside the repository.
  cacheDir: fileURLToPath(new URL('../node_modules/.vite-web', import.meta.url)),
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/ui', import.meta.url)),
    emptyOutDir: true,
    // Assets become files, never data: URLs, which the Content-Security-Policy would block.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: true,
    reportCompressedSize: false,
  },
})

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import {
  createTenant,
  repoRoot,
  startServer,
  type RunningServer,
  type Tenant,
} from '../helpers/server.js'

// Runs test/e2e/sdk_workflow.py with the Debian python3-openstacksdk (0.101) against the
// server and checks the JSON summary that the script prints.

const run = promisify(execFile)

/**
 * The Debian interpreter, because python3-openstacksdk is installed for it. A `python3` found
 * on PATH may be another installation (pyenv, a virtualenv) without the `openstack` module.
 */
const systemPython = '/usr/bin/python3'
const workflowScript = join(repoRoot, 'test', 'e2e', 'sdk_workflow.py')

type Env = Record<string, string>

interface Digests {
  md5: string
  sha256: string
  size: number
}

interface ImageSummary {
  id: string
  name: string
  status: string
  visibility: string
  disk_format: string
  container_format: string
  size: number
  virtual_size: number
  checksum: string
  hash_algo: string
  hash_value: string
  tags: string[]
  properties: Record<string, string>
}

interface WorkflowSummary {
  sdk_version: string
  verify: string | boolean
  image_endpoint: string
  qcow2_created_status: string
  qcow2: ImageSummary
  raw: ImageSummary
  list: Record<
    | 'all'
    | 'private'
    | 'public'
    | 'shared'
    | 'tag'
    | 'name'
    | 'status_active'
    | 'size_min'
    | 'paged',
    string[]
  >
  find_by_name: string
  downloads: Record<'qcow2' | 'raw', Digests & { content_md5: string | null; local: Digests }>
  after_delete: { find_qcow2: boolean; find_raw: boolean; listed: string[] }
}

function digest(algorithm: 'md5' | 'sha256' | 'sha512', data: Buffer): string {
  return createHash(algorithm).update(data).digest('hex')
}

describe('openstacksdk against image-library serve', () => {
  let server: RunningServer
  let workDir: string
  /** Only PATH, HOME and the OS_* variables of admin-openrc.sh, so no clouds.yaml applies. */
  let adminEnv: Env
  let qcow2Path: string
  let qcow2: Buffer
  let rawPath: string
  let raw: Buffer

  /** Runs the workflow script; asserts exit status 0 and parses its JSON summary. */
  async function runWorkflow(env: Env, args: string[]): Promise<WorkflowSummary> {
    const scriptArgs = [workflowScript, qcow2Path, rawPath, ...args]
    const result = await run(systemPython, scriptArgs, { env, maxBuffer: 16 * 1024 * 1024 }).catch(
      (error: { code: number; stdout: string; stderr: string }) => {
        assert.fail(`sdk_workflow.py exited with ${error.code}:\n${error.stderr}\n${error.stdout}`)
      },
    )
    return JSON.parse(result.stdout) as WorkflowSummary
  }

  before(async () => {
    server = await startServer()
    workDir = await mkdtemp(join(tmpdir(), 'openstacksdk-e2e-'))
    const home = join(workDir, 'home')
    await mkdir(home)
    adminEnv = { PATH: process.env['PATH'] ?? '', HOME: home, ...server.env }

    qcow2Path = join(workDir, 'disk.qcow2')
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', qcow2Path, '64M'])
    qcow2 = await readFile(qcow2Path)

    // A sparse 8 MiB raw disk with 2 MiB of random bytes from 1 MiB on, so it is not all zeros.
    rawPath = join(workDir, 'disk.raw')
    await run('qemu-img', ['create', '-q', '-f', 'raw', rawPath, '8M'])
    const ddArgs = ['bs=1M', 'count=2', 'seek=1', 'conv=notrunc', 'status=none']
    await run('dd', ['if=/dev/urandom', `of=${rawPath}`, ...ddArgs])
    raw = await readFile(rawPath)
  })

  after(async () => {
    await server?.stop()
    if (workDir !== undefined) await rm(workDir, { recursive: true, force: true })
  })

  describe('admin workflow', () => {
    let summary: WorkflowSummary

    before(async () => {
      summary = await runWorkflow(adminEnv, ['sdk-admin'])
    })

    it('verifies TLS with OS_CACERT', () => {
      assert.equal(summary.verify, adminEnv['OS_CACERT'])
      assert.ok(
        summary.image_endpoint.startsWith(server.imageUrl),
        `${summary.image_endpoint} is not under ${server.imageUrl}`,
      )
    })

    it('creates an active private qcow2 image', () => {
      const image = summary.qcow2
      assert.equal(summary.qcow2_created_status, 'active')
      assert.equal(image.name, 'sdk-admin-qcow2')
      assert.equal(image.status, 'active')
      assert.equal(image.visibility, 'private')
      assert.equal(image.disk_format, 'qcow2')
      assert.equal(image.container_format, 'bare')
      assert.equal(image.size, qcow2.length)
      assert.equal(image.virtual_size, 67108864)
      assert.equal(image.checksum, digest('md5', qcow2))
      assert.equal(image.hash_algo, 'sha512')
      assert.equal(image.hash_value, digest('sha512', qcow2))
      assert.deepEqual(image.tags, ['sdk-e2e'])
      // The SDK stores the local hashes so that a later create_image can skip an identical file.
      assert.equal(image.properties['owner_specified.openstack.md5'], digest('md5', qcow2))
      assert.equal(image.properties['owner_specified.openstack.sha256'], digest('sha256', qcow2))
    })

    it('creates an active public raw image', () => {
      const image = summary.raw
      assert.equal(image.name, 'sdk-admin-raw')
      assert.equal(image.status, 'active')
      assert.equal(image.visibility, 'public')
      assert.equal(image.disk_format, 'raw')
      assert.equal(image.size, raw.length)
      assert.equal(image.virtual_size, raw.length)
      assert.equal(image.checksum, digest('md5', raw))
      assert.equal(image.hash_value, digest('sha512', raw))
    })

    it('filters and pages the image list', () => {
      const both = ['sdk-admin-qcow2', 'sdk-admin-raw']
      assert.deepEqual(summary.list.all, both)
      assert.deepEqual(summary.list.private, ['sdk-admin-qcow2'])
      assert.deepEqual(summary.list.public, ['sdk-admin-raw'])
      assert.deepEqual(summary.list.shared, [])
      assert.deepEqual(summary.list.tag, ['sdk-admin-qcow2'])
      assert.deepEqual(summary.list.name, ['sdk-admin-raw'])
      assert.deepEqual(summary.list.status_active, both)
      assert.deepEqual(summary.list.size_min, ['sdk-admin-raw'])
      assert.deepEqual(summary.list.paged, both)
      assert.equal(summary.find_by_name, summary.qcow2.id)
    })

    it('downloads data that matches the upload', () => {
      for (const [label, source] of [
        ['qcow2', qcow2],
        ['raw', raw],
      ] as const) {
        const download = summary.downloads[label]
        assert.equal(download.size, source.length, label)
        assert.equal(download.md5, digest('md5', source), label)
        assert.equal(download.sha256, digest('sha256', source), label)
        assert.equal(download.sha256, download.local.sha256, label)
        // Glance sends Content-MD5 on a whole-image download, and the SDK checks the body
        // against it.
        assert.equal(download.content_md5, digest('md5', source), label)
      }
    })

    it('deletes both images', () => {
      assert.equal(summary.after_delete.find_qcow2, false)
      assert.equal(summary.after_delete.find_raw, false)
      assert.deepEqual(summary.after_delete.listed, [])
    })
  })

  describe('member workflow on the public interface', () => {
    let tenant: Tenant
    let summary: WorkflowSummary

    before(async () => {
      tenant = await createTenant(server, 'sdk-member')
      const env = {
        ...adminEnv,
        OS_USERNAME: tenant.username,
        OS_PASSWORD: tenant.password,
        OS_PROJECT_NAME: tenant.project,
        OS_INTERFACE: 'public',
      }
      // A member may not publicize images under Glance's default policy, so the raw image is
      // shared here.
      summary = await runWorkflow(env, ['sdk-member', 'shared'])
    })

    it('creates both images in its project', () => {
      assert.equal(summary.qcow2.status, 'active')
      assert.equal(summary.raw.status, 'active')
      assert.equal(summary.raw.visibility, 'shared')
      assert.equal(summary.qcow2.checksum, digest('md5', qcow2))
      assert.equal(summary.raw.checksum, digest('md5', raw))
    })

    it('filters by visibility', () => {
      assert.deepEqual(summary.list.private, ['sdk-member-qcow2'])
      assert.deepEqual(summary.list.shared, ['sdk-member-raw'])
      assert.deepEqual(summary.list.public, [])
      assert.deepEqual(summary.list.paged, ['sdk-member-qcow2', 'sdk-member-raw'])
    })

    it('downloads and deletes both images', () => {
      assert.equal(summary.downloads.qcow2.sha256, digest('sha256', qcow2))
      assert.equal(summary.downloads.raw.sha256, digest('sha256', raw))
      assert.deepEqual(summary.after_delete.listed, [])
    })
  })
})

import { join } from 'node:path'
import type { Command } from 'commander'
import type { Kysely } from 'kysely'
import { addConfigOptions, overridesFrom } from '../command-options.js'
import { loadConfig, type Config } from '../config.js'
import { hostStatus, type HostRecord } from '../cluster/host-registry.js'
import { sendPeerCall } from '../cluster/peer-auth.js'
import { findUnderReplicated, replicationRunPath } from '../cluster/replicator.js'
import { SqlImageRepository } from '../db/image-repository.js'
import { SqlHostRepository } from '../db/host-repository.js'
import { IdentityRepository } from '../db/identity-repository.js'
import { createMigrator, openDatabase } from '../db/connection.js'
import type { Database } from '../db/schema.js'
import { ServiceError } from '../domain/errors.js'
import { bootstrapIdentity, updateRcPassword } from '../identity/bootstrap.js'
import { defaultDomainId } from '../identity/model.js'
import { Directory } from '../identity/directory.js'
import { createLogger } from '../log.js'
import { openMigratedDatabase, readPeerCa } from '../server.js'

interface AdminContext {
  db: Kysely<Database>
  repo: IdentityRepository
  directory: Directory
  format: 'table' | 'json'
  dataDir: string
  config: Config
}

type Row = Record<string, unknown>

/** Prints rows as an aligned table (the default) or as JSON. */
function print(rows: Row[], format: AdminContext['format']): void {
  if (format === 'json') {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n')
    return
  }
  if (rows.length === 0) return
  const columns = Object.keys(rows[0]!)
  const widths = columns.map((c) =>
    Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)),
  )
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd()
  process.stdout.write(line(columns) + '\n')
  for (const row of rows)
    process.stdout.write(line(columns.map((c) => String(row[c] ?? ''))) + '\n')
}

/**
 * Runs an admin action against the database named by the configuration. The action works on
 * the database directly, so it needs no running service and no token.
 */
function action<A extends unknown[]>(
  command: Command,
  run: (ctx: AdminContext, ...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const options = command.optsWithGlobals() as Record<string, unknown>
    const config = loadConfig(overridesFrom(options), process.env)
    const log = createLogger({ level: 'warn', file: config.log.file, stderr: false })
    const db = await openMigratedDatabase(config, log)
    const repo = new IdentityRepository(db)
    const format = options.format === 'json' ? 'json' : 'table'
    try {
      await run(
        { db, repo, directory: new Directory(repo), format, dataDir: config.dataDir, config },
        ...args,
      )
    } catch (error) {
      if (error instanceof ServiceError) {
        process.stderr.write(`image-library admin: ${error.message}\n`)
        process.exitCode = 1
        return
      }
      throw error
    } finally {
      await db.destroy()
    }
  }
}

/** Registers `image-library admin …`: identity administration and database migrations. */
export function registerAdminCommands(admin: Command): void {
  addConfigOptions(admin).option('-f, --format <format>', 'output format: table or json', 'table')
  registerProjectCommands(admin.command('project').description('manage projects'))
  registerUserCommands(admin.command('user').description('manage users'))
  registerRoleCommands(admin.command('role').description('manage roles and role assignments'))
  registerDbCommands(admin.command('db').description('database schema migrations'))
  registerHostCommands(admin.command('host').description('image library hosts'))
  registerReplicationCommands(
    admin.command('replication').description("copies of images in hosts' own stores"),
  )

  const bootstrap = admin
    .command('bootstrap')
    .description('create the Default domain, admin project and user, and the standard roles')
  bootstrap.action(
    action(bootstrap, async (ctx) => {
      const { adminPassword } = await bootstrapIdentity(ctx.repo, ctx.directory)
      process.stdout.write(
        adminPassword === null
          ? 'Already bootstrapped; nothing changed.\n'
          : `Created user admin with password ${adminPassword}\n`,
      )
    }),
  )
}

function registerProjectCommands(project: Command): void {
  const create = project
    .command('create <name>')
    .description('create a project')
    .option('--domain <domain>', 'domain id or name', 'default')
    .option('--description <text>', 'description', '')
    .addHelpText('after', '\nExample:\n  image-library admin project create demo')
  create.action(
    action(create, async (ctx, name: string) => {
      const opts = create.opts<{ domain: string; description: string }>()
      const created = await ctx.directory.createProject({
        name,
        domainId: opts.domain,
        description: opts.description,
      })
      print([{ id: created.id, name: created.name, domain_id: created.domainId }], ctx.format)
    }),
  )

  const list = project.command('list').description('list projects')
  list.action(
    action(list, async (ctx) => {
      const projects = await ctx.repo.listProjects()
      print(
        projects.map((p) => ({ id: p.id, name: p.name, domain_id: p.domainId })),
        ctx.format,
      )
    }),
  )

  const remove = project.command('delete <project>').description('delete a project by id or name')
  remove.action(
    action(remove, async (ctx, idOrName: string) => {
      const found = await ctx.directory.requireProject(idOrName)
      await ctx.directory.deleteProject(found.id)
      process.stdout.write(`Deleted project ${found.name} (${found.id}).\n`)
    }),
  )
}

function registerUserCommands(user: Command): void {
  const create = user
    .command('create <name>')
    .description('create a user, optionally with a role on a project')
    .requiredOption('--password <password>', 'the new password')
    .option('--project <project>', 'default project (id or name); also gets --role')
    .option('--role <role>', 'role on --project', 'member')
    .option('--domain <domain>', 'domain id or name', 'default')
    .addHelpText(
      'after',
      '\nExample:\n  image-library admin user create alice --password s3cret --project demo',
    )
  create.action(
    action(create, async (ctx, name: string) => {
      const opts = create.opts<{
        password: string
        project?: string
        role: string
        domain: string
      }>()
      const project =
        opts.project === undefined ? null : await ctx.directory.requireProject(opts.project)
      const created = await ctx.directory.createUser({
        name,
        password: opts.password,
        domainId: opts.domain,
        defaultProjectId: project?.id ?? null,
      })
      if (project !== null) {
        const role = await ctx.directory.requireRole(opts.role)
        await ctx.directory.assignRole(created.id, project.id, role.id)
      }
      print(
        [{ id: created.id, name: created.name, default_project_id: project?.id ?? '' }],
        ctx.format,
      )
    }),
  )

  const list = user.command('list').description('list users')
  list.action(
    action(list, async (ctx) => {
      const users = await ctx.repo.listUsers()
      print(
        users.map((u) => ({ id: u.id, name: u.name, domain_id: u.domainId, enabled: u.enabled })),
        ctx.format,
      )
    }),
  )

  const password = user
    .command('set-password <user>')
    .description("change a user's password")
    .requiredOption('--password <password>', 'the new password')
  password.action(
    action(password, async (ctx, idOrName: string) => {
      const found = await ctx.directory.requireUser(idOrName)
      const newPassword = password.opts<{ password: string }>().password
      await ctx.directory.updateUser(found.id, { password: newPassword })
      process.stdout.write(`Changed the password of ${found.name}; its tokens are revoked.\n`)
      if (found.name === 'admin' && found.domainId === defaultDomainId) {
        const rcFile = join(ctx.dataDir, 'admin-openrc.sh')
        if (await updateRcPassword(rcFile, newPassword)) {
          process.stdout.write(`Updated OS_PASSWORD in ${rcFile}.\n`)
        }
      }
    }),
  )

  const remove = user.command('delete <user>').description('delete a user by id or name')
  remove.action(
    action(remove, async (ctx, idOrName: string) => {
      const found = await ctx.directory.requireUser(idOrName)
      await ctx.directory.deleteUser(found.id)
      process.stdout.write(`Deleted user ${found.name} (${found.id}).\n`)
    }),
  )
}

function registerRoleCommands(role: Command): void {
  const list = role.command('list').description('list roles')
  list.action(
    action(list, async (ctx) => {
      print(
        (await ctx.repo.listRoles()).map((r) => ({ id: r.id, name: r.name })),
        ctx.format,
      )
    }),
  )

  const create = role.command('create <name>').description('create a role')
  create.action(
    action(create, async (ctx, name: string) => {
      const created = await ctx.directory.createRole(name)
      print([{ id: created.id, name: created.name }], ctx.format)
    }),
  )

  for (const verb of ['add', 'remove'] as const) {
    const command = role
      .command(`${verb} <role>`)
      .description(verb === 'add' ? 'give a user a role on a project' : 'take a role away')
      .requiredOption('--project <project>', 'project id or name')
      .requiredOption('--user <user>', 'user id or name')
    command.action(
      action(command, async (ctx, roleName: string) => {
        const opts = command.opts<{ project: string; user: string }>()
        const project = await ctx.directory.requireProject(opts.project)
        const user = await ctx.directory.requireUser(opts.user)
        const found = await ctx.directory.requireRole(roleName)
        if (verb === 'add') await ctx.directory.assignRole(user.id, project.id, found.id)
        else await ctx.directory.unassignRole(user.id, project.id, found.id)
      }),
    )
  }

  const assignments = role
    .command('assignments')
    .description('list role assignments')
    .option('--project <project>', 'only this project (id or name)')
    .option('--user <user>', 'only this user (id or name)')
  assignments.action(
    action(assignments, async (ctx) => {
      const opts = assignments.opts<{ project?: string; user?: string }>()
      const project =
        opts.project === undefined ? undefined : await ctx.directory.requireProject(opts.project)
      const user = opts.user === undefined ? undefined : await ctx.directory.requireUser(opts.user)
      const rows = await ctx.repo.listAssignments({
        ...(project === undefined ? {} : { projectId: project.id }),
        ...(user === undefined ? {} : { userId: user.id }),
      })
      const names = async (r: { userId: string; projectId: string; roleId: string }) => ({
        role: (await ctx.repo.getRole(r.roleId))?.name ?? r.roleId,
        user: (await ctx.repo.getUser(r.userId))?.name ?? r.userId,
        project: (await ctx.repo.getProject(r.projectId))?.name ?? r.projectId,
      })
      print(await Promise.all(rows.map(names)), ctx.format)
    }),
  )
}

function registerHostCommands(host: Command): void {
  const list = host
    .command('list')
    .description('list the hosts sharing this database, with health and free space')
  list.action(
    action(list, async (ctx) => {
      const now = Date.now()
      const timeoutMs = ctx.config.cluster.heartbeatTimeoutSeconds * 1000
      const hosts = await new SqlHostRepository(ctx.db).list()
      print(
        hosts.map((h) => ({
          name: h.name,
          status: hostStatus(h, now, timeoutMs),
          last_heartbeat: h.lastHeartbeat.toISOString(),
          image_url: h.imageUrl,
          version: h.version,
          stores: h.stores
            .map((store) => `${store.id} ${formatBytes(store.freeBytes)} free`)
            .join(', '),
        })),
        ctx.format,
      )
    }),
  )
}

function registerReplicationCommands(replication: Command): void {
  const status = replication
    .command('status')
    .description('list images with fewer copies on healthy hosts than [cluster] replicas')
  status.action(action(status, async (ctx) => printUnderReplicated(ctx)))

  const repair = replication
    .command('repair')
    .description('make every healthy host copy the images it lacks now, then list what is left')
  repair.action(
    action(repair, async (ctx) => {
      const hostRepo = new SqlHostRepository(ctx.db)
      const secret = await hostRepo.clusterSecret()
      const ca = await readPeerCa(ctx.config)
      for (const host of await healthyHosts(ctx)) {
        const copied = await askToReplicate(host, secret, ca).catch(
          (error: unknown) => `failed: ${(error as Error).message}`,
        )
        process.stderr.write(
          `${host.name}: ${typeof copied === 'number' ? `copied ${copied}` : copied}\n`,
        )
      }
      await printUnderReplicated(ctx)
    }),
  )
}

async function healthyHosts(ctx: AdminContext): Promise<HostRecord[]> {
  const now = Date.now()
  const timeoutMs = ctx.config.cluster.heartbeatTimeoutSeconds * 1000
  const hosts = await new SqlHostRepository(ctx.db).list()
  return hosts.filter((host) => hostStatus(host, now, timeoutMs) === 'healthy')
}

async function printUnderReplicated(ctx: AdminContext): Promise<void> {
  const healthy = new Set((await healthyHosts(ctx)).map((host) => host.name))
  const found = await findUnderReplicated(
    new SqlImageRepository(ctx.db),
    healthy,
    ctx.config.cluster.replicas,
  )
  print(
    found.map((image) => ({
      image_id: image.imageId,
      copies: image.hosts.length,
      hosts: image.hosts.join(', '),
    })),
    ctx.format,
  )
  if (found.length === 0 && ctx.format === 'table') {
    // Images in a shared store are skipped, so the message must not claim copies for them.
    const replicas = ctx.config.cluster.replicas
    process.stdout.write(
      `Every image in a local store has copies on ${replicas} healthy hosts or more. ` +
        'Images in shared stores are not counted.\n',
    )
  }
}

/** Asks one host to run a replication round, with a call signed by the cluster secret. */
async function askToReplicate(
  host: HostRecord,
  secret: string,
  ca: Buffer | null,
): Promise<number> {
  const caller = { secret, name: 'admin', ca }
  const response = await sendPeerCall(caller, host, 'POST', replicationRunPath, replicationCallMs)
  const chunks: Buffer[] = []
  for await (const chunk of response) chunks.push(chunk as Buffer)
  const body = Buffer.concat(chunks).toString()
  if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode}: ${body}`)
  return (JSON.parse(body) as { copied: number }).copied
}

/** A replication round may copy many images before it responds. */
const replicationCallMs = 60 * 60 * 1000

function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`
}

function registerDbCommands(db: Command): void {
  const migrate = db.command('migrate').description('apply pending schema migrations')
  migrate.action(async () => {
    const options = migrate.optsWithGlobals() as Record<string, unknown>
    const config = loadConfig(overridesFrom(options), process.env)
    const connection = openDatabase(config.database.url)
    try {
      const result = await createMigrator(connection).migrateToLatest()
      for (const step of result.results ?? []) {
        process.stdout.write(`${step.migrationName}: ${step.status}\n`)
      }
      if (result.error !== undefined) throw result.error
      if ((result.results ?? []).length === 0) process.stdout.write('The schema is up to date.\n')
    } finally {
      await connection.destroy()
    }
  })

  const version = db.command('version').description('list migrations and whether each is applied')
  version.action(async () => {
    const options = version.optsWithGlobals() as Record<string, unknown>
    const config = loadConfig(overridesFrom(options), process.env)
    const connection = openDatabase(config.database.url)
    try {
      for (const migration of await createMigrator(connection).getMigrations()) {
        const state =
          migration.executedAt === undefined
            ? 'pending'
            : `applied ${migration.executedAt.toISOString()}`
        process.stdout.write(`${migration.name}: ${state}\n`)
      }
    } finally {
      await connection.destroy()
    }
  })
}

import type { Kysely, Selectable } from 'kysely'
import type { ImportTask, TaskRepository, TaskStatus } from '../domain/ports.js'
import type { Database, TasksTable } from './schema.js'

export class SqlTaskRepository implements TaskRepository {
  readonly #db: Kysely<Database>
  readonly #hostName: string

  /** `hostName` is recorded on the tasks that this process runs. */
  constructor(db: Kysely<Database>, hostName = 'localhost') {
    this.#db = db
    this.#hostName = hostName
  }

  async create(task: ImportTask): Promise<void> {
    await this.#db
      .insertInto('tasks')
      .values({
        id: task.id,
        type: 'api_image_import',
        status: task.status,
        image_id: task.imageId,
        owner: task.owner,
        user_id: task.userId,
        request_id: task.requestId,
        input: JSON.stringify(task.input),
        result: task.result === null ? null : JSON.stringify(task.result),
        message: task.message,
        created_at: task.createdAt.toISOString(),
        updated_at: task.updatedAt.toISOString(),
        host: this.#hostName,
      })
      .execute()
  }

  async finish(
    id: string,
    status: TaskStatus,
    message: string,
    result: Record<string, unknown> | null,
  ): Promise<void> {
    await this.#db
      .updateTable('tasks')
      .set({
        status,
        message,
        result: result === null ? null : JSON.stringify(result),
        updated_at: new Date().toISOString(),
      })
      .where('id', '=', id)
      .execute()
  }

  async listForImage(imageId: string): Promise<ImportTask[]> {
    const rows = await this.#db
      .selectFrom('tasks')
      .selectAll()
      .where('image_id', '=', imageId)
      .orderBy('created_at')
      .orderBy('id')
      .execute()
    return rows.map(rowToTask)
  }

  async listUnfinished(host: string = this.#hostName): Promise<ImportTask[]> {
    const rows = await this.#db
      .selectFrom('tasks')
      .selectAll()
      .where('status', 'in', ['pending', 'processing'])
      .where((eb) =>
        host === this.#hostName
          ? eb.or([eb('host', '=', host), eb('host', 'is', null)])
          : eb('host', '=', host),
      )
      .orderBy('created_at')
      .orderBy('id')
      .execute()
    return rows.map(rowToTask)
  }

  async adopt(id: string, fromHost: string): Promise<boolean> {
    const result = await this.#db
      .updateTable('tasks')
      .set({ host: this.#hostName, updated_at: new Date().toISOString() })
      .where('id', '=', id)
      .where('host', '=', fromHost)
      .where('status', 'in', ['pending', 'processing'])
      .executeTakeFirst()
    return result.numUpdatedRows > 0n
  }

  async get(id: string): Promise<ImportTask | null> {
    const row = await this.#db
      .selectFrom('tasks')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst()
    return row === undefined ? null : rowToTask(row)
  }

  async list(owner: string | null, limit: number): Promise<ImportTask[]> {
    let select = this.#db.selectFrom('tasks').selectAll()
    if (owner !== null) select = select.where('owner', '=', owner)
    const rows = await select
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute()
    return rows.map(rowToTask)
  }
}

function rowToTask(row: Selectable<TasksTable>): ImportTask {
  return {
    id: row.id,
    imageId: row.image_id,
    owner: row.owner,
    userId: row.user_id,
    requestId: row.request_id,
    status: row.status as TaskStatus,
    input: JSON.parse(row.input) as Record<string, unknown>,
    result: row.result === null ? null : (JSON.parse(row.result) as Record<string, unknown>),
    message: row.message,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  }
}

import type { Kysely, Selectable } from 'kysely'
import { ConflictError } from '../domain/errors.js'
import type {
  MetadefItem,
  MetadefItemKind,
  MetadefRepository,
  Namespace,
  NamespaceVisibility,
  ResourceType,
} from '../domain/metadef-service.js'
import { isUniqueViolation } from './image-repository.js'
import type { Database } from './schema.js'

/** The tables of migration 0002-metadefs. */
export type MetadefTables = {
  metadef_namespaces: {
    namespace: string
    display_name: string | null
    description: string | null
    visibility: string
    protected: number
    owner: string
    created_at: string
    updated_at: string
  }
  metadef_resource_types: {
    name: string
    protected: number
    created_at: string
    updated_at: string
  }
  metadef_items: {
    namespace: string
    kind: string
    name: string
    /** The item's own fields as a JSON object. */
    document: string
    created_at: string
    updated_at: string
  }
}

type NamespaceRow = Selectable<MetadefTables['metadef_namespaces']>
type ItemRow = Selectable<MetadefTables['metadef_items']>

/** Metadata definitions in the SQL database. */
export class SqlMetadefRepository implements MetadefRepository {
  readonly #db: Kysely<Database & MetadefTables>

  constructor(db: Kysely<Database>) {
    this.#db = db.withTables<MetadefTables>()
  }

  async listNamespaces(): Promise<Namespace[]> {
    const rows = await this.#db
      .selectFrom('metadef_namespaces')
      .selectAll()
      .orderBy('namespace')
      .execute()
    return rows.map(rowToNamespace)
  }

  async findNamespace(name: string): Promise<Namespace | null> {
    const row = await this.#db
      .selectFrom('metadef_namespaces')
      .selectAll()
      .where('namespace', '=', name)
      .executeTakeFirst()
    return row === undefined ? null : rowToNamespace(row)
  }

  async insertNamespace(namespace: Namespace): Promise<void> {
    await this.#uniquely(`namespace ${namespace.namespace}`, () =>
      this.#db.insertInto('metadef_namespaces').values(namespaceToRow(namespace)).execute(),
    )
  }

  async updateNamespace(name: string, namespace: Namespace): Promise<void> {
    await this.#uniquely(`namespace ${namespace.namespace}`, () =>
      this.#db
        .updateTable('metadef_namespaces')
        .set(namespaceToRow(namespace))
        .where('namespace', '=', name)
        .execute(),
    )
  }

  async deleteNamespace(name: string): Promise<void> {
    await this.#db.deleteFrom('metadef_namespaces').where('namespace', '=', name).execute()
  }

  async listResourceTypes(): Promise<ResourceType[]> {
    const rows = await this.#db
      .selectFrom('metadef_resource_types')
      .selectAll()
      .orderBy('name')
      .execute()
    return rows.map(rowToResourceType)
  }

  async findResourceType(name: string): Promise<ResourceType | null> {
    const row = await this.#db
      .selectFrom('metadef_resource_types')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst()
    return row === undefined ? null : rowToResourceType(row)
  }

  async listItems(namespace: string, kind: MetadefItemKind): Promise<MetadefItem[]> {
    const rows = await this.#db
      .selectFrom('metadef_items')
      .selectAll()
      .where('namespace', '=', namespace)
      .where('kind', '=', kind)
      .orderBy('name')
      .execute()
    return rows.map(rowToItem)
  }

  async findItem(
    namespace: string,
    kind: MetadefItemKind,
    name: string,
  ): Promise<MetadefItem | null> {
    const row = await this.#db
      .selectFrom('metadef_items')
      .selectAll()
      .where('namespace', '=', namespace)
      .where('kind', '=', kind)
      .where('name', '=', name)
      .executeTakeFirst()
    return row === undefined ? null : rowToItem(row)
  }

  async insertItems(
    namespace: string,
    kind: MetadefItemKind,
    items: MetadefItem[],
    replace: boolean,
  ): Promise<void> {
    const names = items.map((item) => item.name).join(', ')
    await this.#uniquely(`${kind} ${names}`, () =>
      this.#db.transaction().execute(async (trx) => {
        if (replace) {
          await trx
            .deleteFrom('metadef_items')
            .where('namespace', '=', namespace)
            .where('kind', '=', kind)
            .execute()
        }
        if (items.length === 0) return
        const rows = items.map((item) => itemToRow(namespace, kind, item))
        await trx.insertInto('metadef_items').values(rows).execute()
      }),
    )
  }

  async updateItem(
    namespace: string,
    kind: MetadefItemKind,
    name: string,
    item: MetadefItem,
  ): Promise<void> {
    await this.#uniquely(`${kind} ${item.name}`, () =>
      this.#db
        .updateTable('metadef_items')
        .set(itemToRow(namespace, kind, item))
        .where('namespace', '=', namespace)
        .where('kind', '=', kind)
        .where('name', '=', name)
        .execute(),
    )
  }

  async deleteItems(namespace: string, kind: MetadefItemKind, name: string | null): Promise<void> {
    let query = this.#db
      .deleteFrom('metadef_items')
      .where('namespace', '=', namespace)
      .where('kind', '=', kind)
    if (name !== null) query = query.where('name', '=', name)
    await query.execute()
  }

  /** Runs a write, turning a unique-key violation into a ConflictError naming `what`. */
  async #uniquely(what: string, write: () => Promise<unknown>): Promise<void> {
    try {
      await write()
    } catch (error) {
      if (isUniqueViolation(error)) throw new ConflictError(`The ${what} already exists.`)
      throw error
    }
  }
}

function rowToNamespace(row: NamespaceRow): Namespace {
  return {
    namespace: row.namespace,
    displayName: row.display_name,
    description: row.description,
    visibility: row.visibility as NamespaceVisibility,
    protected: row.protected !== 0,
    owner: row.owner,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  }
}

function namespaceToRow(namespace: Namespace): NamespaceRow {
  return {
    namespace: namespace.namespace,
    display_name: namespace.displayName,
    description: namespace.description,
    visibility: namespace.visibility,
    protected: namespace.protected ? 1 : 0,
    owner: namespace.owner,
    created_at: namespace.createdAt.toISOString(),
    updated_at: namespace.updatedAt.toISOString(),
  }
}

function rowToResourceType(row: Selectable<MetadefTables['metadef_resource_types']>): ResourceType {
  return {
    name: row.name,
    protected: row.protected !== 0,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  }
}

function rowToItem(row: ItemRow): MetadefItem {
  return {
    name: row.name,
    document: JSON.parse(row.document) as Record<string, unknown>,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  }
}

function itemToRow(namespace: string, kind: MetadefItemKind, item: MetadefItem): ItemRow {
  return {
    namespace,
    kind,
    name: item.name,
    document: JSON.stringify(item.document),
    created_at: item.createdAt.toISOString(),
    updated_at: item.updatedAt.toISOString(),
  }
}

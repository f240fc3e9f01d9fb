import type { Kysely } from 'kysely'

/** Resource types every deployment starts with, as in Glance's bundled metadefs. */
const builtInResourceTypes = [
  'OS::Glance::Image',
  'OS::Cinder::Volume',
  'OS::Nova::Flavor',
  'OS::Nova::Aggregate',
  'OS::Nova::Server',
]

// Migrations take Kysely<any> because they describe tables that the typed schema may no longer
// match in later versions.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('metadef_namespaces')
    .addColumn('namespace', 'varchar(80)', (c) => c.primaryKey())
    .addColumn('display_name', 'varchar(80)')
    .addColumn('description', 'text')
    .addColumn('visibility', 'varchar(32)', (c) => c.notNull())
    .addColumn('protected', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('owner', 'varchar(255)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(30)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(30)', (c) => c.notNull())
    .execute()

  await db.schema
    .createTable('metadef_resource_types')
    .addColumn('name', 'varchar(80)', (c) => c.primaryKey())
    .addColumn('protected', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'varchar(30)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(30)', (c) => c.notNull())
    .execute()
  const now = new Date().toISOString()
  await db
    .insertInto('metadef_resource_types')
    .values(
      builtInResourceTypes.map((name) => ({
        name,
        protected: 1,
        created_at: now,
        updated_at: now,
      })),
    )
    .execute()

  await createItemsTable(db)
}

/**
 * Objects, properties, tags and resource type associations of a namespace share one table:
 * `kind` tells them apart and `document` holds each kind's free-form JSON fields.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function createItemsTable(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('metadef_items')
    .addColumn('namespace', 'varchar(80)', (c) =>
      c
        .notNull()
        .references('metadef_namespaces.namespace')
        .onDelete('cascade')
        .onUpdate('cascade'),
    )
    .addColumn('kind', 'varchar(20)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('document', 'text', (c) => c.notNull())
    .addColumn('created_at', 'varchar(30)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(30)', (c) => c.notNull())
    .addPrimaryKeyConstraint('metadef_items_pk', ['namespace', 'kind', 'name'])
    .execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('metadef_items').execute()
  await db.schema.dropTable('metadef_resource_types').execute()
  await db.schema.dropTable('metadef_namespaces').execute()
}

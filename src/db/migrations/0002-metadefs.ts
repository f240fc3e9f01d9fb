import type { Kysely } from 'kysely'
import { textType } from './text-type.js'

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
  const text = textType(db)
  await db.schema
    .createTable('metadef_namespaces')
    .addColumn('namespace', text('varchar(80)'), (c) => c.primaryKey())
    .addColumn('display_name', text('varchar(80)'))
    .addColumn('description', text('text'))
    .addColumn('visibility', text('varchar(32)'), (c) => c.notNull())
    .addColumn('protected', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('owner', text('varchar(255)'), (c) => c.notNull())
    .addColumn('created_at', text('varchar(30)'), (c) => c.notNull())
    .addColumn('updated_at', text('varchar(30)'), (c) => c.notNull())
    .execute()

  await db.schema
    .createTable('metadef_resource_types')
    .addColumn('name', text('varchar(80)'), (c) => c.primaryKey())
    .addColumn('protected', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', text('varchar(30)'), (c) => c.notNull())
    .addColumn('updated_at', text('varchar(30)'), (c) => c.notNull())
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
  const text = textType(db)
  await db.schema
    .createTable('metadef_items')
    .addColumn('namespace', text('varchar(80)'), (c) =>
      c
        .notNull()
        .references('metadef_namespaces.namespace')
        .onDelete('cascade')
        .onUpdate('cascade'),
    )
    .addColumn('kind', text('varchar(20)'), (c) => c.notNull())
    .addColumn('name', text('varchar(255)'), (c) => c.notNull())
    .addColumn('document', text('text'), (c) => c.notNull())
    .addColumn('created_at', text('varchar(30)'), (c) => c.notNull())
    .addColumn('updated_at', text('varchar(30)'), (c) => c.notNull())
    .addPrimaryKeyConstraint('metadef_items_pk', ['namespace', 'kind', 'name'])
    .execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('metadef_items').execute()
  await db.schema.dropTable('metadef_resource_types').execute()
  await db.schema.dropTable('metadef_namespaces').execute()
}

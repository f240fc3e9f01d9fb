import type { Kysely } from 'kysely'
import { textType } from './text-type.js'

/**
 * The image cache agents of the hypervisors: each agent's last report, the images in its cache,
 * the images queued for it to fetch, and the images it last failed to fetch. Deleting an agent
 * deletes its rows in the other three tables.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see 0001-initial.ts
export async function up(db: Kysely<any>): Promise<void> {
  const text = textType(db)
  await db.schema
    .createTable('cache_agents')
    .addColumn('name', text('varchar(255)'), (c) => c.primaryKey())
    .addColumn('version', text('varchar(64)'), (c) => c.notNull())
    .addColumn('report_interval', 'integer', (c) => c.notNull())
    .addColumn('reported_at', text('varchar(30)'), (c) => c.notNull())
    .addColumn('max_bytes', 'bigint', (c) => c.notNull())
    .addColumn('used_bytes', 'bigint', (c) => c.notNull())
    .addColumn('free_disk_bytes', 'bigint', (c) => c.notNull())
    .addColumn('hits', 'bigint', (c) => c.notNull())
    .addColumn('misses', 'bigint', (c) => c.notNull())
    .addColumn('bytes_fetched', 'bigint', (c) => c.notNull())
    .addColumn('evictions', 'bigint', (c) => c.notNull())
    .addColumn('failures_reported_at', text('varchar(30)'))
    .execute()

  await db.schema
    .createTable('cache_agent_images')
    .addColumn('agent_name', text('varchar(255)'), (c) =>
      c.notNull().references('cache_agents.name').onDelete('cascade'),
    )
    .addColumn('image_id', text('varchar(36)'), (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('hits', 'bigint', (c) => c.notNull())
    .addColumn('last_used', text('varchar(30)'))
    .addColumn('pinned', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('cache_agent_images_pk', ['agent_name', 'image_id'])
    .execute()

  await db.schema
    .createTable('cache_agent_queue')
    .addColumn('agent_name', text('varchar(255)'), (c) =>
      c.notNull().references('cache_agents.name').onDelete('cascade'),
    )
    .addColumn('image_id', text('varchar(36)'), (c) => c.notNull().references('images.id'))
    .addColumn('queued_at', text('varchar(30)'), (c) => c.notNull())
    .addPrimaryKeyConstraint('cache_agent_queue_pk', ['agent_name', 'image_id'])
    .execute()
  await db.schema
    .createIndex('cache_agent_queue_image')
    .on('cache_agent_queue')
    .column('image_id')
    .execute()

  await db.schema
    .createTable('cache_agent_failures')
    .addColumn('agent_name', text('varchar(255)'), (c) =>
      c.notNull().references('cache_agents.name').onDelete('cascade'),
    )
    .addColumn('image_id', text('varchar(36)'), (c) => c.notNull())
    .addColumn('reason', text('text'), (c) => c.notNull())
    .addPrimaryKeyConstraint('cache_agent_failures_pk', ['agent_name', 'image_id'])
    .execute()
}

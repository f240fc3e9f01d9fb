import type { Kysely } from 'kysely'
import { textType } from './text-type.js'

// Migrations take Kysely<any> because they describe tables that the typed schema may no longer
// match in later versions.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  const text = textType(db)
  await db.schema
    .createTable('images')
    .addColumn('id', text('varchar(36)'), (c) => c.primaryKey())
    .addColumn('name', text('varchar(255)'))
    .addColumn('status', text('varchar(30)'), (c) => c.notNull())
    .addColumn('visibility', text('varchar(20)'), (c) => c.notNull())
    .addColumn('protected', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('os_hidden', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('checksum', text('varchar(32)'))
    .addColumn('os_hash_algo', text('varchar(64)'))
    .addColumn('os_hash_value', text('varchar(128)'))
    .addColumn('size', 'bigint')
    .addColumn('virtual_size', 'bigint')
    .addColumn('disk_format', text('varchar(20)'))
    .addColumn('container_format', text('varchar(20)'))
    .addColumn('min_disk', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('min_ram', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('owner', text('varchar(255)'))
    .addColumn('created_at', text('varchar(30)'), (c) => c.notNull())
    .addColumn('updated_at', text('varchar(30)'), (c) => c.notNull())
    .addColumn('deleted_at', text('varchar(30)'))
    .addColumn('location_store', text('varchar(64)'))
    .addColumn('location_key', text('varchar(255)'))
    .execute()
  await db.schema
    .createIndex('images_live_created')
    .on('images')
    .columns(['deleted_at', 'created_at', 'id'])
    .execute()
  await db.schema.createIndex('images_owner').on('images').column('owner').execute()
  await db.schema.createIndex('images_status').on('images').column('status').execute()

  await db.schema
    .createTable('image_properties')
    .addColumn('image_id', text('varchar(36)'), (c) => c.notNull().references('images.id'))
    .addColumn('name', text('varchar(255)'), (c) => c.notNull())
    .addColumn('value', text('text'), (c) => c.notNull())
    .addPrimaryKeyConstraint('image_properties_pk', ['image_id', 'name'])
    .execute()
  await db.schema
    .createIndex('image_properties_name_value')
    .on('image_properties')
    .columns(['name', 'image_id'])
    .execute()

  await db.schema
    .createTable('image_tags')
    .addColumn('image_id', text('varchar(36)'), (c) => c.notNull().references('images.id'))
    .addColumn('value', text('varchar(255)'), (c) => c.notNull())
    .addPrimaryKeyConstraint('image_tags_pk', ['image_id', 'value'])
    .execute()
  await db.schema.createIndex('image_tags_value').on('image_tags').column('value').execute()

  await db.schema
    .createTable('image_members')
    .addColumn('image_id', text('varchar(36)'), (c) => c.notNull().references('images.id'))
    .addColumn('member_id', text('varchar(255)'), (c) => c.notNull())
    .addColumn('status', text('varchar(20)'), (c) => c.notNull())
    .addColumn('created_at', text('varchar(30)'), (c) => c.notNull())
    .addColumn('updated_at', text('varchar(30)'), (c) => c.notNull())
    .addPrimaryKeyConstraint('image_members_pk', ['image_id', 'member_id'])
    .execute()
  await db.schema
    .createIndex('image_members_member')
    .on('image_members')
    .columns(['member_id', 'status'])
    .execute()

  await createIdentityTables(db)
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function createIdentityTables(db: Kysely<any>): Promise<void> {
  const text = textType(db)
  await db.schema
    .createTable('domains')
    .addColumn('id', text('varchar(64)'), (c) => c.primaryKey())
    .addColumn('name', text('varchar(255)'), (c) => c.notNull().unique())
    .addColumn('description', text('text'), (c) => c.notNull().defaultTo(''))
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .execute()

  await db.schema
    .createTable('projects')
    .addColumn('id', text('varchar(64)'), (c) => c.primaryKey())
    .addColumn('name', text('varchar(255)'), (c) => c.notNull())
    .addColumn('domain_id', text('varchar(64)'), (c) => c.notNull().references('domains.id'))
    .addColumn('description', text('text'), (c) => c.notNull().defaultTo(''))
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addUniqueConstraint('projects_domain_name', ['domain_id', 'name'])
    .execute()

  await db.schema
    .createTable('users')
    .addColumn('id', text('varchar(64)'), (c) => c.primaryKey())
    .addColumn('name', text('varchar(255)'), (c) => c.notNull())
    .addColumn('domain_id', text('varchar(64)'), (c) => c.notNull().references('domains.id'))
    .addColumn('password_hash', text('text'))
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('default_project_id', text('varchar(64)'))
    .addColumn('email', text('varchar(255)'))
    .addColumn('created_at', text('varchar(30)'), (c) => c.notNull())
    .addUniqueConstraint('users_domain_name', ['domain_id', 'name'])
    .execute()

  await db.schema
    .createTable('roles')
    .addColumn('id', text('varchar(64)'), (c) => c.primaryKey())
    .addColumn('name', text('varchar(255)'), (c) => c.notNull().unique())
    .execute()

  await db.schema
    .createTable('role_assignments')
    .addColumn('user_id', text('varchar(64)'), (c) => c.notNull().references('users.id'))
    .addColumn('project_id', text('varchar(64)'), (c) => c.notNull().references('projects.id'))
    .addColumn('role_id', text('varchar(64)'), (c) => c.notNull().references('roles.id'))
    .addPrimaryKeyConstraint('role_assignments_pk', ['user_id', 'project_id', 'role_id'])
    .execute()

  await db.schema
    .createTable('tokens')
    .addColumn('token_hash', text('varchar(64)'), (c) => c.primaryKey())
    .addColumn('user_id', text('varchar(64)'), (c) => c.notNull())
    .addColumn('project_id', text('varchar(64)'), (c) => c.notNull())
    .addColumn('audit_id', text('varchar(64)'), (c) => c.notNull())
    .addColumn('issued_at', text('varchar(30)'), (c) => c.notNull())
    .addColumn('expires_at', text('varchar(30)'), (c) => c.notNull())
    .addColumn('revoked', 'integer', (c) => c.notNull().defaultTo(0))
    .execute()
  await db.schema.createIndex('tokens_expires').on('tokens').column('expires_at').execute()
}

import {
  sql,
  type Expression,
  type ExpressionBuilder,
  type Kysely,
  type Selectable,
  type SqlBool,
} from 'kysely'
import { ConflictError, NotFoundError } from '../domain/errors.js'
import type {
  ContainerFormat,
  DiskFormat,
  Image,
  ImageLocation,
  ImageMember,
  ImageStatus,
  MemberStatus,
  Visibility,
} from '../domain/image.js'
import type {
  ImageDataInfo,
  ImageHashes,
  ImageRepository,
  ListQuery,
  MatchColumn,
  ProjectUsage,
  TimeOperator,
  SortKey,
  SortSpec,
} from '../domain/ports.js'
import { isPostgres } from './dialect.js'
import type { Database, ImagesTable } from './schema.js'

type ImageRow = Selectable<ImagesTable>
type Where = ExpressionBuilder<Database, 'images'>

/**
 * Sort keys whose column may be NULL. Listings put NULL before every value in ascending order
 * and after every value in descending order, as SQLite and Glance on MySQL do by default.
 * PostgreSQL's default is the opposite, so the ORDER BY states NULLS FIRST or NULLS LAST.
 */
const nullableKeys: ReadonlySet<SortKey> = new Set([
  'name',
  'size',
  'virtual_size',
  'disk_format',
  'container_format',
  'owner',
])

function sortValue(image: Image, key: SortKey): string | number | null {
  switch (key) {
    case 'created_at':
      return image.createdAt.toISOString()
    case 'updated_at':
      return image.updatedAt.toISOString()
    case 'name':
      return image.name
    case 'status':
      return image.status
    case 'size':
      return image.size
    case 'virtual_size':
      return image.virtualSize
    case 'disk_format':
      return image.diskFormat
    case 'container_format':
      return image.containerFormat
    case 'id':
      return image.id
    case 'owner':
      return image.owner
    case 'visibility':
      return image.visibility
    case 'min_disk':
      return image.minDisk
    case 'min_ram':
      return image.minRam
  }
}

/** Appends `created_at` and `id` so that every order is total and paging never repeats. */
export function totalOrder(sort: SortSpec[]): SortSpec[] {
  const result = [...sort]
  const lastDirection = sort.at(-1)?.direction ?? 'desc'
  for (const key of ['created_at', 'id'] as const) {
    if (!result.some((spec) => spec.key === key)) result.push({ key, direction: lastDirection })
  }
  return result
}

export class SqlImageRepository implements ImageRepository {
  readonly #db: Kysely<Database>
  readonly #hostName: string
  readonly #postgres: boolean

  /** `hostName` is recorded on the uploads and imports that this process runs. */
  constructor(db: Kysely<Database>, hostName = 'localhost') {
    this.#db = db
    this.#hostName = hostName
    this.#postgres = isPostgres(db)
  }

  async create(image: Image): Promise<void> {
    try {
      await this.#db.transaction().execute(async (trx) => {
        await trx.insertInto('images').values(imageToRow(image)).execute()
        await writeTagsAndProperties(trx, image)
      })
    } catch (error) {
      if (isUniqueViolation(error)) {
        throw new ConflictError(`An image with id ${image.id} already exists or existed before.`)
      }
      throw error
    }
  }

  async get(id: string): Promise<Image | null> {
    return this.#readSnapshot((trx) => this.#get(trx, id))
  }

  async #get(db: Kysely<Database>, id: string): Promise<Image | null> {
    const row = await db
      .selectFrom('images')
      .selectAll()
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst()
    if (row === undefined) return null
    const [image] = await this.#hydrate([row], db)
    return image ?? null
  }

  async list(query: ListQuery): Promise<Image[]> {
    return this.#readSnapshot((trx) => this.#list(trx, query))
  }

  async #list(db: Kysely<Database>, query: ListQuery): Promise<Image[]> {
    const order = totalOrder(query.sort)
    let select = db
      .selectFrom('images')
      .selectAll()
      .where('deleted_at', 'is', null)
      .where((eb) => scopeCondition(eb, query))
      .where((eb) => filterCondition(eb, query))
    if (query.marker !== null) {
      const marker = query.marker
      select = select.where((eb) => markerCondition(eb, order, marker))
    }
    for (const spec of order) {
      select = select.orderBy(`images.${spec.key}`, (item) => {
        if (!nullableKeys.has(spec.key)) return spec.direction === 'asc' ? item.asc() : item.desc()
        return spec.direction === 'asc' ? item.asc().nullsFirst() : item.desc().nullsLast()
      })
    }
    const rows = await select.limit(query.limit).execute()
    return this.#hydrate(rows, db)
  }

  async update(image: Image): Promise<Image | null> {
    const updatedAt = new Date()
    const changed = await this.#db.transaction().execute(async (trx) => {
      // The UPDATE locks the image's row first, so that another writer of its tags and
      // properties waits for this transaction instead of interleaving with it.
      const result = await trx
        .updateTable('images')
        .set({ ...mutableColumns(image), updated_at: updatedAt.toISOString() })
        .where('id', '=', image.id)
        .where('deleted_at', 'is', null)
        .executeTakeFirst()
      if (result.numUpdatedRows === 0n) return false

      await trx.deleteFrom('image_tags').where('image_id', '=', image.id).execute()
      await trx
        .deleteFrom('image_properties')
        .where('image_id', '=', image.id)
        .where((eb) => eb.not(hasReservedName(eb)))
        .execute()
      await writeTagsAndProperties(trx, {
        ...image,
        properties: Object.fromEntries(
          Object.entries(image.properties).filter(([name]) => !name.startsWith(reservedPrefix)),
        ),
      })
      return true
    })
    return changed ? this.get(image.id) : null
  }

  async addLocation(id: string, location: ImageLocation): Promise<Image | null> {
    return this.#changeLocations(id, (locations) =>
      locations.some(
        (existing) => existing.store === location.store && existing.host === location.host,
      )
        ? locations
        : [...locations, location],
    )
  }

  async setLocations(
    id: string,
    locations: ImageLocation[],
    activation: (ImageHashes & { size: number }) | null,
    hashes: ImageHashes | null,
  ): Promise<Image | null> {
    let update = this.#db
      .updateTable('images')
      .set({ locations: JSON.stringify(locations), updated_at: new Date().toISOString() })
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
    if (activation !== null) {
      update = update
        .set({
          status: 'active',
          size: activation.size,
          checksum: activation.checksum,
          os_hash_algo: activation.osHashAlgo,
          os_hash_value: activation.osHashValue,
        })
        .where('status', '=', 'queued')
    } else if (hashes !== null) {
      update = update
        .set({
          checksum: hashes.checksum,
          os_hash_algo: hashes.osHashAlgo,
          os_hash_value: hashes.osHashValue,
        })
        .where('checksum', 'is', null)
        .where('os_hash_value', 'is', null)
    }
    const result = await update.executeTakeFirst()
    return result.numUpdatedRows === 0n ? null : this.get(id)
  }

  async removeLocation(id: string, store: string, host?: string): Promise<Image | null> {
    return this.#changeLocations(id, (locations) =>
      locations.filter(
        (location) => location.store !== store || (host !== undefined && location.host !== host),
      ),
    )
  }

  async #changeLocations(
    id: string,
    change: (locations: ImageLocation[]) => ImageLocation[],
  ): Promise<Image | null> {
    const changed = await this.#db.transaction().execute(async (trx) => {
      const row = await this.#lockImage(trx, id)
      if (row === undefined) return false
      const locations = change(JSON.parse(row.locations) as ImageLocation[])
      await trx
        .updateTable('images')
        .set({ locations: JSON.stringify(locations), updated_at: new Date().toISOString() })
        .where('id', '=', id)
        .execute()
      return true
    })
    return changed ? this.get(id) : null
  }

  async setProperties(id: string, changes: Record<string, string | null>): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      if ((await this.#lockImage(trx, id)) === undefined) return
      for (const [name, value] of Object.entries(changes)) {
        await trx
          .deleteFrom('image_properties')
          .where('image_id', '=', id)
          .where('name', '=', name)
          .execute()
        if (value !== null) {
          await trx.insertInto('image_properties').values({ image_id: id, name, value }).execute()
        }
      }
    })
  }

  async lockImport(id: string, taskId: string): Promise<boolean> {
    try {
      await this.#db
        .insertInto('image_properties')
        .values({ image_id: id, name: importLockProperty, value: taskId })
        .execute()
      return true
    } catch (error) {
      if (isUniqueViolation(error)) return false
      throw error
    }
  }

  async unlockImport(id: string, taskId: string): Promise<void> {
    await this.#db
      .deleteFrom('image_properties')
      .where('image_id', '=', id)
      .where('name', '=', importLockProperty)
      .where('value', '=', taskId)
      .execute()
  }

  async transition(
    id: string,
    from: readonly ImageStatus[],
    to: ImageStatus,
  ): Promise<Image | null> {
    const result = await this.#db
      .updateTable('images')
      .set({
        status: to,
        updated_at: new Date().toISOString(),
        data_host: dataStatuses.includes(to) ? this.#hostName : null,
      })
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .where('status', 'in', [...from])
      .executeTakeFirst()
    return result.numUpdatedRows === 0n ? null : this.get(id)
  }

  async activate(id: string, data: ImageDataInfo): Promise<Image | null> {
    const result = await this.#db
      .updateTable('images')
      .set({
        status: 'active',
        size: data.size,
        checksum: data.checksum,
        os_hash_algo: data.osHashAlgo,
        os_hash_value: data.osHashValue,
        virtual_size: data.virtualSize,
        locations: JSON.stringify(data.locations),
        data_host: null,
        updated_at: new Date().toISOString(),
      })
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .where('status', 'in', ['saving', 'importing'])
      .executeTakeFirst()
    return result.numUpdatedRows === 0n ? null : this.get(id)
  }

  async resetUpload(
    id: string,
    from: readonly ImageStatus[] = ['saving', 'uploading', 'importing'],
  ): Promise<void> {
    await this.#db
      .updateTable('images')
      .set({
        status: 'queued',
        size: null,
        checksum: null,
        os_hash_algo: null,
        os_hash_value: null,
        virtual_size: null,
        locations: '[]',
        data_host: null,
        updated_at: new Date().toISOString(),
      })
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .where('status', 'in', [...from])
      .execute()
  }

  async delete(id: string): Promise<Image | null> {
    return this.#db.transaction().execute(async (trx) => {
      const row = await this.#lockImage(trx, id)
      if (row === undefined) return null
      const [image] = await this.#hydrate([row], trx)

      const now = new Date().toISOString()
      const result = await trx
        .updateTable('images')
        .set({ status: 'deleted', deleted_at: now, updated_at: now })
        .where('id', '=', id)
        .where('deleted_at', 'is', null)
        .executeTakeFirst()
      if (result.numUpdatedRows === 0n) return null

      await trx.deleteFrom('image_tags').where('image_id', '=', id).execute()
      await trx.deleteFrom('image_properties').where('image_id', '=', id).execute()
      await trx.deleteFrom('image_members').where('image_id', '=', id).execute()
      return image ?? null
    })
  }

  async listActive(afterId: string | null, limit: number): Promise<Image[]> {
    return this.#readSnapshot(async (trx) => {
      let select = trx
        .selectFrom('images')
        .selectAll()
        .where('deleted_at', 'is', null)
        .where('status', '=', 'active')
      if (afterId !== null) select = select.where('id', '>', afterId)
      return this.#hydrate(await select.orderBy('id').limit(limit).execute(), trx)
    })
  }

  async listInterruptedUploads(
    statuses: ImageStatus[] = ['saving'],
    host: string = this.#hostName,
  ): Promise<Image[]> {
    const rows = await this.#db
      .selectFrom('images')
      .selectAll()
      .where('deleted_at', 'is', null)
      .where('status', 'in', statuses)
      .where((eb) =>
        host === this.#hostName
          ? eb.or([eb('data_host', '=', host), eb('data_host', 'is', null)])
          : eb('data_host', '=', host),
      )
      .execute()
    return this.#hydrate(rows)
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.#db)
  }

  async usage(projectId: string): Promise<ProjectUsage> {
    const row = await this.#db
      .selectFrom('images')
      .select((eb) => [
        eb.fn
          // The size of an uploading or importing image is its staged data, not stored data.
          .sum<number>(
            eb
              .case()
              .when('status', 'in', ['uploading', 'importing'])
              .then(0)
              .else(eb.ref('size'))
              .end(),
          )
          .as('size_total'),
        eb.fn
          .sum<number>(
            eb
              .case()
              .when('status', 'in', ['uploading', 'importing'])
              .then(eb.ref('size'))
              .else(0)
              .end(),
          )
          .as('stage_total'),
        eb.fn.countAll<number>().as('count_total'),
        eb.fn
          .sum<number>(
            eb
              .case()
              .when('status', 'in', ['saving', 'uploading', 'importing'])
              .then(1)
              .else(0)
              .end(),
          )
          .as('count_uploading'),
      ])
      .where('owner', '=', projectId)
      .where('deleted_at', 'is', null)
      .executeTakeFirstOrThrow()
    return {
      sizeTotal: Number(row.size_total ?? 0),
      countTotal: Number(row.count_total),
      countUploading: Number(row.count_uploading ?? 0),
      stageTotal: Number(row.stage_total ?? 0),
    }
  }

  async setStagedSize(id: string, size: number): Promise<void> {
    await this.#db
      .updateTable('images')
      .set({ size, updated_at: new Date().toISOString() })
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .where('status', '=', 'uploading')
      .execute()
  }

  async addMember(member: ImageMember): Promise<void> {
    try {
      await this.#db.transaction().execute(async (trx) => {
        // Locking the image keeps a concurrent delete from leaving this member behind.
        if ((await this.#lockImage(trx, member.imageId)) === undefined) {
          throw new NotFoundError(`No image found with ID ${member.imageId}`, 'IMAGE_NOT_FOUND')
        }
        await trx.insertInto('image_members').values(memberToRow(member)).execute()
      })
    } catch (error) {
      if (isUniqueViolation(error)) {
        throw new ConflictError(
          `Project ${member.memberId} is already a member of image ${member.imageId}.`,
        )
      }
      throw error
    }
  }

  async getMember(imageId: string, memberId: string): Promise<ImageMember | null> {
    const row = await this.#db
      .selectFrom('image_members')
      .selectAll()
      .where('image_id', '=', imageId)
      .where('member_id', '=', memberId)
      .executeTakeFirst()
    return row === undefined ? null : rowToMember(row)
  }

  async listMembers(imageId: string): Promise<ImageMember[]> {
    const rows = await this.#db
      .selectFrom('image_members')
      .selectAll()
      .where('image_id', '=', imageId)
      .orderBy('created_at')
      .orderBy('member_id')
      .execute()
    return rows.map(rowToMember)
  }

  async updateMember(member: ImageMember): Promise<void> {
    await this.#db
      .updateTable('image_members')
      .set({ status: member.status, updated_at: member.updatedAt.toISOString() })
      .where('image_id', '=', member.imageId)
      .where('member_id', '=', member.memberId)
      .execute()
  }

  async deleteMember(imageId: string, memberId: string): Promise<boolean> {
    const result = await this.#db
      .deleteFrom('image_members')
      .where('image_id', '=', imageId)
      .where('member_id', '=', memberId)
      .executeTakeFirst()
    return result.numDeletedRows > 0n
  }

  /**
   * Reads the image's row and, on PostgreSQL, locks it until the transaction ends, so that
   * read-modify-write steps of two server processes on the same image run one after the other.
   * SQLite needs no lock: the process's one connection runs one transaction at a time, and in
   * WAL mode SQLite fails a write that follows a stale read (SQLITE_BUSY_SNAPSHOT). Returns
   * `undefined` when the image does not exist or was deleted.
   */
  async #lockImage(trx: Kysely<Database>, id: string): Promise<ImageRow | undefined> {
    return trx
      .selectFrom('images')
      .selectAll()
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .$if(this.#postgres, (select) => select.forUpdate())
      .executeTakeFirst()
  }

  /**
   * Runs `read` in a transaction that sees one snapshot, so that images and their tags and
   * properties, read by separate statements, come from the same committed state. A SQLite
   * transaction reads one snapshot already. On PostgreSQL it takes REPEATABLE READ, because
   * each statement of a READ COMMITTED transaction sees the commits made before it started.
   */
  async #readSnapshot<T>(read: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    let transaction = this.#db.transaction()
    if (this.#postgres) {
      transaction = transaction.setIsolationLevel('repeatable read').setAccessMode('read only')
    }
    return transaction.execute(read)
  }

  /** Loads tags and properties of many images in two queries. */
  async #hydrate(rows: ImageRow[], db: Kysely<Database> = this.#db): Promise<Image[]> {
    if (rows.length === 0) return []
    const ids = rows.map((row) => row.id)
    const [tags, properties] = await Promise.all([
      db.selectFrom('image_tags').selectAll().where('image_id', 'in', ids).execute(),
      db.selectFrom('image_properties').selectAll().where('image_id', 'in', ids).execute(),
    ])

    const images = new Map(rows.map((row) => [row.id, rowToImage(row)]))
    for (const tag of tags) images.get(tag.image_id)?.tags.push(tag.value)
    for (const property of properties) {
      const image = images.get(property.image_id)
      if (image !== undefined) image.properties[property.name] = property.value
    }
    return [...images.values()]
  }
}

function scopeCondition(eb: Where, query: ListQuery): Expression<SqlBool> {
  const { projectId, visibility, memberStatus } = query.scope
  const statuses: MemberStatus[] =
    memberStatus === 'all' ? ['pending', 'accepted', 'rejected'] : [memberStatus]
  const isMember = (member: string) =>
    eb.exists(
      eb
        .selectFrom('image_members')
        .select('image_members.image_id')
        .whereRef('image_members.image_id', '=', 'images.id')
        .where('image_members.member_id', '=', member)
        .where('image_members.status', 'in', statuses),
    )

  if (projectId === null) {
    // Admins see every image, but community images of other projects only on request, as in
    // Glance, so that a plain listing is not flooded by them.
    if (visibility === 'all') return eb.lit(true)
    if (visibility !== null) return eb('visibility', '=', visibility)
    return eb('visibility', '!=', 'community')
  }

  const owned = eb('owner', '=', projectId)
  switch (visibility) {
    case null:
      return eb.or([
        owned,
        eb('visibility', '=', 'public'),
        eb.and([eb('visibility', '=', 'shared'), isMember(projectId)]),
      ])
    case 'all':
      return eb.or([
        owned,
        eb('visibility', 'in', ['public', 'community']),
        eb.and([eb('visibility', '=', 'shared'), isMember(projectId)]),
      ])
    case 'public':
      return eb('visibility', '=', 'public')
    case 'community':
      return eb('visibility', '=', 'community')
    case 'private':
      return eb.and([eb('visibility', '=', 'private'), owned])
    case 'shared':
      return eb.and([eb('visibility', '=', 'shared'), eb.or([owned, isMember(projectId)])])
  }
}

const sqlOperators = {
  gt: '>',
  gte: '>=',
  lt: '<',
  lte: '<=',
  eq: '=',
  neq: '!=',
} as const satisfies Record<TimeOperator, string>

function filterCondition(eb: Where, query: ListQuery): Expression<SqlBool> {
  const f = query.filters
  const conditions: Expression<SqlBool>[] = []

  for (const [column, values] of Object.entries(f.match ?? {})) {
    conditions.push(eb(column as MatchColumn, 'in', values))
  }
  for (const time of f.times ?? []) {
    conditions.push(eb(time.column, sqlOperators[time.operator], time.value.toISOString()))
  }
  if (f.protected !== undefined) conditions.push(eb('protected', '=', f.protected ? 1 : 0))
  conditions.push(eb('os_hidden', '=', f.osHidden === true ? 1 : 0))
  if (f.sizeMin !== undefined) conditions.push(eb('size', '>=', f.sizeMin))
  if (f.sizeMax !== undefined) conditions.push(eb('size', '<=', f.sizeMax))
  if (f.size !== undefined) conditions.push(eb('size', '=', f.size))

  for (const tag of f.tags ?? []) {
    conditions.push(
      eb.exists(
        eb
          .selectFrom('image_tags')
          .select('image_tags.image_id')
          .whereRef('image_tags.image_id', '=', 'images.id')
          .where('image_tags.value', '=', tag),
      ),
    )
  }
  for (const [name, value] of Object.entries(f.properties ?? {})) {
    conditions.push(
      eb.exists(
        eb
          .selectFrom('image_properties')
          .select('image_properties.image_id')
          .whereRef('image_properties.image_id', '=', 'images.id')
          .where('image_properties.name', '=', name)
          .where('image_properties.value', '=', value),
      ),
    )
  }
  return eb.and(conditions)
}

/** Rows strictly after the marker in the given order: (a > x) or (a = x and b > y) or … */
function markerCondition(eb: Where, order: SortSpec[], marker: Image): Expression<SqlBool> {
  const alternatives: Expression<SqlBool>[] = []
  for (let i = 0; i < order.length; i++) {
    const spec = order[i]!
    const beyond = beyondCondition(eb, spec, sortValue(marker, spec.key))
    if (beyond === null) continue
    const equalPrefix = order
      .slice(0, i)
      .map((prior) => equalCondition(eb, prior.key, sortValue(marker, prior.key)))
    alternatives.push(eb.and([...equalPrefix, beyond]))
  }
  return eb.or(alternatives)
}

function equalCondition(eb: Where, key: SortKey, value: string | number | null) {
  return value === null ? eb(`images.${key}`, 'is', null) : eb(`images.${key}`, '=', value)
}

/**
 * Rows that sort after `value` in the direction of `spec`, with NULL first in ascending and
 * last in descending order. Returns `null` when no row can, as after NULL in descending order.
 */
function beyondCondition(
  eb: Where,
  spec: SortSpec,
  value: string | number | null,
): Expression<SqlBool> | null {
  const column = `images.${spec.key}` as const
  if (spec.direction === 'asc') {
    return value === null ? eb(column, 'is not', null) : eb(column, '>', value)
  }
  if (value === null) return null
  const below = eb(column, '<', value)
  return nullableKeys.has(spec.key) ? eb.or([below, eb(column, 'is', null)]) : below
}

async function writeTagsAndProperties(trx: Kysely<Database>, image: Image): Promise<void> {
  if (image.tags.length > 0) {
    const tags = [...new Set(image.tags)].map((value) => ({ image_id: image.id, value }))
    await trx.insertInto('image_tags').values(tags).execute()
  }
  const properties = Object.entries(image.properties).map(([name, value]) => ({
    image_id: image.id,
    name,
    value,
  }))
  if (properties.length > 0) await trx.insertInto('image_properties').values(properties).execute()
}

/** Statuses in which a host writes or keeps the image's data. */
const dataStatuses: readonly ImageStatus[] = ['saving', 'uploading', 'importing']

/** Properties that only the service writes; user updates leave them alone. */
const reservedPrefix = 'os_glance_'
const importLockProperty = 'os_glance_import_task'

/**
 * Matches property names that start with the reserved prefix, case-sensitively as the service
 * checks them. LIKE would match more on SQLite, where it ignores ASCII case, and on both
 * databases `_` in a LIKE pattern matches any character.
 */
function hasReservedName(eb: ExpressionBuilder<Database, 'image_properties'>) {
  const prefix = eb.fn<string>('substr', ['name', eb.lit(1), eb.lit(reservedPrefix.length)])
  return eb(prefix, '=', reservedPrefix)
}

/** Returns the columns a metadata update may change; status and data have their own calls. */
function mutableColumns(image: Image) {
  return {
    name: image.name,
    visibility: image.visibility,
    protected: image.protected ? 1 : 0,
    os_hidden: image.osHidden ? 1 : 0,
    disk_format: image.diskFormat,
    container_format: image.containerFormat,
    min_disk: image.minDisk,
    min_ram: image.minRam,
    owner: image.owner,
  }
}

function imageToRow(image: Image): ImagesTable {
  return {
    ...mutableColumns(image),
    id: image.id,
    status: image.status,
    checksum: image.checksum,
    os_hash_algo: image.osHashAlgo,
    os_hash_value: image.osHashValue,
    size: image.size,
    virtual_size: image.virtualSize,
    created_at: image.createdAt.toISOString(),
    updated_at: image.updatedAt.toISOString(),
    deleted_at: null,
    data_host: null,
    locations: JSON.stringify(image.locations),
  }
}

function rowToImage(row: ImageRow): Image {
  return {
    id: row.id,
    name: row.name,
    status: row.status as ImageStatus,
    visibility: row.visibility as Visibility,
    protected: row.protected === 1,
    osHidden: row.os_hidden === 1,
    checksum: row.checksum,
    osHashAlgo: row.os_hash_algo,
    osHashValue: row.os_hash_value,
    size: row.size === null ? null : Number(row.size),
    virtualSize: row.virtual_size === null ? null : Number(row.virtual_size),
    diskFormat: row.disk_format as DiskFormat | null,
    containerFormat: row.container_format as ContainerFormat | null,
    minDisk: row.min_disk,
    minRam: row.min_ram,
    owner: row.owner,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
    tags: [],
    properties: {},
    locations: JSON.parse(row.locations) as ImageLocation[],
  }
}

function memberToRow(member: ImageMember) {
  return {
    image_id: member.imageId,
    member_id: member.memberId,
    status: member.status,
    created_at: member.createdAt.toISOString(),
    updated_at: member.updatedAt.toISOString(),
  }
}

function rowToMember(row: Selectable<Database['image_members']>): ImageMember {
  return {
    imageId: row.image_id,
    memberId: row.member_id,
    status: row.status as MemberStatus,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  }
}

/** True for a primary-key or unique violation on SQLite or PostgreSQL. */
export function isUniqueViolation(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  const code = (error as { code?: string }).code
  return (
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    code === '23505'
  )
}

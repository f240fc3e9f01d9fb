import type { Readable } from 'node:stream'
import type {
  Image,
  ImageLocation,
  ImageMember,
  ImageStatus,
  MemberStatus,
  Visibility,
} from './image.js'

/** The caller's identity, as established from a validated token. */
export interface AuthContext {
  userId: string
  userName: string
  projectId: string
  projectName: string
  domainId: string
  roles: readonly string[]
  isAdmin: boolean
}

export const sortKeys = [
  'created_at',
  'updated_at',
  'name',
  'status',
  'size',
  'virtual_size',
  'disk_format',
  'container_format',
  'id',
  'owner',
  'visibility',
  'min_disk',
  'min_ram',
] as const
export type SortKey = (typeof sortKeys)[number]

export interface SortSpec {
  key: SortKey
  direction: 'asc' | 'desc'
}

/** The set of images a caller may list: the visibility rule, resolved for one caller. */
export interface ListScope {
  /** The caller's project; `null` for an admin listing every image. */
  projectId: string | null
  /** When set, only images of this visibility; `all` adds community images to the default. */
  visibility: Visibility | 'all' | null
  /** Member status that makes a shared image appear; Glance's default is `accepted`. */
  memberStatus: MemberStatus | 'all'
}

/** Columns that a listing can match exactly, against one value or an `in:` list. */
export const matchColumns = [
  'name',
  'status',
  'owner',
  'disk_format',
  'container_format',
  'id',
  'checksum',
] as const
export type MatchColumn = (typeof matchColumns)[number]

export const timeOperators = ['gt', 'gte', 'lt', 'lte', 'eq', 'neq'] as const
export type TimeOperator = (typeof timeOperators)[number]

export interface TimeComparison {
  column: 'created_at' | 'updated_at'
  operator: TimeOperator
  value: Date
}

export interface ImageFilters {
  /** Each column must equal one of its values. */
  match?: Partial<Record<MatchColumn, string[]>>
  times?: TimeComparison[]
  protected?: boolean
  /** `false` (the default) hides images with `os_hidden`; `true` shows only those. */
  osHidden?: boolean
  tags?: string[]
  properties?: Record<string, string>
  sizeMin?: number
  sizeMax?: number
  /** Exact size, as Glance allows for any image column. */
  size?: number
}

export interface ListQuery {
  scope: ListScope
  filters: ImageFilters
  sort: SortSpec[]
  limit: number
  /** The id of the last image of the previous page. */
  marker: Image | null
}

/** An image's checksum and secure hash; each may be unknown. */
export interface ImageHashes {
  checksum: string | null
  osHashAlgo: string | null
  osHashValue: string | null
}

/** Fields the repository writes when an upload completes. */
export interface ImageDataInfo {
  size: number
  checksum: string
  osHashAlgo: string
  osHashValue: string
  virtualSize: number | null
  locations: ImageLocation[]
}

/**
 * Image metadata storage. Implementations make each method atomic: a reader never sees half
 * of an update. Deleted images disappear from every read, but their ids stay reserved.
 */
export interface ImageRepository {
  /** Inserts a new image. Throws `ConflictError` if the id exists or ever existed. */
  create(image: Image): Promise<void>

  /** Returns the image, or `null` when it does not exist or was deleted. */
  get(id: string): Promise<Image | null>

  /** Returns one page of images in the requested order, ties broken by `created_at` and id. */
  list(query: ListQuery): Promise<Image[]>

  /**
   * Writes the changed fields, tags and properties of `image` and sets `updatedAt`. Returns
   * the stored image, or `null` if it was deleted meanwhile.
   */
  update(image: Image): Promise<Image | null>

  /**
   * Moves the image from one of `from` to `to` only if its status is still one of them; the
   * compare and the write are one transaction. Returns the updated image or `null` when the
   * status had already changed (or the image is gone).
   */
  transition(id: string, from: readonly ImageStatus[], to: ImageStatus): Promise<Image | null>

  /**
   * Sets a `saving` or `importing` image to `active` with its data fields. Returns `null` if it
   * had left those states.
   */
  activate(id: string, data: ImageDataInfo): Promise<Image | null>

  /**
   * Appends a location unless the image already has one in that store (on that host, for a
   * local store); one transaction.
   * Returns the updated image, or `null` when the image is gone.
   */
  addLocation(id: string, location: ImageLocation): Promise<Image | null>

  /**
   * Writes the image's locations. With `activation`, a `queued` image becomes `active` with
   * those data fields in the same transaction; with `hashes`, they fill the image's unset hash
   * fields. Returns `null` when the image is gone or was not queued for an activation.
   */
  setLocations(
    id: string,
    locations: ImageLocation[],
    activation: (ImageHashes & { size: number }) | null,
    hashes: ImageHashes | null,
  ): Promise<Image | null>

  /**
   * Removes the image's location in `store`, only the copy of `host` when given. Returns the
   * updated image, or `null` if gone.
   */
  removeLocation(id: string, store: string, host?: string): Promise<Image | null>

  /**
   * Sets (or, for `null`, removes) properties without touching the others, in one transaction;
   * for the service's own bookkeeping such as `os_glance_importing_to_stores`.
   */
  setProperties(id: string, changes: Record<string, string | null>): Promise<void>

  /**
   * Takes the image's import lock for `taskId` (the `os_glance_import_task` property). Returns
   * `false` when another import has it.
   */
  lockImport(id: string, taskId: string): Promise<boolean>

  /** Releases the import lock if `taskId` holds it. */
  unlockImport(id: string, taskId: string): Promise<void>

  /**
   * Returns an image in one of `from` (by default `saving`, `uploading` and `importing`) to
   * `queued`, clearing its data fields and locations.
   */
  resetUpload(id: string, from?: readonly ImageStatus[]): Promise<void>

  /** Marks the image deleted and returns its last state, or `null` if it was already gone. */
  delete(id: string): Promise<Image | null>

  /** Lists active images in id order, `limit` at a time after `afterId`; for replication. */
  listActive(afterId: string | null, limit: number): Promise<Image[]>

  /**
   * Lists images left in these states (`saving` by default) by `host`, this process's own host
   * by default (which also takes images recorded without a host).
   */
  listInterruptedUploads(statuses?: ImageStatus[], host?: string): Promise<Image[]>

  /** Checks that the database responds. */
  ping(): Promise<void>

  /** Records the size of data staged for an `uploading` image. */
  setStagedSize(id: string, size: number): Promise<void>

  /** Totals over a project's images that are not deleted. */
  usage(projectId: string): Promise<ProjectUsage>

  addMember(member: ImageMember): Promise<void>
  getMember(imageId: string, memberId: string): Promise<ImageMember | null>
  listMembers(imageId: string): Promise<ImageMember[]>
  updateMember(member: ImageMember): Promise<void>
  /** Returns `false` when the membership did not exist. */
  deleteMember(imageId: string, memberId: string): Promise<boolean>
}

export interface ProjectUsage {
  /** Bytes of image data stored for the project. */
  sizeTotal: number
  /** Images the project owns. */
  countTotal: number
  /** Images with an upload or import in progress. */
  countUploading: number
  /** Bytes of staged data waiting for an import. */
  stageTotal: number
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number
  /** Last byte, inclusive. */
  end: number
}

export interface IncompleteFilter {
  key?: string
  olderThanMs?: number
}

export interface BlobInfo {
  size: number
}

export interface StoreCapacity {
  totalBytes: number
  freeBytes: number
}

/**
 * Image data storage. Keys are opaque strings of `[A-Za-z0-9._-]`.
 *
 * Writes are all-or-nothing: data becomes readable under its key only after the source stream
 * ended without error and the data is durable. If the source fails, or the signal aborts, the
 * partial data is removed and the key stays absent.
 */
export interface BlobStore {
  readonly name: string

  /**
   * Streams `source` into a new blob. Throws `BlobExists` when the key is taken, and rethrows
   * the source's error after removing the partial data.
   */
  write(key: string, source: Readable, signal?: AbortSignal): Promise<BlobInfo>

  /** Opens the blob, or one byte range of it. Throws `BlobNotFound` when absent. */
  read(key: string, range?: ByteRange): Promise<Readable>

  /** Returns the blob's size. Throws `BlobNotFound` when absent. */
  stat(key: string): Promise<BlobInfo>

  /** Removes the blob. Returns `false` when it did not exist. */
  delete(key: string): Promise<boolean>

  capacity(): Promise<StoreCapacity>

  /**
   * Removes leftovers of writes that never finished, such as after a crash: all of them, or
   * only those of `key`, or only those untouched for `olderThanMs` (a write in progress keeps
   * touching its file, so this is safe on a store that other hosts write to). Returns the count.
   */
  removeIncomplete(options?: IncompleteFilter): Promise<number>

  /** Checks that the store can be read and written. */
  ping(): Promise<void>
}

/** A store as the discovery API describes it. */
export interface StoreInfo {
  id: string
  type: string
  description: string
  /** Reads prefer the location in the store of highest weight. */
  weight: number
  isDefault: boolean
  readOnly: boolean
  /** On this host's own disk: other hosts cannot read it and copy its data from this host. */
  local: boolean
}

/** The configured stores, by id; the image service writes to them and reads across them. */
export interface ImageStores {
  readonly defaultId: string
  /** This host's name, which locations in local stores carry. */
  readonly hostName: string
  list(): StoreInfo[]
  /** The writable store with this id; throws a 400 naming the available stores otherwise. */
  writable(id: string): BlobStore
  /** Returns every writable store, the default first. */
  all(): BlobStore[]
  /**
   * Opens the data from the best location (highest store weight first), trying the next one
   * when a copy is missing or its store fails. Throws the last failure when none can be read.
   */
  read(locations: readonly ImageLocation[], range: ByteRange): Promise<Readable>
  /** The URL that the locations API shows for a location. */
  urlOf(location: ImageLocation): string
  /** The location of a blob that this host wrote to one of its stores. */
  locationFor(storeId: string, key: string): ImageLocation
  /** Whether this host can read the location: it is not on another host's own disk. */
  isReadableHere(location: ImageLocation): boolean
}

/** Copies of image data on other hosts' own disks, for libraries without a shared store. */
export interface ReplicaSource {
  /** Copies the image's data from a host that has it into a local store here. */
  ensureLocal(image: Image, signal?: AbortSignal): Promise<Image>
  /** Asks the other hosts to delete their copies of a deleted image; failures are logged. */
  forgetRemote(image: Image): Promise<void>
}

/** Reads image data for downloads; the cache implements it in front of the stores. */
export interface ImageReader {
  read(image: Image, range: ByteRange): Promise<Readable>
  /** Drops any copy kept for the image, after its data was removed or changed. */
  forget(imageId: string): Promise<void>
}

/** Result of inspecting an image's bytes. */
export interface ContentInspection {
  format: string
  virtualSize: number
}

/** One upload's inspection; `push` and `finish` throw a client error to reject the data. */
export interface InspectionSession {
  push(chunk: Buffer): void
  finish(): ContentInspection
}

/** Checks uploaded bytes against the image's declared formats while they stream in. */
export interface ContentInspector {
  /** Starts inspecting data for `image`, or returns `null` when its formats are not inspected. */
  begin(image: Image): InspectionSession | null
}

export const taskStatuses = ['pending', 'processing', 'success', 'failure'] as const
export type TaskStatus = (typeof taskStatuses)[number]

/** An asynchronous image import, as Glance's tasks API shows it. */
export interface ImportTask {
  id: string
  imageId: string
  owner: string
  userId: string
  requestId: string
  status: TaskStatus
  /** The import request and where the data goes, as the client sees it. */
  input: Record<string, unknown>
  result: Record<string, unknown> | null
  message: string
  createdAt: Date
  updatedAt: Date
}

/** Import task records; each write is atomic. */
export interface TaskRepository {
  /** Records a new task as run by this process's host. */
  create(task: ImportTask): Promise<void>
  /** Sets status, message and result, and `updatedAt`. */
  finish(
    id: string,
    status: TaskStatus,
    message: string,
    result: Record<string, unknown> | null,
  ): Promise<void>
  /** Returns the image's tasks, oldest first. */
  listForImage(imageId: string): Promise<ImportTask[]>
  /**
   * Tasks still `pending` or `processing` on `host` (this process's own by default, with the
   * tasks recorded without a host), such as those a restart interrupted; oldest first.
   */
  listUnfinished(host?: string): Promise<ImportTask[]>
  /** Moves an unfinished task from `fromHost` to this host; `false` when another host won. */
  adopt(id: string, fromHost: string): Promise<boolean>
  get(id: string): Promise<ImportTask | null>
  /** Tasks visible to a project (every task for `null`), newest first. */
  list(owner: string | null, limit: number): Promise<ImportTask[]>
}

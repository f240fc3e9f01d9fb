import { ConflictError, ForbiddenError, InvalidInputError, NotFoundError } from './errors.js'
import type { AuthContext } from './ports.js'

export const namespaceVisibilities = ['public', 'private'] as const
export type NamespaceVisibility = (typeof namespaceVisibilities)[number]

/** A metadata definition namespace: the container of objects, properties and tags. */
export interface Namespace {
  namespace: string
  displayName: string | null
  description: string | null
  visibility: NamespaceVisibility
  protected: boolean
  owner: string
  createdAt: Date
  updatedAt: Date
}

/** The parts of a namespace that a client sets. */
export type NamespaceFields = Omit<Namespace, 'createdAt' | 'updatedAt'>

/** The fields of a create or update request. A missing field keeps its default or current value. */
export type NamespaceInput = Partial<NamespaceFields>

export const metadefItemKinds = ['object', 'property', 'tag', 'resource_type'] as const
/** The kinds of definitions a namespace contains. `resource_type` is an association. */
export type MetadefItemKind = (typeof metadefItemKinds)[number]

/** One definition inside a namespace, with its kind's own fields kept as a JSON document. */
export interface MetadefItem {
  name: string
  document: Record<string, unknown>
  createdAt: Date
  updatedAt: Date
}

/** A definition as a client sends it, before the service sets its timestamps. */
export type MetadefItemDraft = Pick<MetadefItem, 'name' | 'document'>

export interface ResourceType {
  name: string
  protected: boolean
  createdAt: Date
  updatedAt: Date
}

/** A namespace with everything it contains, as a namespace's GET shows it. */
export interface NamespaceDetail {
  namespace: Namespace
  items: Record<MetadefItemKind, MetadefItem[]>
}

/** Storage of namespaces and their definitions. */
export interface MetadefRepository {
  /** Returns every namespace, ordered by name. */
  listNamespaces(): Promise<Namespace[]>
  /** Returns the namespace, or null when there is none of that name. */
  findNamespace(name: string): Promise<Namespace | null>
  /** Inserts a namespace. Throws ConflictError when the name is taken. */
  insertNamespace(namespace: Namespace): Promise<void>
  /**
   * Replaces the namespace `name`, and its definitions follow a rename. Throws ConflictError
   * when a rename collides with another namespace.
   */
  updateNamespace(name: string, namespace: Namespace): Promise<void>
  /** Deletes the namespace and all its definitions. A missing namespace is not an error. */
  deleteNamespace(name: string): Promise<void>
  listResourceTypes(): Promise<ResourceType[]>
  findResourceType(name: string): Promise<ResourceType | null>
  /** Returns the namespace's definitions of one kind, ordered by name. */
  listItems(namespace: string, kind: MetadefItemKind): Promise<MetadefItem[]>
  findItem(namespace: string, kind: MetadefItemKind, name: string): Promise<MetadefItem | null>
  /**
   * Inserts definitions in one transaction, first deleting all of that kind when `replace` is
   * set. Throws ConflictError, and writes nothing, when a name is taken.
   */
  insertItems(
    namespace: string,
    kind: MetadefItemKind,
    items: MetadefItem[],
    replace: boolean,
  ): Promise<void>
  /** Replaces the definition `name`. Throws ConflictError when a rename collides. */
  updateItem(
    namespace: string,
    kind: MetadefItemKind,
    name: string,
    item: MetadefItem,
  ): Promise<void>
  /** Deletes one definition, or every definition of `kind` when `name` is null. */
  deleteItems(namespace: string, kind: MetadefItemKind, name: string | null): Promise<void>
}

/**
 * Metadata definitions (Glance's metadefs). Anyone may read public namespaces, but only the
 * owner project and admins may read private ones. Every write needs the admin role, which is
 * Glance's default policy for metadefs.
 */
export class MetadefService {
  readonly #repo: MetadefRepository

  constructor(repo: MetadefRepository) {
    this.#repo = repo
  }

  /** Returns the namespaces the caller may see. */
  async listNamespaces(ctx: AuthContext): Promise<NamespaceDetail[]> {
    const visible = (await this.#repo.listNamespaces()).filter((ns) => canRead(ctx, ns))
    return Promise.all(visible.map((ns) => this.#detailOf(ns, ['resource_type'])))
  }

  /** Returns a namespace with its definitions. Throws NotFoundError when missing or hidden. */
  async showNamespace(ctx: AuthContext, name: string): Promise<NamespaceDetail> {
    return this.#detailOf(await this.#readable(ctx, name), metadefItemKinds)
  }

  /** Creates a namespace with the associations, objects, properties and tags given. */
  async createNamespace(
    ctx: AuthContext,
    input: NamespaceInput,
    drafts: Partial<Record<MetadefItemKind, MetadefItemDraft[]>>,
  ): Promise<NamespaceDetail> {
    requireAdmin(ctx)
    const fields: NamespaceFields = {
      displayName: null,
      description: null,
      visibility: 'private',
      protected: false,
      owner: ctx.projectId,
      ...input,
      namespace: requireName(input.namespace),
    }
    await this.#checkResourceTypes(drafts.resource_type ?? [])
    for (const kind of metadefItemKinds) checkDistinct(kind, drafts[kind] ?? [])

    // TODO: the namespace and its definitions are written in separate transactions, so a
    // failure after the first write leaves the namespace without some of its definitions.
    const now = new Date()
    await this.#repo.insertNamespace({ ...fields, createdAt: now, updatedAt: now })
    for (const kind of metadefItemKinds) {
      const given = stamp(drafts[kind] ?? [])
      if (given.length > 0) await this.#repo.insertItems(fields.namespace, kind, given, false)
    }
    return this.showNamespace(ctx, fields.namespace)
  }

  /** Changes the fields given, and a new `namespace` renames it. Its definitions stay. */
  async updateNamespace(
    ctx: AuthContext,
    name: string,
    input: NamespaceInput,
  ): Promise<NamespaceDetail> {
    requireAdmin(ctx)
    const current = await this.#readable(ctx, name)

    const updated = { ...current, ...input, updatedAt: new Date() }
    await this.#repo.updateNamespace(name, updated)
    return this.#detailOf(updated, ['resource_type'])
  }

  /** Deletes a namespace and its definitions. Throws ForbiddenError when it is protected. */
  async deleteNamespace(ctx: AuthContext, name: string): Promise<void> {
    requireAdmin(ctx)
    const namespace = await this.#readable(ctx, name)
    if (namespace.protected) {
      throw new ForbiddenError(`Namespace ${name} is protected and cannot be deleted.`)
    }
    await this.#repo.deleteNamespace(name)
  }

  listResourceTypes(): Promise<ResourceType[]> {
    return this.#repo.listResourceTypes()
  }

  /** Returns the namespace's definitions of one kind. */
  async listItems(ctx: AuthContext, name: string, kind: MetadefItemKind): Promise<MetadefItem[]> {
    await this.#readable(ctx, name)
    return this.#repo.listItems(name, kind)
  }

  /** Returns one definition. Throws NotFoundError when it or its namespace is missing. */
  async showItem(
    ctx: AuthContext,
    name: string,
    kind: MetadefItemKind,
    itemName: string,
  ): Promise<MetadefItem> {
    await this.#readable(ctx, name)
    const item = await this.#repo.findItem(name, kind, itemName)
    if (item === null) throw new NotFoundError(`No ${kind} named ${itemName} in namespace ${name}.`)
    return item
  }

  /**
   * Adds definitions to a namespace. With `replace`, they take the place of every existing
   * definition of that kind. Throws ConflictError when a name is taken or appears twice.
   */
  async createItems(
    ctx: AuthContext,
    name: string,
    kind: MetadefItemKind,
    drafts: MetadefItemDraft[],
    replace = false,
  ): Promise<MetadefItem[]> {
    requireAdmin(ctx)
    await this.#readable(ctx, name)
    if (kind === 'resource_type') await this.#checkResourceTypes(drafts)
    checkDistinct(kind, drafts)

    const items = stamp(drafts)
    await this.#repo.insertItems(name, kind, items, replace)
    return items
  }

  /** Replaces one definition, which may take a new name. */
  async updateItem(
    ctx: AuthContext,
    name: string,
    kind: MetadefItemKind,
    itemName: string,
    draft: MetadefItemDraft,
  ): Promise<MetadefItem> {
    requireAdmin(ctx)
    const current = await this.showItem(ctx, name, kind, itemName)

    const updated = { ...draft, createdAt: current.createdAt, updatedAt: new Date() }
    await this.#repo.updateItem(name, kind, itemName, updated)
    return updated
  }

  /**
   * Deletes one definition, or all of `kind` when `itemName` is null. ForbiddenError when the
   * namespace is protected.
   */
  async deleteItems(
    ctx: AuthContext,
    name: string,
    kind: MetadefItemKind,
    itemName: string | null,
  ): Promise<void> {
    requireAdmin(ctx)
    const namespace = await this.#readable(ctx, name)
    if (namespace.protected) {
      throw new ForbiddenError(
        `Namespace ${name} is protected, so its definitions cannot be deleted.`,
      )
    }
    if (itemName !== null) await this.showItem(ctx, name, kind, itemName)

    await this.#repo.deleteItems(name, kind, itemName)
  }

  async #readable(ctx: AuthContext, name: string): Promise<Namespace> {
    const namespace = await this.#repo.findNamespace(name)
    if (namespace === null || !canRead(ctx, namespace)) {
      throw new NotFoundError(`No namespace named ${name}.`)
    }
    return namespace
  }

  async #detailOf(
    namespace: Namespace,
    kinds: readonly MetadefItemKind[],
  ): Promise<NamespaceDetail> {
    const items: NamespaceDetail['items'] = { object: [], property: [], tag: [], resource_type: [] }
    for (const kind of kinds) items[kind] = await this.#repo.listItems(namespace.namespace, kind)
    return { namespace, items }
  }

  async #checkResourceTypes(items: MetadefItemDraft[]): Promise<void> {
    for (const item of items) {
      if ((await this.#repo.findResourceType(item.name)) === null) {
        throw new NotFoundError(`No resource type named ${item.name}.`)
      }
    }
  }
}

function canRead(ctx: AuthContext, namespace: Namespace): boolean {
  return namespace.visibility === 'public' || ctx.isAdmin || namespace.owner === ctx.projectId
}

function requireAdmin(ctx: AuthContext): void {
  if (!ctx.isAdmin) {
    throw new ForbiddenError('Changing metadata definitions requires the admin role.')
  }
}

function requireName(value: string | undefined): string {
  if (value === undefined || value === '') {
    throw new InvalidInputError('The namespace field is required and must not be empty.')
  }
  return value
}

function stamp(drafts: MetadefItemDraft[]): MetadefItem[] {
  const now = new Date()
  return drafts.map((draft) => ({ ...draft, createdAt: now, updatedAt: now }))
}

function checkDistinct(kind: MetadefItemKind, items: MetadefItemDraft[]): void {
  const names = new Set<string>()
  for (const item of items) {
    if (names.has(item.name))
      throw new ConflictError(`The ${kind} ${item.name} appears twice in the request.`)
    names.add(item.name)
  }
}

/** Checks a namespace visibility value. */
export function validateNamespaceVisibility(value: unknown): NamespaceVisibility {
  if (!namespaceVisibilities.includes(value as NamespaceVisibility)) {
    throw new InvalidInputError(
      `Invalid visibility ${JSON.stringify(value)}: use one of ${namespaceVisibilities.join(', ')}.`,
    )
  }
  return value as NamespaceVisibility
}

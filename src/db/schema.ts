import type { Generated } from 'kysely'

/**
 * The tables, shared by SQLite and PostgreSQL. Timestamps are ISO 8601 strings in UTC with
 * milliseconds, which sort correctly as text. Booleans are 0/1 integers and sizes are bigint.
 * Text compares by byte on both databases, through SQLite's BINARY collation and PostgreSQL's
 * "C" collation.
 */
export interface Database {
  images: ImagesTable
  image_properties: ImagePropertiesTable
  image_tags: ImageTagsTable
  image_members: ImageMembersTable
  domains: DomainsTable
  projects: ProjectsTable
  users: UsersTable
  roles: RolesTable
  role_assignments: RoleAssignmentsTable
  tokens: TokensTable
  tasks: TasksTable
  hosts: HostsTable
  cluster_settings: { name: string; value: string }
  cache_agents: CacheAgentsTable
  cache_agent_images: CacheAgentImagesTable
  cache_agent_queue: CacheAgentQueueTable
  cache_agent_failures: CacheAgentFailuresTable
}

/** The last report of each hypervisor's image cache agent. */
export interface CacheAgentsTable {
  name: string
  version: string
  /** Seconds between the agent's reports, as the agent states it. */
  report_interval: number
  /** When the last report arrived, by the clock of the host that received it. */
  reported_at: string
  max_bytes: number
  used_bytes: number
  free_disk_bytes: number
  hits: number
  misses: number
  bytes_fetched: number
  evictions: number
  /** When the report that carried the rows of `cache_agent_failures` arrived. */
  failures_reported_at: string | null
}

export interface CacheAgentImagesTable {
  agent_name: string
  image_id: string
  size: number
  hits: number
  last_used: string | null
  pinned: number
}

export interface CacheAgentQueueTable {
  agent_name: string
  image_id: string
  queued_at: string
}

export interface CacheAgentFailuresTable {
  agent_name: string
  image_id: string
  reason: string
}

export interface HostsTable {
  name: string
  image_url: string
  identity_url: string
  version: string
  started_at: string
  last_heartbeat: string
  stopped_at: string | null
  /** JSON array of the host's stores with their capacity. */
  stores: string
}

export interface ImagesTable {
  id: string
  name: string | null
  status: string
  visibility: string
  protected: number
  os_hidden: number
  checksum: string | null
  os_hash_algo: string | null
  os_hash_value: string | null
  size: number | null
  virtual_size: number | null
  disk_format: string | null
  container_format: string | null
  min_disk: number
  min_ram: number
  owner: string | null
  created_at: string
  updated_at: string
  /** Set when deleted; the row stays so that the id is never reused. */
  deleted_at: string | null
  /** JSON array of the image's locations, in order. */
  locations: string
  /** The host that writes or stages the data while the image is saving, uploading or importing. */
  data_host: string | null
}

export interface ImagePropertiesTable {
  image_id: string
  name: string
  value: string
}

export interface ImageTagsTable {
  image_id: string
  value: string
}

export interface ImageMembersTable {
  image_id: string
  member_id: string
  status: string
  created_at: string
  updated_at: string
}

export interface DomainsTable {
  id: string
  name: string
  description: string
  enabled: number
}

export interface ProjectsTable {
  id: string
  name: string
  domain_id: string
  description: string
  enabled: number
}

export interface UsersTable {
  id: string
  name: string
  domain_id: string
  password_hash: string | null
  enabled: number
  default_project_id: string | null
  email: string | null
  created_at: string
}

export interface RolesTable {
  id: string
  name: string
}

export interface RoleAssignmentsTable {
  user_id: string
  project_id: string
  role_id: string
}

export interface TokensTable {
  /** SHA-256 of the token; the token itself is never stored. */
  token_hash: string
  user_id: string
  project_id: string
  audit_id: string
  issued_at: string
  expires_at: string
  revoked: Generated<number>
}

export interface TasksTable {
  id: string
  type: string
  status: string
  image_id: string
  owner: string
  user_id: string
  request_id: string
  /** The task's input document, as JSON. */
  input: string
  /** The task's result document, as JSON, once it has one. */
  result: string | null
  message: string
  created_at: string
  updated_at: string
  /** The host that runs the task; `null` for tasks recorded before hosts were tracked. */
  host: string | null
}

import { useEffect, useState } from 'preact/hooks'
import type { CacheAgent, Host, ImageApi } from '../api/images.js'
import { ErrorMessage, StatusBadge, Time } from '../components/messages.js'
import { formatBytes, formatDuration } from '../lib/units.js'

const refreshIntervalMs = 10_000

interface HealthData {
  hosts: Host[]
  /** `null` when the service has no cache agent API. */
  agents: CacheAgent[] | null
  loadedAt: Date
}

/** Shows the image library hosts and the hypervisor cache agents, for administrators. */
export function HealthPage({ api }: { api: ImageApi }) {
  const [data, setData] = useState<HealthData | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [reloads, setReloads] = useState(0)

  useEffect(() => {
    let current = true
    let timer: ReturnType<typeof setTimeout> | undefined
    Promise.all([api.listHosts(), api.listCacheAgents()])
      .then(([hosts, agents]) => {
        if (!current) return
        setError(null)
        setData({ hosts, agents, loadedAt: new Date() })
      })
      .catch((failure: Error) => current && setError(failure.message))
      .finally(() => {
        // The interval runs from the end of a load, so slow loads never overlap.
        if (current) timer = setTimeout(() => setReloads((count) => count + 1), refreshIntervalMs)
      })
    return () => {
      current = false
      clearTimeout(timer)
    }
  }, [reloads])

  return (
    <section aria-labelledby="health-heading">
      <div class="page-heading">
        <h1 id="health-heading">Service health</h1>
        <button type="button" onClick={() => setReloads(reloads + 1)}>
          Refresh
        </button>
      </div>
      <ErrorMessage message={error} />
      {data === null ? (
        <p>Loading…</p>
      ) : (
        <>
          <p class="hint">
            Updated <Time value={data.loadedAt.toISOString()} />; refreshes every{' '}
            {refreshIntervalMs / 1000} s.
          </p>
          <HostsSection hosts={data.hosts} now={data.loadedAt} />
          <AgentsSection agents={data.agents} />
        </>
      )}
    </section>
  )
}

function secondsSince(value: string, now: Date): number {
  return (now.getTime() - new Date(value).getTime()) / 1000
}

function HostsSection({ hosts, now }: { hosts: Host[]; now: Date }) {
  return (
    <section aria-labelledby="hosts-heading" class="card">
      <h2 id="hosts-heading">Image library hosts</h2>
      <div class="table-scroll">
        <table class="data" id="hosts-table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Status</th>
              <th scope="col">Version</th>
              <th scope="col">Last heartbeat</th>
              <th scope="col">Stores</th>
            </tr>
          </thead>
          <tbody>
            {hosts.length === 0 && (
              <tr>
                <td colSpan={5}>No hosts are registered.</td>
              </tr>
            )}
            {hosts.map((host) => (
              <tr key={host.name}>
                <th scope="row">{host.name}</th>
                <td>
                  <StatusBadge status={host.status} />
                </td>
                <td>{host.version}</td>
                <td>
                  <Time value={host.last_heartbeat} /> (
                  {formatDuration(Math.max(0, secondsSince(host.last_heartbeat, now)))} ago)
                </td>
                <td>
                  <StoreList stores={host.stores} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  )
}

function StoreList({ stores }: { stores: Host['stores'] }) {
  if (stores.length === 0) return <>–</>
  return (
    <ul class="plain">
      {stores.map((store) => (
        <li key={store.id}>
          <CapacityMeter
            label={`Store ${store.id}`}
            used={store.total_bytes - store.free_bytes}
            total={store.total_bytes}
            text={`${store.id}: ${formatBytes(store.free_bytes)} free of ${formatBytes(store.total_bytes)}`}
          />
        </li>
      ))}
    </ul>
  )
}

interface CapacityMeterProps {
  label: string
  used: number
  total: number
  text: string
}

function CapacityMeter({ label, used, total, text }: CapacityMeterProps) {
  return (
    <span class="capacity">
      <meter
        min={0}
        max={Math.max(total, 1)}
        value={Math.max(0, used)}
        high={total * 0.8}
        optimum={0}
        aria-label={label}
      />{' '}
      {text}
    </span>
  )
}

function AgentsSection({ agents }: { agents: CacheAgent[] | null }) {
  return (
    <section aria-labelledby="agents-heading" class="card">
      <h2 id="agents-heading">Hypervisor cache agents</h2>
      {agents === null ? (
        <p id="agents-unavailable">
          Not available: this service does not offer the cache agent API (GET /v2/cache/agents).
        </p>
      ) : agents.length === 0 ? (
        <p>No cache agent has reported yet.</p>
      ) : (
        agents.map((agent) => <AgentCard key={agent.name} agent={agent} />)
      )}
    </section>
  )
}

function AgentCard({ agent }: { agent: CacheAgent }) {
  const { cache, stats } = agent
  return (
    <article class="agent" aria-labelledby={`agent-${agent.name}`}>
      <h3 id={`agent-${agent.name}`}>
        {agent.name} <StatusBadge status={agent.status} />
      </h3>
      <dl>
        <dt>Version</dt>
        <dd>{agent.version}</dd>
        <dt>Last report</dt>
        <dd>
          <Time value={agent.reported_at} /> (every {agent.report_interval} s)
        </dd>
        <dt>Cache</dt>
        <dd>
          <CapacityMeter
            label={`Cache of ${agent.name}`}
            used={cache.used_bytes}
            total={cache.max_bytes}
            text={`${formatBytes(cache.used_bytes)} used of ${formatBytes(cache.max_bytes)}; ${formatBytes(cache.free_disk_bytes)} free on disk`}
          />
        </dd>
        <dt>Statistics</dt>
        <dd>
          {stats.hits} hits, {stats.misses} misses, {formatBytes(stats.bytes_fetched)} fetched,{' '}
          {stats.evictions} evictions
        </dd>
      </dl>
      <details>
        <summary>
          {agent.cached_images.length} cached, {agent.queued_images.length} queued,{' '}
          {agent.failed_images.length} failed
        </summary>
        <AgentImages agent={agent} />
      </details>
    </article>
  )
}

function AgentImages({ agent }: { agent: CacheAgent }) {
  return (
    <div class="table-scroll">
      <table class="data compact">
        <caption>Cached images</caption>
        <thead>
          <tr>
            <th scope="col">Image ID</th>
            <th scope="col">Size</th>
            <th scope="col">Hits</th>
            <th scope="col">Last used</th>
            <th scope="col">Pinned</th>
          </tr>
        </thead>
        <tbody>
          {agent.cached_images.map((image) => (
            <tr key={image.image_id}>
              <td>
                <code>{image.image_id}</code>
              </td>
              <td class="number">{formatBytes(image.size)}</td>
              <td class="number">{image.hits}</td>
              <td>
                <Time value={image.last_used} />
              </td>
              <td>{image.pinned ? 'yes' : 'no'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {agent.queued_images.length > 0 && (
        <p>
          Queued: <code>{agent.queued_images.join(', ')}</code>
        </p>
      )}
      {agent.failed_images.length > 0 && (
        <ul>
          {agent.failed_images.map((failed) => (
            <li key={failed.image_id}>
              Failed <code>{failed.image_id}</code>: {failed.reason}
            </li>
          ))}
        </ul>
      )}
    </div>
  )
}

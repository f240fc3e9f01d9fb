import type { AgentsResult, ProvisioningResult } from './agents-path.js'
import type { SizeResult, TransferMeasurement } from './data-path.js'
import type { HostsResult } from './hosts-path.js'
import type { MetadataResult, RateResult } from './metadata-path.js'
import type { CpuUse } from './process-stats.js'
import type { RateComparison, StoreResult } from './store-path.js'

/** The parts of the benchmark that `--only` can pick. */
export const benchParts = ['data', 'metadata', 'stores', 'hosts', 'agents'] as const
export type BenchPart = (typeof benchParts)[number]

/** Facts about the machine and the tools, recorded with every result. */
export interface MachineFacts {
  date: string
  nproc: string
  cpuModel: string
  memoryGiB: number
  kernel: string
  node: string
  nginx: string
  wrk: string
  loadAtStart: number
  loadAtEnd: number
  /** Share of the run's time in which some task waited for a CPU; null when unknown. */
  cpuStallShare: number | null
}

export interface BenchSettings {
  mode: 'quick' | 'full'
  parts: BenchPart[]
  sizesMiB: number[]
  uploadRuns: number
  downloadRuns: number
  images: number
  listRuns: number
  rateSeconds: number
  connections: number
  /** File size for the rbd and s3 stores, which keep their data in RAM. */
  storeSizeMiB: number
  hosts: number
  /** Concurrent downloads in the multi-host measurement. */
  hostClients: number
  hostsSizeMiB: number
  hostsRuns: number
  /** Simultaneous VM disk requests for one image in the agents part. */
  agentRequests: number
  /** Agents that share those requests in the agents part's second setup. */
  agents: number
  agentsSizeMiB: number
  agentsRuns: number
}

/** The results of the parts that ran: an empty list or null for a part left out. */
export interface BenchRun {
  facts: MachineFacts
  settings: BenchSettings
  sizes: SizeResult[]
  metadata: MetadataResult | null
  stores: StoreResult[]
  hosts: HostsResult | null
  agents: AgentsResult | null
}

/** The targets, stated once so that the table and the method agree. */
export const targets = {
  uploadShareOfSha512sum: 0.8,
  downloadShareOfNginx: 0.9,
  rssLimitBytes: 150e6,
  listMedianMs: 20,
  requestsPerSecond: 5000,
}

interface Row {
  measurement: string
  result: string
  reference: string
  ratio: string
  target: string
  verdict: string
}

/** Renders the whole Markdown page: facts, the results table, details and the method. */
export function renderReport(run: BenchRun): string {
  return [
    '# Benchmark results',
    '',
    ...renderFacts(run),
    '',
    '## Results',
    '',
    renderResultsTable(run),
    '',
    ...(run.sizes.length === 0
      ? []
      : ['## References (MB/s)', '', renderReferences(run.sizes), '']),
    ...(run.sizes.length === 0 && run.metadata === null
      ? []
      : ['## CPU and memory during each measurement', '', renderResourceUse(run), '']),
    '## Method',
    '',
    ...renderMethod(run),
    '',
  ].join('\n')
}

/** Renders the results table alone, for the terminal. */
export function renderResultsTable(run: BenchRun): string {
  const rows = [
    ...run.sizes.flatMap(dataRows),
    ...(run.metadata === null ? [] : metadataRows(run.metadata)),
    ...run.stores.flatMap((store) => storeRows(store, run.settings.storeSizeMiB)),
    ...(run.hosts === null ? [] : hostsRows(run.hosts)),
    ...(run.agents === null ? [] : agentsRows(run.agents)),
  ]
  const header = ['Measurement', 'Result', 'Reference', 'Ratio', 'Target', 'Verdict']
  return markdownTable(
    header,
    rows.map((row) => [
      row.measurement,
      row.result,
      row.reference,
      row.ratio,
      row.target,
      row.verdict,
    ]),
  )
}

/** Builds the rows of one store, which has no target yet and is reported for comparison. */
function storeRows(store: StoreResult, sizeMiB: number): Row[] {
  const label = sizeLabel(sizeMiB)
  const [uploadReference, downloadReference] =
    store.store === 'rbd' ? ['rbd import', 'rbd export'] : ['S3 PUT', 'S3 GET']
  return [
    comparisonRow(`Upload ${label} to the ${store.store} store`, uploadReference, store.upload),
    comparisonRow(
      `Download ${label} from the ${store.store} store`,
      downloadReference,
      store.download,
    ),
  ]
}

function comparisonRow(measurement: string, reference: string, rates: RateComparison): Row {
  return {
    measurement,
    result: rate(rates.service),
    reference: `${reference} ${rate(rates.reference)}`,
    ratio: percent(rates.service / rates.reference),
    target: 'for comparison',
    verdict: '',
  }
}

function hostsRows(hosts: HostsResult): Row[] {
  const downloads = `${hosts.clients} concurrent downloads of ${sizeLabel(hosts.sizeMiB)}`
  const row = (measurement: string, result: number, reference: string, ratio: string): Row => ({
    measurement,
    result: `${rate(result)} total`,
    reference,
    ratio,
    target: 'for comparison',
    verdict: '',
  })
  return [
    row(
      `${downloads}, spread over ${hosts.hosts} hosts`,
      hosts.spread,
      `1 host ${rate(hosts.oneHost)}`,
      percent(hosts.spread / hosts.oneHost),
    ),
    row(
      `${downloads}, from 1 host`,
      hosts.oneHost,
      `nginx ${rate(hosts.nginx)}`,
      percent(hosts.oneHost / hosts.nginx),
    ),
    row(
      `${downloads}, ${hosts.hosts} hosts against nginx`,
      hosts.spread,
      `nginx ${rate(hosts.nginx)}`,
      percent(hosts.spread / hosts.nginx),
    ),
  ]
}

function agentsRows(agents: AgentsResult): Row[] {
  const checked = agents.overlaysChecked
  return [
    ...provisioningRows(agents, agents.oneAgent),
    ...provisioningRows(agents, agents.manyAgents),
    {
      measurement: 'qemu-img check of those qcow2 overlays, all rounds',
      result: `${checked} of ${checked} pass`,
      reference: '',
      ratio: '',
      target: 'all pass',
      // The part throws on the first round with a failed check, so a result means all passed.
      verdict: verdict(true),
    },
  ]
}

/** Builds the time row and the bytes-served row of one agents setup. */
function provisioningRows(agents: AgentsResult, setup: ProvisioningResult): Row[] {
  const through = setup.agents === 1 ? '1 agent' : `${setup.agents} agents`
  const disks = `${agents.requests} VM disks at once from one ${sizeLabel(agents.sizeMiB)} image`
  const expectedBytes = setup.agents * agents.imageBytes
  const multiples = setup.bytesServed.map((bytes) => times(bytes / agents.imageBytes))
  return [
    {
      measurement: `${disks}, ${through}`,
      result: `${seconds(setup.seconds)} to the last disk`,
      reference: `cp + sync ${seconds(agents.copySeconds)}`,
      ratio: times(setup.seconds / agents.copySeconds),
      target: 'for comparison',
      verdict: '',
    },
    {
      measurement: `Image bytes served for them, ${through}`,
      result: distinct(setup.bytesServed.map(megabytes)).join(', '),
      reference: `image ${megabytes(agents.imageBytes)}`,
      ratio: distinct(multiples).join(', '),
      target: `${times(setup.agents)} the image`,
      verdict: verdict(setup.bytesServed.every((bytes) => bytes === expectedBytes)),
    },
  ]
}

function renderFacts(run: BenchRun): string[] {
  const { facts, settings } = run
  const sizes = settings.sizesMiB.map((size) => `${size} MiB`).join(' and ')
  const dataSizes = run.sizes.length === 0 ? '' : ` (files of ${sizes})`
  const memory = `${facts.memoryGiB.toFixed(1)} GiB RAM`
  const stall = facts.cpuStallShare === null ? 'an unknown share' : percent(facts.cpuStallShare)
  const [atStart, atEnd] = [facts.loadAtStart, facts.loadAtEnd].map((load) => load.toFixed(2))
  const load = `${atStart} at the start, ${atEnd} at the end`
  return [
    `- Date: ${facts.date}`,
    `- Mode: ${settings.mode}${dataSizes}`,
    `- Machine: \`nproc\` ${facts.nproc}, CPU ${facts.cpuModel}, ${memory}, Linux ${facts.kernel}`,
    `- Software: node ${facts.node}, ${facts.nginx}, ${facts.wrk}`,
    paragraph(
      `- Load average (1 min): ${load}.`,
      `Some task waited for a CPU during ${stall} of the run (\`/proc/pressure/cpu\`).`,
      'Other processes may share the machine,',
      'and the "Machine CPU" column counts their CPU use too.',
      'The CPU time per MB or per request depends less on them than the rates do.',
    ),
  ]
}

function dataRows(size: SizeResult): Row[] {
  const label = sizeLabel(size.sizeMiB)
  const uploadRatio = size.upload.megabytesPerSecond / size.references.sha512sum
  const downloadRatio = size.download.megabytesPerSecond / size.nginxDownload.megabytesPerSecond
  return [
    {
      measurement: `Upload ${label}`,
      result: rate(size.upload.megabytesPerSecond),
      reference: `sha512sum ${rate(size.references.sha512sum)}`,
      ratio: percent(uploadRatio),
      target: `≥ ${percent(targets.uploadShareOfSha512sum)} of sha512sum`,
      verdict: verdict(uploadRatio >= targets.uploadShareOfSha512sum),
    },
    rssRow(`Server peak RSS, upload ${label}`, size.upload),
    {
      measurement: `Download ${label}`,
      result: rate(size.download.megabytesPerSecond),
      reference: `nginx ${rate(size.nginxDownload.megabytesPerSecond)}`,
      ratio: percent(downloadRatio),
      target: `≥ ${percent(targets.downloadShareOfNginx)} of nginx`,
      verdict: verdict(downloadRatio >= targets.downloadShareOfNginx),
    },
    rssRow(`Server peak RSS, download ${label}`, size.download),
  ]
}

function rssRow(measurement: string, transfer: TransferMeasurement): Row {
  return {
    measurement,
    result: megabytes(transfer.rssPeakBytes),
    reference: '',
    ratio: '',
    target: `< ${megabytes(targets.rssLimitBytes)}`,
    verdict: verdict(transfer.rssPeakBytes < targets.rssLimitBytes),
  }
}

function metadataRows(metadata: MetadataResult): Row[] {
  const { list } = metadata
  const judged = judgedRate(metadata.rates)
  const rows: Row[] = [
    {
      measurement: `GET /v2/images?limit=${list.imagesPerResponse} (median of ${list.runs})`,
      result: `${list.medianMs.toFixed(1)} ms`,
      reference: `min ${list.minMs.toFixed(1)} ms, p90 ${list.p90Ms.toFixed(1)} ms`,
      ratio: '',
      target: `< ${targets.listMedianMs} ms`,
      verdict: verdict(list.medianMs < targets.listMedianMs),
    },
  ]
  for (const rate of metadata.rates) {
    const isJudged = rate === judged
    rows.push({
      measurement: `GET /v2/images/{id}, ${rate.tool}`,
      result: `${Math.round(rate.requestsPerSecond).toLocaleString('en-US')}/s`,
      reference: rate.failures === 0 ? 'no failed requests' : `${rate.failures} failed requests`,
      ratio: '',
      target: isJudged
        ? `≥ ${targets.requestsPerSecond.toLocaleString('en-US')}/s`
        : 'for comparison',
      verdict: isJudged
        ? verdict(rate.requestsPerSecond >= targets.requestsPerSecond && rate.failures === 0)
        : '',
    })
  }
  return rows
}

/** Picks wrk's rate when wrk ran, because wrk takes less CPU from the server than node:https. */
function judgedRate(rates: RateResult[]): RateResult | undefined {
  return rates.find((rate) => rate.tool.startsWith('wrk')) ?? rates[0]
}

function renderReferences(sizes: SizeResult[]): string {
  const header = ['File', 'Page-cache read (dd)', 'sha512sum', 'md5sum', 'dd write + fsync']
  const rows = sizes.map((size) => {
    const r = size.references
    return [sizeLabel(size.sizeMiB), r.pageCacheRead, r.sha512sum, r.md5sum, r.ddWriteFsync].map(
      (value) => (typeof value === 'number' ? value.toFixed(0) : value),
    )
  })
  return markdownTable(header, rows)
}

function renderResourceUse(run: BenchRun): string {
  const header = [
    'Measurement',
    'Server CPU',
    'Server CPU time',
    'Client CPU',
    'Machine CPU',
    'RSS samples (max gap)',
    'TLS',
  ]
  const rows: string[][] = []
  for (const size of run.sizes) {
    const label = sizeLabel(size.sizeMiB)
    rows.push(transferUse(`Upload ${label}`, size.upload))
    rows.push(transferUse(`Download ${label}, service`, size.download))
    rows.push(transferUse(`Download ${label}, nginx worker`, size.nginxDownload))
  }
  for (const rate of run.metadata?.rates ?? []) {
    const server = rate.cpu.processes.server ?? 0
    const perRequest = `${((server / rate.requestsPerSecond) * 1000).toFixed(3)} ms/request`
    rows.push([`GET /v2/images/{id}, ${rate.tool}`, ...cpuCells(rate.cpu, perRequest), '', ''])
  }
  return [
    markdownTable(header, rows),
    '',
    paragraph(
      'CPU is in cores: 1.00 is one core busy for the whole measurement.',
      '"Server CPU time" is the serving process\'s CPU time per MB moved or per request served.',
      '"Client" is the benchmark process (the node:https client).',
      'wrk runs as a process of its own and shows only in "Machine".',
      'The RSS sampler reads every 50 ms, and a longer maximum gap means that it waited for a CPU.',
    ),
  ].join('\n')
}

function transferUse(measurement: string, transfer: TransferMeasurement): string[] {
  const samples = `${transfer.rssSamples} (${transfer.rssMaxGapMs.toFixed(0)} ms)`
  const server = transfer.cpu.processes.server ?? 0
  const perMegabyte = `${((server / transfer.megabytesPerSecond) * 1000).toFixed(2)} ms/MB`
  return [measurement, ...cpuCells(transfer.cpu, perMegabyte), samples, transfer.tls]
}

/** Formats server cores, the server's CPU time per unit of work, client and machine cores. */
function cpuCells(cpu: CpuUse, serverTimePerUnit: string): string[] {
  const cores = (value: number) => value.toFixed(2)
  return [
    cores(cpu.processes.server ?? 0),
    serverTimePerUnit,
    cores(cpu.client),
    cores(cpu.machine),
  ]
}

function renderMethod(run: BenchRun): string[] {
  const s = run.settings
  const only = s.parts.length === benchParts.length ? '' : ` --only ${s.parts.join(',')}`
  // --sizes sets only the data path's files, so the command names it only when that part ran.
  const sizes = run.sizes.length === 0 ? '' : ` --sizes ${s.sizesMiB.join(',')}`
  const mode = s.mode === 'quick' ? ' --quick' : sizes
  const options = ` --${mode}${only}`
  const serve = 'node bin/image-library serve --data-dir bench/work/data-…'
  const exception = run.agents === null ? '' : ', except in the agents part'
  return [
    `Command: \`npm run bench${options}\` (source in \`bench/\`).`,
    'Units: MB = 10^6 bytes, so MB/s is 10^6 bytes per second and RSS is in 10^6 bytes.',
    '',
    ...inputsMethod(run),
    paragraph(
      `- **Server.** \`${serve} --host 127.0.0.1 --port 0 --identity-port 0\``,
      `with \`IMAGE_LIBRARY_LOG_LEVEL=warn\`${exception}.`,
      'Each part gets fresh data directories, removed afterwards.',
      'The benchmark process is the client and runs on the same cores.',
    ),
    ...dataMethod(run),
    ...metadataMethod(run),
    ...storeMethod(run),
    ...hostsMethod(run),
    ...agentsMethod(run),
    '- Timed numbers are reported, never asserted; the verdicts compare them with the targets.',
  ]
}

/** Describes the input files, which every part except the metadata path reads. */
function inputsMethod(run: BenchRun): string[] {
  if (run.settings.parts.every((part) => part === 'metadata')) return []
  const preRead =
    run.sizes.length === 0
      ? []
      : ['Before each run `dd of=/dev/null` reads it, so every reader finds it in the page cache.']
  return [
    paragraph(
      '- **Inputs.** One file per size in `bench/work/`, one random 64 MiB block repeated.',
      'Each is generated once and fsynced.',
      ...preRead,
    ),
  ]
}

function dataMethod(run: BenchRun): string[] {
  if (run.sizes.length === 0) return []
  const s = run.settings
  return [
    paragraph(
      '- **References**, timed as whole commands on the same file:',
      '`sha512sum FILE`, `md5sum FILE` and `dd if=FILE of=bench/work/dd.out bs=1M conv=fsync`.',
    ),
    paragraph(
      '- **Upload.** `POST /v2/images` (`disk_format=raw`, `container_format=bare`),',
      'then `PUT /v2/images/{id}/file` with `Content-Type: application/octet-stream`.',
      'node:https streams the file in 1 MiB reads, with `Content-Length`, on a new connection',
      'that trusts `<dataDir>/tls/ca.pem`.',
      'The time runs from the start of the request to the end of the 204 response.',
      "Afterwards the image's `checksum` and `os_hash_value` are compared with the output of",
      'md5sum and sha512sum.',
    ),
    paragraph(
      '- **Download.** `GET /v2/images/{id}/file` from the service,',
      "and `GET` of the same blob file in the service's store from nginx.",
      'The same node:https code reads each response to the end and discards it,',
      'on a new connection.',
      'Runs alternate between the two servers.',
      "nginx has 1 worker, `sendfile on`, TLS 1.2 and 1.3, and the service's certificate and key,",
      'in a throwaway configuration in `bench/work/nginx/`.',
      'Without kernel TLS nginx encrypts in user space,',
      'so `sendfile` does not apply to HTTPS here.',
    ),
    paragraph(
      `- **Runs.** The references and the upload ran ${s.uploadRuns} time(s) in turn.`,
      `The downloads ran ${s.downloadRuns} time(s) from each server.`,
      'The tables give the median rate and the highest RSS peak of all runs.',
    ),
    paragraph(
      "- **RSS.** `VmRSS` of the serving process (the service's node process or the nginx worker)",
      'from `/proc/<pid>/status`, sampled every 50 ms on a worker thread.',
    ),
  ]
}

function metadataMethod(run: BenchRun): string[] {
  if (run.metadata === null) return []
  const s = run.settings
  return [
    paragraph(
      `- **List.** ${s.images} images are created with metadata only.`,
      `Then \`GET /v2/images?limit=${s.images}\` runs on one keep-alive connection:`,
      `3 untimed requests, then ${s.listRuns} timed ones.`,
      'Each is timed from sending the request to the last byte of the response.',
    ),
    paragraph(
      `- **Request rate.** \`GET /v2/images/{id}\`, cycling through the ${s.images} ids,`,
      `over ${s.connections} keep-alive connections for ${s.rateSeconds} s.`,
      'Each connection waits for a response before it sends its next request.',
      'The node:https client runs first, after a 1 s warm-up.',
      'Then `wrk -t1` runs, when it is installed (`apt-get install wrk`).',
      'The target is judged on wrk, which is written in C and leaves more CPU to the server.',
    ),
  ]
}

function storeMethod(run: BenchRun): string[] {
  if (run.stores.length === 0) return []
  const size = sizeLabel(run.settings.storeSizeMiB)
  return [
    paragraph(
      '- **rbd and s3 stores.** `scripts/ceph.sh` starts a throwaway Ceph cluster on 127.0.0.1:',
      'one monitor, one OSD on memstore and radosgw.',
      `memstore keeps all data in RAM, so these files are ${size} (1 GiB in full mode).`,
      'The server is configured with a file store as the default, an rbd store on pool `rbd`',
      'and an s3 store on a bucket of radosgw.',
      'The upload is `PUT /v2/images/{id}/file` with `X-Image-Meta-Store`, timed as above,',
      "and afterwards the image's status, `stores` and size are checked.",
      `The download runs ${run.settings.downloadRuns} time(s), alternating with its reference.`,
    ),
    paragraph(
      '- **Store references**, on the same file:',
      '`rbd -c ceph.conf --keyring keyring import FILE rbd/NAME`',
      'and `rbd export rbd/NAME -` with stdout on /dev/null, timed as whole commands,',
      'and an S3 PUT with `Upload` of @aws-sdk/lib-storage',
      "(32 MiB parts, 4 at a time, as the service's s3 driver uses)",
      'and a `GetObject` read to the end, both from the benchmark process.',
      'Upload and reference ran once each.',
    ),
  ]
}

function hostsMethod(run: BenchRun): string[] {
  if (run.hosts === null) return []
  const { hosts } = run
  return [
    paragraph(
      `- **Hosts.** ${hosts.hosts} server processes on 127.0.0.1 share one SQLite file`,
      '(`[database] url`) and one file store directory (`[store] file_directory`),',
      'with distinct `[cluster] host_name`.',
      `One ${sizeLabel(hosts.sizeMiB)} image is uploaded once through the first host.`,
      `Each round starts ${hosts.clients} downloads at once:`,
      'spread round-robin over the hosts, then all from the first host,',
      'then from nginx (configured as above) serving the blob file.',
      'The aggregate rate is the bytes of all downloads divided by the time until the last ends.',
      `The rounds ran ${hosts.runs} time(s), and the table gives the median.`,
      'All hosts, nginx and the one client process share the same cores.',
    ),
  ]
}

function agentsMethod(run: BenchRun): string[] {
  if (run.agents === null) return []
  const { agents } = run
  return [
    paragraph(
      `- **Agents.** One ${sizeLabel(agents.sizeMiB)} image (\`disk_format=raw\`, the input file)`,
      'is uploaded once. For this part the server runs with `IMAGE_LIBRARY_LOG_LEVEL=info`,',
      'so that `<dataDir>/logs/image-library.log` has one access line per request.',
      'Each round starts `image-library agent serve` processes with empty cache directories',
      'in `bench/work/agents-…`, before its timer:',
      "`--max-size` twice the image, `--os-cacert` the server's CA and the admin `OS_*`",
      'variables of `admin-openrc.sh`.',
      `Then ${agents.requests} \`POST /v1/disks\` requests go out at once`,
      'on the agents\' Unix sockets, each `{"image", "size", "path", "format": "qcow2"}`',
      "with the image's size as the disk size and a path of its own:",
      `all to 1 agent, then round-robin over ${agents.manyAgents.agents} agents.`,
      'The time runs from sending the requests to the last response.',
      'The bytes served are the sum of `bytesOut` over the access lines of',
      '`GET /v2/images/{id}/file` for the image that the round added,',
      'and the target is one download per agent.',
      'Afterwards every overlay must pass `qemu-img check`, and `qemu-img info` must give the',
      "agent's cached copy as its backing file, or the part fails.",
      'Agents, caches and disks are removed after each round.',
    ),
    paragraph(
      "- **Agents reference.** `cp` of the image's blob file in the store to a new file on the",
      'same file system, then `sync FILE`, which fsyncs the copy, timed together.',
      "The ratio is the agents' time divided by the copy's.",
      `The rounds ran ${agents.runs} time(s), each copy first, and the table gives the medians.`,
      'The agents, the server and the benchmark process share the same cores.',
    ),
  ]
}

/** Joins sentences into one Markdown paragraph or list item. */
function paragraph(...sentences: string[]): string {
  return sentences.join(' ')
}

/** Renders a table with padded columns, the layout that Prettier gives Markdown tables. */
function markdownTable(header: string[], rows: string[][]): string {
  const widths = header.map((cell, column) =>
    Math.max(3, cell.length, ...rows.map((row) => (row[column] ?? '').length)),
  )
  const line = (cells: string[]) =>
    `| ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ')} |`
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join(
    '\n',
  )
}

function sizeLabel(sizeMiB: number): string {
  return sizeMiB % 1024 === 0 ? `${sizeMiB / 1024} GiB` : `${sizeMiB} MiB`
}

function rate(megabytesPerSecond: number): string {
  return `${megabytesPerSecond.toFixed(0)} MB/s`
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(0)} MB`
}

function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(0)}%`
}

function seconds(value: number): string {
  return `${value.toFixed(2)} s`
}

/** Formats a ratio as a multiple: `4×`, `4.25×`, or `13×` from 10 up. */
function times(ratio: number): string {
  return `${ratio.toFixed(ratio >= 10 || Number.isInteger(ratio) ? 0 : 2)}×`
}

/** Returns the values without repeats, in their first order. */
function distinct(values: string[]): string[] {
  return [...new Set(values)]
}

function verdict(isMet: boolean): string {
  return isMet ? 'met' : '**missed**'
}

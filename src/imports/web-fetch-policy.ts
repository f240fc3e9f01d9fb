import { BlockList, isIP } from 'node:net'
import { InvalidInputError } from '../domain/errors.js'

/** An IP address that passed the checks, in the form to connect to. */
export interface CheckedAddress {
  address: string
  family: 4 | 6
}

interface AllowListEntry {
  /** Lowercase host name without a trailing dot, or null for address and range entries. */
  name: string | null
  /** The addresses of an address or range entry, or null for a host name entry. */
  addresses: BlockList | null
  /** The only port the entry allows, or null for any port. */
  port: number | null
}

interface SpecialRange {
  kind: string
  cidr: string
  family: 4 | 6
  list: BlockList
}

const allowListSetting = '[import] web_download_allowed_hosts'

/**
 * Ranges that web-download rejects unless allowed. The first match names the range in the
 * message, so the broadcast address comes before 240.0.0.0/4, and :: and ::1 before ::/96.
 */
const specialRanges: SpecialRange[] = (
  [
    ['0.0.0.0/8', 'unspecified'],
    ['10.0.0.0/8', 'private'],
    ['100.64.0.0/10', 'carrier-grade NAT'],
    ['127.0.0.0/8', 'loopback'],
    // Contains the cloud metadata service at 169.254.169.254.
    ['169.254.0.0/16', 'link-local'],
    ['172.16.0.0/12', 'private'],
    ['192.0.0.0/24', 'reserved'],
    ['192.0.2.0/24', 'documentation'],
    ['192.168.0.0/16', 'private'],
    ['198.18.0.0/15', 'reserved'],
    ['198.51.100.0/24', 'documentation'],
    ['203.0.113.0/24', 'documentation'],
    ['224.0.0.0/4', 'multicast'],
    ['255.255.255.255/32', 'broadcast'],
    ['240.0.0.0/4', 'reserved'],
    ['::/128', 'unspecified'],
    ['::1/128', 'loopback'],
    ['::/96', 'reserved'],
    // IPv4-translated addresses (SIIT), which a translator maps to any IPv4 address.
    ['::ffff:0:0:0/96', 'reserved'],
    ['64:ff9b:1::/48', 'private'],
    ['100::/64', 'discard'],
    // Teredo and 6to4 tunnel to embedded IPv4 addresses, private ones included.
    ['2001::/32', 'tunnel'],
    ['2001:db8::/32', 'documentation'],
    ['2002::/16', 'tunnel'],
    ['fc00::/7', 'private'],
    ['fe80::/10', 'link-local'],
    ['fec0::/10', 'private'],
    ['ff00::/8', 'multicast'],
  ] as const
).map(([cidr, kind]) => {
  const [base, prefix] = cidr.split('/') as [string, string]
  const family = isIP(base) === 4 ? 4 : 6
  const list = new BlockList()
  list.addSubnet(base, Number(prefix), family === 4 ? 'ipv4' : 'ipv6')
  return { kind, cidr, family, list }
})

/**
 * The web-download allow-list and the private-address check. Both throw `InvalidInputError`
 * with a message that names the host or address and what an operator can do.
 */
export class AddressPolicy {
  readonly #entries: AllowListEntry[]
  readonly #allowPrivate: boolean

  /** Throws `TypeError` naming the first entry of `allowedHosts` that cannot be parsed. */
  constructor(allowedHosts: readonly string[], allowPrivate: boolean) {
    this.#entries = allowedHosts.map(parseAllowListEntry)
    this.#allowPrivate = allowPrivate
  }

  /**
   * Checks a URL's host before any DNS lookup: the allow-list, and the address itself when the
   * host is an IP address. `hostname` is in `URL.hostname` form, and messages show `displayHost`.
   */
  checkHost(hostname: string, port: number, displayHost: string): void {
    const literal = this.literalAddress(hostname)
    if (this.#entries.length > 0 && !this.#isHostListed(hostname, literal, port)) {
      throw new InvalidInputError(
        `Host ${displayHost} is not in the web-download allow-list (${allowListSetting}); ` +
          'ask an operator to allow it.',
      )
    }
    if (literal !== null) this.#checkAddress(literal, null, port)
  }

  /** Returns the address of a URL host that is an IP address, or null for a host name. */
  literalAddress(hostname: string): CheckedAddress | null {
    const address = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname
    const family = isIP(address)
    return family === 0 ? null : { address, family: family === 4 ? 4 : 6 }
  }

  /** Checks one address that `hostname` resolved to and returns it in the form to connect to. */
  checkResolvedAddress(hostname: string, address: string, port: number): CheckedAddress {
    const family = isIP(address)
    if (family === 0) {
      throw new TypeError(`The lookup for ${hostname} returned ${address}, not an IP address.`)
    }
    const checked: CheckedAddress = { address, family: family === 4 ? 4 : 6 }
    this.#checkAddress(checked, hostname, port)
    return checked
  }

  #isHostListed(hostname: string, literal: CheckedAddress | null, port: number): boolean {
    const name = literal === null ? stripTrailingDot(hostname) : null
    const canonical = literal === null ? null : canonicalAddress(literal)
    return this.#entries.some((entry) => {
      if (entry.port !== null && entry.port !== port) return false
      if (name !== null) return entry.name === name
      return canonical !== null && isInList(entry.addresses, canonical)
    })
  }

  #checkAddress(address: CheckedAddress, hostname: string | null, port: number): void {
    if (this.#allowPrivate) return
    const canonical = canonicalAddress(address)
    const range = findSpecialRange(canonical)
    if (range === null || this.#isAddressListed(canonical, port)) return

    const subject =
      hostname === null
        ? `Address ${address.address}`
        : `Address ${address.address} of host ${hostname}`
    throw new InvalidInputError(
      `${subject} is in the ${range.kind} range ${range.cidr}; web-download rejects private, ` +
        'loopback, link-local and other non-public addresses unless an operator allows them.',
    )
  }

  #isAddressListed(address: CheckedAddress, port: number): boolean {
    return this.#entries.some(
      (entry) => (entry.port === null || entry.port === port) && isInList(entry.addresses, address),
    )
  }
}

function isInList(list: BlockList | null, address: CheckedAddress): boolean {
  return list !== null && list.check(address.address, address.family === 4 ? 'ipv4' : 'ipv6')
}

function findSpecialRange(address: CheckedAddress): SpecialRange | null {
  const found = specialRanges.find(
    (range) =>
      range.family === address.family &&
      range.list.check(address.address, address.family === 4 ? 'ipv4' : 'ipv6'),
  )
  if (found !== undefined) return found

  // A NAT64 gateway forwards 64:ff9b::/96 to the IPv4 address in the last 32 bits.
  if (address.family === 6) {
    const groups = ipv6Groups(address.address)
    if (groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0)) {
      return findSpecialRange({ address: ipv4FromGroups(groups), family: 4 })
    }
  }
  return null
}

/** Drops a zone index and turns an IPv4-mapped IPv6 address (::ffff:a.b.c.d) into IPv4. */
function canonicalAddress(address: CheckedAddress): CheckedAddress {
  if (address.family === 4) return address
  const unzoned = address.address.split('%')[0]!
  const groups = ipv6Groups(unzoned)
  const isMapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff
  return isMapped ? { address: ipv4FromGroups(groups), family: 4 } : { address: unzoned, family: 6 }
}

/** Splits a valid IPv6 address into its eight 16-bit groups. */
function ipv6Groups(address: string): number[] {
  let text = address
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number]
    const high = ((a << 8) | b).toString(16)
    const low = ((c << 8) | d).toString(16)
    text = `${text.slice(0, dotted.index)}${high}:${low}`
  }

  const [head = '', tail] = text.split('::')
  const headGroups = head === '' ? [] : head.split(':')
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':')
  const zeros = Array<string>(8 - headGroups.length - tailGroups.length).fill('0')
  return [...headGroups, ...zeros, ...tailGroups].map((group) => parseInt(group, 16))
}

function ipv4FromGroups(groups: number[]): string {
  const high = groups[6]!
  const low = groups[7]!
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`
}

function stripTrailingDot(name: string): string {
  return name.endsWith('.') ? name.slice(0, -1) : name
}

function parseAllowListEntry(entry: string): AllowListEntry {
  const text = entry.trim()
  const parsed = text.includes('/') ? parseRangeEntry(text) : parseHostEntry(text)
  if (parsed === null) {
    throw new TypeError(
      `web-download allow-list entry ${JSON.stringify(entry)} is invalid: expected a host name, ` +
        'host:port, IP address, [IPv6]:port or CIDR range.',
    )
  }
  return parsed
}

function parseRangeEntry(text: string): AllowListEntry | null {
  const [base = '', prefixText = '', ...rest] = text.split('/')
  const family = isIP(base)
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : -1
  if (rest.length > 0 || family === 0 || prefix < 0 || prefix > (family === 4 ? 32 : 128)) {
    return null
  }

  const addresses = new BlockList()
  addresses.addSubnet(base, prefix, family === 4 ? 'ipv4' : 'ipv6')
  return { name: null, addresses, port: null }
}

function parseHostEntry(text: string): AllowListEntry | null {
  const split = splitHostPort(text)
  const hostname = split === null ? null : normalizeHostname(split.host)
  if (split === null || hostname === null) return null

  const bare = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname
  const family = isIP(bare)
  if (family === 0) return { name: stripTrailingDot(hostname), addresses: null, port: split.port }

  const address = canonicalAddress({ address: bare, family: family === 4 ? 4 : 6 })
  const addresses = new BlockList()
  addresses.addAddress(address.address, address.family === 4 ? 'ipv4' : 'ipv6')
  return { name: null, addresses, port: split.port }
}

function splitHostPort(text: string): { host: string; port: number | null } | null {
  if (isIP(text) === 6) return { host: `[${text}]`, port: null }

  const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(text)
  if (match === null) return null
  const port = match[2] === undefined ? null : Number(match[2])
  if (port !== null && (port < 1 || port > 65535)) return null
  return { host: match[1]!, port }
}

/**
 * Normalizes a host the way the URL parser does (lowercase, punycode, numeric IPv4 forms), so
 * entries compare equal to `URL.hostname`. Returns null when the host is invalid.
 */
function normalizeHostname(host: string): string | null {
  if (host === '' || /[\s/?#@\\%]/.test(host)) return null
  try {
    return new URL(`http://${host}/`).hostname
  } catch {
    return null
  }
}

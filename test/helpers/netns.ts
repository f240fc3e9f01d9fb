import { execFile } from 'node:child_process'
import { randomInt } from 'node:crypto'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** One network namespace with its own address on a private bridge. */
export interface NamespaceHost {
  namespace: string
  address: string
}

/** Namespaces joined by a bridge in the test's own namespace, which has `gateway`. */
export interface TestNetwork {
  gateway: string
  hosts: NamespaceHost[]
  /** Deletes the namespaces, the veth pairs and the bridge. */
  close(): Promise<void>
}

/** Why namespaces cannot be made here, or `null` when they can (root with `ip netns`). */
export async function netnsUnavailable(): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'network namespaces need root'
  try {
    await run('ip', ['netns', 'list'])
    return null
  } catch (error) {
    return `ip netns does not work here: ${(error as Error).message}`
  }
}

/**
 * Makes `count` namespaces, each with a veth pair into a bridge whose address is the gateway,
 * on a /24 in 10.213.0.0/16 that no route of this machine uses. Traffic stays on this machine.
 */
export async function createTestNetwork(count: number): Promise<TestNetwork> {
  const tag = randomInt(0x1000, 0xffff).toString(16)
  const subnet = await freeSubnet()
  const bridge = `ilbr${tag}`
  const hosts: NamespaceHost[] = []
  const network: TestNetwork = {
    gateway: `${subnet}.1`,
    hosts,
    async close() {
      for (const host of hosts) {
        await run('ip', ['netns', 'delete', host.namespace]).catch(() => undefined)
      }
      await run('ip', ['link', 'delete', bridge]).catch(() => undefined)
    },
  }
  try {
    await ip('link', 'add', bridge, 'type', 'bridge')
    await ip('addr', 'add', `${network.gateway}/24`, 'dev', bridge)
    await ip('link', 'set', bridge, 'up')
    for (let i = 0; i < count; i++) {
      const namespace = `il-${tag}-${i}`
      const address = `${subnet}.${10 + i}`
      const [outside, inside] = [`ilv${tag}${i}a`, `ilv${tag}${i}b`]
      await ip('netns', 'add', namespace)
      hosts.push({ namespace, address })
      await ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', inside)
      await ip('link', 'set', inside, 'netns', namespace)
      await ip('link', 'set', outside, 'master', bridge)
      await ip('link', 'set', outside, 'up')
      await ip('-n', namespace, 'addr', 'add', `${address}/24`, 'dev', inside)
      await ip('-n', namespace, 'link', 'set', inside, 'up')
      await ip('-n', namespace, 'link', 'set', 'lo', 'up')
    }
    return network
  } catch (error) {
    await network.close()
    throw error
  }
}

async function ip(...args: string[]): Promise<void> {
  await run('ip', args)
}

async function freeSubnet(): Promise<string> {
  const { stdout } = await run('ip', ['-4', 'route', 'show'])
  for (let attempt = 0; attempt < 50; attempt++) {
    const subnet = `10.213.${randomInt(1, 254)}`
    if (!stdout.includes(`${subnet}.`)) return subnet
  }
  throw new Error('no free 10.213.x.0/24 subnet for the test network')
}

import { isAbsolute } from 'node:path'
import { RbdStore, type RbdStoreConfig } from './driver.js'

const poolPattern = /^[A-Za-z0-9._-]{1,100}$/
const clientPattern = /^[A-Za-z0-9._-]{1,100}$/

/** Validates the rbd store's settings and returns the store; it does not contact the cluster. */
export function createRbdStore(config: RbdStoreConfig): RbdStore {
  if (!poolPattern.test(config.pool)) {
    throw new TypeError(`an rbd pool name must be 1-100 of [A-Za-z0-9._-], got ${config.pool}`)
  }
  if (!clientPattern.test(config.client) || config.client.startsWith('client.')) {
    throw new TypeError(
      `an rbd client must be a cephx user id without "client.", such as glance, got ${config.client}`,
    )
  }
  for (const [name, path] of [
    ['ceph_conf', config.cephConf],
    ['keyring', config.keyring],
  ]) {
    if (path !== null && !isAbsolute(path)) {
      throw new TypeError(`an rbd store ${name} must be an absolute path, got ${path}`)
    }
  }
  return new RbdStore(config)
}

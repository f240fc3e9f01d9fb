import { InvalidArgumentError, type Command } from 'commander'
import type { ConfigOverrides } from './config.js'

/** Parses a TCP port flag. */
export function port(value: string): number {
  const number = Number(value)
  if (!/^\d+$/.test(value) || number > 65535) {
    throw new InvalidArgumentError(`${value} is not a port number (0-65535).`)
  }
  return number
}

/** Flags every subcommand shares: where the data is and how to read the configuration. */
export function addConfigOptions(command: Command): Command {
  return command
    .option('--data-dir <dir>', 'data directory (env IMAGE_LIBRARY_DATA_DIR; default ./data)')
    .option('--config <file>', 'configuration file (default <data-dir>/image-library.toml)')
    .option(
      '--database-url <url>',
      'metadata database URL, sqlite:///path or postgresql://user:password@host/db (env IMAGE_LIBRARY_DATABASE_URL)',
    )
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace')
}

export function overridesFrom(options: Record<string, unknown>): ConfigOverrides {
  const pick = <T>(key: string) => options[key] as T | undefined
  const overrides: ConfigOverrides = {}
  const set = <K extends keyof ConfigOverrides>(key: K, value: ConfigOverrides[K] | undefined) => {
    if (value !== undefined) overrides[key] = value
  }
  set('dataDir', pick('dataDir'))
  set('configFile', pick('config'))
  set('databaseUrl', pick('databaseUrl'))
  set('logLevel', pick('logLevel'))
  set('host', pick('host'))
  set('port', pick('port'))
  set('identityPort', pick('identityPort'))
  set('publicHost', pick('publicHost'))
  set('certFile', pick('cert'))
  set('keyFile', pick('key'))
  return overrides
}

import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ConfigError, loadConfig, type StoreConfig } from './config.js'

function directoryOf(store: StoreConfig): string | null {
  return store.type === 'file' ? store.directory : null
}

/** Returns the settings of the store's type, without those that every store has. */
function typeSettingsOf(store: StoreConfig): object {
  const { id, description, weight, isDefault, local, ...settings } = store
  return settings
}

describe('configuration', () => {
  let dir: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'config-test-'))
  })

  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('has embedded defaults under the data directory', () => {
    const config = loadConfig({ dataDir: dir }, {})
    assert.equal(config.server.port, 9292)
    assert.equal(config.server.identityPort, 5000)
    assert.equal(config.tls.enabled, true)
    assert.equal(config.database.url, `sqlite://${join(dir, 'image-library.db')}`)
    assert.deepEqual(
      config.stores.map((store) => [store.id, directoryOf(store), store.isDefault]),
      [['file', join(dir, 'images'), true]],
    )
    assert.deepEqual(config.imports.methods, ['glance-direct', 'web-download', 'copy-image'])
    assert.equal(config.quotas.imageCountTotal, -1)
    assert.equal(config.log.file, join(dir, 'logs', 'image-library.log'))
    assert.equal(config.server.publicHost, 'localhost')
    assert.ok(Object.isFrozen(config.server))
  })

  it('reads the file, and flags override it', async () => {
    await writeFile(
      join(dir, 'image-library.toml'),
      '[server]\nport = 9393\npublic_host = "img.example"\n',
    )
    const config = loadConfig({ dataDir: dir, port: 9494 }, {})
    assert.equal(config.server.port, 9494)
    assert.equal(config.server.publicHost, 'img.example')
  })

  it('takes the data directory and database from the environment', () => {
    const config = loadConfig(
      {},
      { IMAGE_LIBRARY_DATA_DIR: dir, IMAGE_LIBRARY_DATABASE_URL: 'sqlite:///tmp/x.db' },
    )
    assert.equal(config.dataDir, dir)
    assert.equal(config.database.url, 'sqlite:///tmp/x.db')
  })

  it('reads several stores and the default among them', async () => {
    const file = join(dir, 'stores.toml')
    await writeFile(
      file,
      '[store]\ndefault = "cheap"\n' +
        '[stores.fast]\ntype = "file"\ndirectory = "fast"\nweight = 10\n' +
        '[stores.cheap]\ntype = "file"\ndirectory = "/srv/cheap"\ndescription = "Slow disks"\n',
    )
    const config = loadConfig({ dataDir: dir, configFile: file }, {})
    assert.deepEqual(
      config.stores.map((s) => [s.id, directoryOf(s), s.weight, s.isDefault, s.description]),
      [
        ['fast', join(dir, 'fast'), 10, false, 'Image data in fast'],
        ['cheap', '/srv/cheap', 0, true, 'Slow disks'],
      ],
    )
  })

  it('reads rbd and s3 stores with their defaults', async () => {
    const file = join(dir, 'ceph-stores.toml')
    await writeFile(
      file,
      '[stores.block]\ntype = "rbd"\npool = "images"\n' +
        '[stores.block2]\ntype = "rbd"\npool = "vms"\nceph_conf = "ceph/ceph.conf"\n' +
        'client = "glance"\nkeyring = "/etc/ceph/ceph.client.glance.keyring"\n' +
        '[stores.objects]\ntype = "s3"\nendpoint = "http://127.0.0.1:7480"\nbucket = "images"\n' +
        'access_key = "AK"\nsecret_key = "SK"\n' +
        '[stores.objects2]\ntype = "s3"\nendpoint = "https://s3.test"\nbucket = "b2"\n' +
        'region = "eu-1"\ncredentials_file = "s3.env"\n',
    )
    const stores = loadConfig({ dataDir: dir, configFile: file }, {}).stores
    assert.deepEqual(stores.map(typeSettingsOf), [
      {
        type: 'rbd',
        pool: 'images',
        cephConf: '/etc/ceph/ceph.conf',
        client: 'admin',
        keyring: null,
      },
      {
        type: 'rbd',
        pool: 'vms',
        cephConf: join(dir, 'ceph', 'ceph.conf'),
        client: 'glance',
        keyring: '/etc/ceph/ceph.client.glance.keyring',
      },
      {
        type: 's3',
        endpoint: 'http://127.0.0.1:7480',
        region: 'us-east-1',
        bucket: 'images',
        accessKey: 'AK',
        secretKey: 'SK',
        credentialsFile: null,
      },
      {
        type: 's3',
        endpoint: 'https://s3.test',
        region: 'eu-1',
        bucket: 'b2',
        accessKey: null,
        secretKey: null,
        credentialsFile: join(dir, 's3.env'),
      },
    ])
  })

  it('names the missing or unknown key of an rbd or s3 store', async () => {
    const s3 = '[stores.o]\ntype = "s3"\nendpoint = "http://127.0.0.1:1"\nbucket = "images"\n'
    const cases: [string, RegExp][] = [
      ['[stores.a]\ndirectory = "x"\n', /stores\.a needs type/],
      ['[stores.r]\ntype = "rbd"\n', /stores\.r needs pool/],
      [
        '[stores.r]\ntype = "rbd"\npool = "p"\ndirectory = "x"\n',
        /unknown key stores\.r\.directory; rbd stores accept .*ceph_conf/,
      ],
      ['[stores.r]\ntype = "rbd"\npool = 3\n', /stores\.r\.pool is 3, expected a string/],
      [
        '[stores.o]\ntype = "s3"\nbucket = "b"\naccess_key = "a"\nsecret_key = "s"\n',
        /stores\.o needs endpoint/,
      ],
      [s3, /stores\.o needs access_key and secret_key, or credentials_file/],
      [s3 + 'access_key = "a"\n', /stores\.o sets access_key but not secret_key/],
      [s3 + 'secret_key = "s"\npool = "p"\n', /unknown key stores\.o\.pool; s3 stores accept/],
    ]
    for (const [text, pattern] of cases) {
      const file = join(dir, 'bad-ceph-store.toml')
      await writeFile(file, text)
      assert.throws(() => loadConfig({ dataDir: dir, configFile: file }, {}), pattern, text)
    }
  })

  it('rejects invalid store settings', async () => {
    const cases: [string, RegExp][] = [
      ['[stores.a]\ntype = "file"\n', /stores\.a needs directory/],
      ['[stores.a]\ntype = "file"\ndirectory = "x"\nsize = 1\n', /unknown key stores\.a\.size/],
      ['[stores.a]\ntype = "nfs"\ndirectory = "x"\n', /stores\.a\.type .*one of file/],
      [
        '[store]\ndefault = "b"\n[stores.a]\ntype = "file"\ndirectory = "x"\n',
        /not a configured store/,
      ],
      ['[import]\nmethods = ["glance-direct", "ftp"]\n', /import\.methods .*values among/],
      ['[stores.http]\ntype = "file"\ndirectory = "x"\n', /store id http is reserved/],
      ['[cluster]\nheartbeat_interval = 5\nheartbeat_timeout = 6\n', /at least twice/],
      ['[stores.a]\ntype = "file"\ndirectory = "cache"\n', /overlaps the cache directory/],
      [
        '[stores.a]\ntype = "file"\ndirectory = "x"\n[stores.b]\ntype = "file"\ndirectory = "x/y"\n',
        /store a directory .* overlaps the store b directory/,
      ],
    ]
    for (const [text, pattern] of cases) {
      const file = join(dir, 'bad-store.toml')
      await writeFile(file, text)
      assert.throws(() => loadConfig({ dataDir: dir, configFile: file }, {}), pattern)
    }
  })

  it('names an unknown key and lists the valid ones', async () => {
    const file = join(dir, 'bad-key.toml')
    await writeFile(file, '[server]\nprot = 1\n')
    assert.throws(
      () => loadConfig({ dataDir: dir, configFile: file }, {}),
      (error: Error) => {
        assert.ok(error instanceof ConfigError)
        assert.match(error.message, /unknown key server\.prot/)
        assert.match(error.message, /port/)
        return true
      },
    )
  })

  it('names a value of the wrong type or range', async () => {
    const file = join(dir, 'bad-value.toml')
    await writeFile(file, '[server]\nport = "high"\n')
    assert.throws(
      () => loadConfig({ dataDir: dir, configFile: file }, {}),
      /server\.port is "high", expected an integer/,
    )
    await writeFile(file, '[server]\nport = 70000\n')
    assert.throws(() => loadConfig({ dataDir: dir, configFile: file }, {}), /at most 65535/)
  })

  it('rejects an unknown section, bad TOML and a missing explicit file', async () => {
    const file = join(dir, 'bad-section.toml')
    await writeFile(file, '[storage]\nx = 1\n')
    assert.throws(
      () => loadConfig({ dataDir: dir, configFile: file }, {}),
      /unknown section \[storage\]/,
    )
    await writeFile(file, '[server\n')
    assert.throws(() => loadConfig({ dataDir: dir, configFile: file }, {}), /not valid TOML/)
    assert.throws(
      () => loadConfig({ dataDir: dir, configFile: join(dir, 'none.toml') }, {}),
      /does not exist/,
    )
  })

  it('rejects an unknown log level', () => {
    assert.throws(
      () => loadConfig({ dataDir: dir, logLevel: 'loud' }, {}),
      /log level loud is invalid/,
    )
  })
})

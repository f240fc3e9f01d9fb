import { spawn } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { createServer, connect } from 'node:net'
import { join } from 'node:path'
import { stopChild } from './service.js'

/** The reference file server: Debian's nginx serving one directory over HTTPS on loopback. */
export interface ReferenceServer {
  origin: string
  /** URL path prefix under which the files of `root` are served. */
  prefix: string
  /** The worker process, which does the serving; the master only supervises it. */
  workerPid: number
  stop(): Promise<void>
}

export interface NginxOptions {
  /** Throwaway directory for the configuration, pid file, logs and temp directories. */
  workDir: string
  root: string
  certFile: string
  keyFile: string
}

/** Starts nginx in the foreground with a configuration of its own and waits for its port. */
export async function startNginx(options: NginxOptions): Promise<ReferenceServer> {
  await mkdir(options.workDir, { recursive: true })
  const port = await findFreePort()
  const configFile = join(options.workDir, 'nginx.conf')
  await writeFile(configFile, nginxConfig(options, port))

  const child = spawn('nginx', ['-p', options.workDir, '-c', configFile], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4096)))
  const exited = new Promise<never>((_resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`nginx exited with ${code}: ${stderr}`)))
  })

  await Promise.race([waitForPort(port, 10_000), exited])
  const workerPid = await Promise.race([findWorkerPid(child.pid!), exited])
  child.removeAllListeners('exit')
  return {
    origin: `https://127.0.0.1:${port}`,
    prefix: '/blobs/',
    workerPid,
    stop: () => stopChild(child, 'nginx'),
  }
}

function nginxConfig(options: NginxOptions, port: number): string {
  const dir = options.workDir
  // nginx started as root runs its workers as `nobody`, who cannot read the service's blob
  // directory (mode 0750), so the workers keep root's identity instead.
  const user = process.getuid?.() === 0 ? 'user root;\n' : ''
  return `${user}worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  default_type application/octet-stream;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${options.certFile};
    ssl_certificate_key ${options.keyFile};
    # nginx 1.22 enables only up to TLS 1.2 by default; the service and its clients use TLS 1.3.
    ssl_protocols TLSv1.2 TLSv1.3;
    location /blobs/ { alias ${options.root}/; }
  }
}
`
}

/** Asks the kernel for a free loopback port; nginx binds it a moment later. */
function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('the kernel returned no port for 127.0.0.1:0')),
      )
    })
  })
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await canConnect(port))) {
    if (Date.now() > deadline)
      throw new Error(`nginx did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

async function findWorkerPid(masterPid: number): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const children = await readFile(`/proc/${masterPid}/task/${masterPid}/children`, 'utf8')
    const pid = Number(children.trim().split(/\s+/)[0])
    if (pid > 0) return pid
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`nginx master ${masterPid} started no worker within 5 s`)
}

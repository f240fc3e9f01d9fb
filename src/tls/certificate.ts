// @peculiar/x509 resolves its ASN.1 serializers through tsyringe, which needs this polyfill.
import 'reflect-metadata'
import { randomBytes, webcrypto } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { hostname } from 'node:os'
import { dirname } from 'node:path'
import * as x509 from '@peculiar/x509'

type KeyPair = webcrypto.CryptoKeyPair

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])

const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const
const validYears = 10

export interface CertificatePaths {
  certFile: string
  keyFile: string
  /** The CA that signed the certificate; clients trust this file (`OS_CACERT`). */
  caFile: string
}

/** Names and addresses the generated certificate covers, besides `extraNames`. */
export function defaultSubjectNames(extraNames: string[]): string[] {
  const names = ['localhost', '127.0.0.1', '::1', hostname(), ...extraNames]
  return [...new Set(names.filter((name) => name !== '' && name !== '0.0.0.0' && name !== '::'))]
}

/**
 * Creates a private CA and a server certificate signed by it, unless the certificate file
 * already exists. Keys are EC P-256, signatures SHA-256; files are written mode 0600.
 * Returns `true` when it generated new files.
 */
export async function ensureCertificate(
  paths: CertificatePaths,
  names: string[],
): Promise<boolean> {
  if (existsSync(paths.certFile) && existsSync(paths.keyFile)) return false

  const now = new Date()
  const notAfter = new Date(now)
  notAfter.setFullYear(now.getFullYear() + validYears)

  const caKeys = await generateKeys()
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=Image Library CA ${names[0] ?? 'localhost'}`,
    notBefore: now,
    notAfter,
    keys: caKeys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  })

  const serverKeys = await generateKeys()
  const server = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${names[0] ?? 'localhost'}`,
    issuer: ca.subject,
    notBefore: now,
    notAfter,
    publicKey: serverKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        names.map((name) =>
          isIP(name) ? { type: 'ip', value: name } : { type: 'dns', value: name },
        ),
      ),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  })

  const serverKey = await webcrypto.subtle.exportKey('pkcs8', serverKeys.privateKey)
  await writePrivate(paths.keyFile, x509.PemConverter.encode(serverKey, 'PRIVATE KEY'))
  await writeFile(paths.caFile, ca.toString('pem') + '\n', { mode: 0o644 })
  // The chain lets clients that were given only the CA verify the server.
  await writePrivate(paths.certFile, server.toString('pem') + '\n' + ca.toString('pem') + '\n')
  return true
}

async function generateKeys(): Promise<KeyPair> {
  return (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as KeyPair
}

function serial(): string {
  const bytes = randomBytes(16)
  bytes[0] = bytes[0]! & 0x7f
  return bytes.toString('hex')
}

async function writePrivate(file: string, content: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  await writeFile(file, content, { mode: 0o600 })
}

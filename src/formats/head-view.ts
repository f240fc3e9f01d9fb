import type { Inspection } from './inspector.js'

/** The captured start of the stream, as the format parsers see it. */
export interface HeadView {
  /** Bytes from offset 0 of the stream, up to the capture limit. */
  readonly bytes: Buffer
  /** Whether the stream has ended, so that no more bytes will arrive. */
  readonly ended: boolean
}

/**
 * A parser's request to run again once the head contains at least `end` bytes. When the stream has
 * already ended, the inspector turns it into a truncated-header rejection.
 */
export class NeedBytes {
  readonly end: number

  constructor(end: number) {
    this.end = end
  }
}

/** The end of the stream, for checks that need the total length or the last bytes. */
export interface StreamEnd {
  readonly totalBytes: number
  /** The last `min(totalBytes, tail size)` bytes of the stream. */
  readonly tail: Buffer
}

/** A parser's verdict on the head; `settle` completes the inspection once the stream has ended. */
export interface HeadResult {
  settle(end: StreamEnd): Inspection
}

/** Wraps an inspection that the head alone decides. */
export function settled(inspection: Inspection): HeadResult {
  return { settle: () => inspection }
}

const maxSafeInteger = BigInt(Number.MAX_SAFE_INTEGER)

/** Reads an unsigned 64-bit little-endian integer, or returns undefined above 2^53 - 1. */
export function readSafeUInt64LE(bytes: Buffer, offset: number): number | undefined {
  const value = bytes.readBigUInt64LE(offset)
  return value <= maxSafeInteger ? Number(value) : undefined
}

/** Reads an unsigned 64-bit big-endian integer, or returns undefined above 2^53 - 1. */
export function readSafeUInt64BE(bytes: Buffer, offset: number): number | undefined {
  const value = bytes.readBigUInt64BE(offset)
  return value <= maxSafeInteger ? Number(value) : undefined
}

/** Returns whether `bytes` contains `signature` at `offset`. A short buffer never matches. */
export function hasSignatureAt(bytes: Buffer, offset: number, signature: Buffer): boolean {
  if (offset < 0 || bytes.length < offset + signature.length) return false

  return bytes.compare(signature, 0, signature.length, offset, offset + signature.length) === 0
}

/** Decodes bytes as Latin-1 up to the first NUL, the way C code reads a descriptor string. */
export function readCString(bytes: Buffer): string {
  const nul = bytes.indexOf(0)
  return bytes.toString('latin1', 0, nul === -1 ? bytes.length : nul)
}

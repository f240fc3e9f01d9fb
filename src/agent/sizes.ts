const units: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
}

/**
 * Parses a size such as `20G`, `512MiB`, `1.5T` or `1048576` into bytes. Single letters are
 * binary, as in qemu-img (`20G` is 20 GiB); `GB` is decimal. Throws a RangeError that quotes the
 * text when it is not a size.
 */
export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text)
  const multiplier = match === null ? undefined : units[match[2]!.toLowerCase()]
  if (match === null || multiplier === undefined) {
    throw new RangeError(
      `'${text}' is not a size: give bytes or a number with K, M, G or T (for example 20G).`,
    )
  }
  const bytes = Math.floor(Number(match[1]) * multiplier)
  if (!Number.isSafeInteger(bytes)) throw new RangeError(`'${text}' is too large.`)
  return bytes
}

/** A cache limit: a number of bytes, or a share of the file system that contains the cache. */
export type CacheLimit = { bytes: number } | { percent: number }

/** Parses `--max-size`: a size (see parseSize) or a percentage such as `80%`. */
export function parseCacheLimit(text: string): CacheLimit {
  const percent = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(text)
  if (percent === null) {
    const bytes = parseSize(text)
    if (bytes === 0)
      throw new RangeError(
        `A cache limit of '${text}' leaves no room for any image; give a size above 0.`,
      )
    return { bytes }
  }

  const value = Number(percent[1])
  if (value <= 0 || value > 100) {
    throw new RangeError(`'${text}' is not a percentage between 0 and 100.`)
  }
  return { percent: value }
}

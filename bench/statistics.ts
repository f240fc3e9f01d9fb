/**
 * Computes the median of `values`, which is the mean of the two middle values when their count
 * is even.
 */
export function median(values: number[]): number {
  if (values.length === 0) throw new TypeError('median of an empty list')
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** Computes the nearest-rank percentile `p` (0 to 100) of `values`. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) throw new TypeError('percentile of an empty list')
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length))
  return sorted[rank - 1]!
}

/**
 * @file Wall-clock latency: warm-up runs excluded, median of repeats (machines are noisy).
 */

export interface LatencyResult {
  medianMs: number;
  samplesMs: number[];
}

export function measureLatency(fn: () => void, options: { warmup?: number; repeats?: number } = {}): LatencyResult {
  const warmup = options.warmup ?? 1, repeats = options.repeats ?? 5;
  for (let i = 0; i < warmup; i++) fn();
  const samplesMs: number[] = [];
  for (let i = 0; i < repeats; i++) samplesMs.push(timeMs(fn));
  return { medianMs: median(samplesMs), samplesMs };
}

/** Wall-clock milliseconds of one call. */
export function timeMs(fn: () => void): number {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** The median (the mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

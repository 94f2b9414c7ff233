/**
 * @file Wall-clock timing for the benchmarks: the median of repeats after warm-up, each call in its
 * own memory scope (so that repeats do not pile up tensors).
 */
import { scope } from "../engine/index.js";

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Median wall time of fn in ms after `warmup` untimed calls. */
export function time(fn: () => void, repeats: number, warmup = 2): number {
  for (let i = 0; i < warmup; i++) scope(fn);
  const samples: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = process.hrtime.bigint();
    scope(fn);
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return median(samples);
}

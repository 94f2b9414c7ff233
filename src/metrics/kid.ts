/**
 * @file Kernel distance (KID; Bińkowski et al. 2018): the unbiased estimate of the squared MMD
 * under the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets.
 *
 * Follows clean-fid's `kernel_distance`: `num_subsets = 100` subsets of size
 * m = min(n1, n2, 1000), each drawn without replacement from each set independently; per subset
 *
 *   MMD^2_u = (sum_{i != j} k(x_i, x_j) + sum_{i != j} k(y_i, y_j)) / (m (m - 1))
 *             - 2 sum_{i, j} k(x_i, y_j) / m^2
 *
 * and KID is the mean over subsets. clean-fid returns only the mean; like torch-fidelity we also
 * return the standard deviation of the per-subset estimates (population std, ddof = 0). That std
 * describes the spread of one subset's estimate, not the standard error of the mean; subsets
 * overlap, so no simple standard error follows from it. When m equals both set sizes, every
 * "subset" is the whole set, all estimates are identical and the std is 0 (clean-fid computes the
 * same number 100 times; here it is computed once).
 *
 * Subsets come from the caller's `Generator` (first m entries of a uniform permutation), so a
 * result is reproducible from its seed. The estimate is unbiased and can be slightly negative.
 *
 * Cost: numSubsets * 3 m^2 kernel evaluations of O(d). When the full kernel matrices fit in a
 * modest budget (KERNEL_CACHE_ENTRIES doubles) and would be evaluated more than once, they are
 * computed once and looked up instead.
 */
import type { Generator } from "../engine/rng.js";
import { assertFinite } from "./linalg.js";

/** Largest number of cached kernel entries (n1^2 + n2^2 + n1 n2); 2^23 doubles = 64 MiB. */
export const KERNEL_CACHE_ENTRIES = 1 << 23;

export interface KidOptions {
  /** Subset sampler (required so that results are reproducible). */
  rng: Generator;
  /** Number of subsets (default 100, as clean-fid and torch-fidelity). */
  numSubsets?: number;
  /** Largest subset size (default 1000); the size used is min(n1, n2, maxSubsetSize). */
  maxSubsetSize?: number;
}

export interface KidResult {
  /** Mean of the per-subset unbiased MMD^2 estimates (the KID). */
  mean: number;
  /** Population standard deviation of the per-subset estimates. */
  std: number;
  /** Subset size m actually used. */
  subsetSize: number;
  /** The per-subset estimates. */
  subsets: Float64Array;
}

/** The cubic polynomial kernel (a.b / d + 1)^3 between row i of `a` and row j of `b`. */
function polyKernel(a: ArrayLike<number>, i: number, b: ArrayLike<number>, j: number, d: number): number {
  let dot = 0;
  const ai = i * d;
  const bj = j * d;
  for (let t = 0; t < d; t++) dot += (a[ai + t] as number) * (b[bj + t] as number);
  const z = dot / d + 1;
  return z * z * z;
}

/** Kernel values between the rows of two sets, either cached as a full matrix or computed on demand. */
class KernelBlock {
  private readonly cache: Float64Array | null;

  constructor(
    private readonly a: ArrayLike<number>,
    private readonly na: number,
    private readonly b: ArrayLike<number>,
    private readonly nb: number,
    private readonly d: number,
    cached: boolean,
    symmetric: boolean,
  ) {
    if (!cached) {
      this.cache = null;
      return;
    }
    const k = new Float64Array(na * nb);
    for (let i = 0; i < na; i++) {
      for (let j = symmetric ? i : 0; j < nb; j++) {
        const v = polyKernel(a, i, b, j, d);
        k[i * nb + j] = v;
        if (symmetric) k[j * nb + i] = v;
      }
    }
    this.cache = k;
  }

  value(i: number, j: number): number {
    return this.cache !== null ? this.cache[i * this.nb + j]! : polyKernel(this.a, i, this.b, j, this.d);
  }
}

/** sum_{i != j} k(x_{idx_i}, x_{idx_j}) over a subset of one set. */
function withinSum(block: KernelBlock, idx: Int32Array): number {
  let s = 0;
  for (let p = 0; p < idx.length; p++) {
    const i = idx[p]!;
    for (let q = p + 1; q < idx.length; q++) s += block.value(i, idx[q]!);
  }
  return 2 * s;
}

/** sum_{i, j} k(x_{ix_i}, y_{iy_j}). */
function crossSum(block: KernelBlock, ix: Int32Array, iy: Int32Array): number {
  let s = 0;
  for (let p = 0; p < ix.length; p++) {
    const i = ix[p]!;
    for (let q = 0; q < iy.length; q++) s += block.value(i, iy[q]!);
  }
  return s;
}

function range(n: number): Int32Array {
  const r = new Int32Array(n);
  for (let i = 0; i < n; i++) r[i] = i;
  return r;
}

/**
 * The unbiased MMD^2 estimate under the cubic polynomial kernel between two whole feature sets
 * (n1 x d and n2 x d, row-major; the sets may differ in size, each needs >= 2 samples). This is
 * one KID subset term, generalised to unequal sizes:
 * sumXX / (n1 (n1-1)) + sumYY / (n2 (n2-1)) - 2 sumXY / (n1 n2).
 */
export function mmd2Unbiased(x: ArrayLike<number>, y: ArrayLike<number>, n1: number, n2: number, d: number): number {
  checkSets("mmd2Unbiased", x, y, n1, n2, d);
  const kxx = new KernelBlock(x, n1, x, n1, d, false, true);
  const kyy = new KernelBlock(y, n2, y, n2, d, false, true);
  const kxy = new KernelBlock(x, n1, y, n2, d, false, false);
  const ix = range(n1);
  const iy = range(n2);
  return (
    withinSum(kxx, ix) / (n1 * (n1 - 1)) + withinSum(kyy, iy) / (n2 * (n2 - 1)) - (2 * crossSum(kxy, ix, iy)) / (n1 * n2)
  );
}

function checkSets(what: string, x: ArrayLike<number>, y: ArrayLike<number>, n1: number, n2: number, d: number): void {
  for (const v of [n1, n2, d]) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`${what}: invalid size ${v}`);
  }
  if (d < 1) throw new Error(`${what}: feature dimension must be >= 1`);
  if (x.length !== n1 * d) throw new Error(`${what}: first set has ${x.length} values, expected ${n1}x${d}`);
  if (y.length !== n2 * d) throw new Error(`${what}: second set has ${y.length} values, expected ${n2}x${d}`);
  if (n1 < 2 || n2 < 2) throw new Error(`${what}: each set needs at least 2 samples (got ${n1} and ${n2})`);
  assertFinite(`${what} (first set)`, x);
  assertFinite(`${what} (second set)`, y);
}

/**
 * KID between feature sets x (n1 x d) and y (n2 x d), row-major, rows are samples. Symmetric in
 * its arguments up to the random subsets.
 */
export function kernelInceptionDistance(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  n1: number,
  n2: number,
  d: number,
  options: KidOptions,
): KidResult {
  checkSets("kid", x, y, n1, n2, d);
  const numSubsets = options.numSubsets ?? 100;
  const maxSubsetSize = options.maxSubsetSize ?? 1000;
  if (!Number.isInteger(numSubsets) || numSubsets < 1) throw new Error(`kid: numSubsets must be >= 1, got ${numSubsets}`);
  if (!Number.isInteger(maxSubsetSize) || maxSubsetSize < 2) {
    throw new Error(`kid: maxSubsetSize must be an integer >= 2, got ${maxSubsetSize}`);
  }
  const m = Math.min(n1, n2, maxSubsetSize);
  const xFull = m === n1;
  const yFull = m === n2;

  const subsets = new Float64Array(numSubsets);
  if (xFull && yFull) {
    // Every subset is the whole of both sets: one evaluation gives all of them.
    subsets.fill(mmd2Unbiased(x, y, n1, n2, d));
  } else {
    const cacheEntries = n1 * n1 + n2 * n2 + n1 * n2;
    const evaluations = numSubsets * 3 * m * m;
    const cached = cacheEntries <= KERNEL_CACHE_ENTRIES && evaluations > cacheEntries;
    const kxx = new KernelBlock(x, n1, x, n1, d, cached && !xFull, true);
    const kyy = new KernelBlock(y, n2, y, n2, d, cached && !yFull, true);
    const kxy = new KernelBlock(x, n1, y, n2, d, cached, false);
    // A set used whole contributes the same within-set sum to every subset.
    const fixedXX = xFull ? withinSum(kxx, range(n1)) : null;
    const fixedYY = yFull ? withinSum(kyy, range(n2)) : null;
    for (let s = 0; s < numSubsets; s++) {
      const ix = xFull ? range(n1) : options.rng.permutation(n1).subarray(0, m);
      const iy = yFull ? range(n2) : options.rng.permutation(n2).subarray(0, m);
      const sxx = fixedXX ?? withinSum(kxx, ix);
      const syy = fixedYY ?? withinSum(kyy, iy);
      const sxy = crossSum(kxy, ix, iy);
      subsets[s] = (sxx + syy) / (m * (m - 1)) - (2 * sxy) / (m * m);
    }
  }

  let mean = 0;
  for (let s = 0; s < numSubsets; s++) mean += subsets[s]!;
  mean /= numSubsets;
  let variance = 0;
  for (let s = 0; s < numSubsets; s++) variance += (subsets[s]! - mean) ** 2;
  const std = Math.sqrt(variance / numSubsets);
  return { mean, std, subsetSize: m, subsets };
}

/** Alias with the neutral name to use when the features are not Inception's. */
export const kernelDistance = kernelInceptionDistance;

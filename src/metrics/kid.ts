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
 * Subsets come from the caller's `Generator` (the first m entries of a uniform permutation, drawn
 * for the first set, then the second, per subset), so a result is reproducible from its seed. The
 * estimate is unbiased and can be slightly negative.
 *
 * Arithmetic. The inner products x.y come from a Gram matrix, by default the engine's float32
 * SGEMM (`gram: "float32"`), which is what makes the default 100 subsets of 1000 affordable
 * (3 x 10^8 multiply-adds per subset at d = 128); the kernel values and all sums are float64.
 * Float32 dot products carry a relative error of about sqrt(d) * 6e-8 of |x||y|, far below the
 * subset-to-subset spread. `gram: "float64"` computes the products in float64 in TypeScript
 * instead (exact up to float64 rounding, several times slower). Large sets are processed in row
 * blocks so no full n1 x n2 matrix is ever held.
 */
import { kernels } from "../engine/kernels/index.js";
import type { Generator } from "../engine/rng.js";
import { assertFinite } from "./linalg.js";

/** Rows per Gram block (bounds the scratch memory to ROW_BLOCK x n values). */
const ROW_BLOCK = 512;

export type GramPrecision = "float32" | "float64";

export interface KidOptions {
  /** Subset sampler (required so that results are reproducible). */
  rng: Generator;
  /** Number of subsets (default 100, as clean-fid and torch-fidelity). */
  numSubsets?: number;
  /** Largest subset size (default 1000); the size used is min(n1, n2, maxSubsetSize). */
  maxSubsetSize?: number;
  /** Precision of the inner products (default "float32", the engine's SGEMM); see the file comment. */
  gram?: GramPrecision;
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

/** Row-major feature rows in the precision the Gram computation needs. */
type Rows = Float32Array | Float64Array;

function asRows(x: ArrayLike<number>, precision: GramPrecision): Rows {
  if (precision === "float32") return x instanceof Float32Array ? x : Float32Array.from(x);
  return x instanceof Float64Array ? x : Float64Array.from(x);
}

/**
 * sum over i < na, j < nb of k(a_i, b_j) = (a_i . b_j / d + 1)^3; with `excludeDiagonal` (a and b
 * the same set, na = nb) the i = j terms are left out.
 */
function kernelSum(a: Rows, na: number, b: Rows, nb: number, d: number, excludeDiagonal: boolean): number {
  let total = 0;
  const invD = 1 / d;
  if (a instanceof Float32Array && b instanceof Float32Array) {
    const block = new Float32Array(Math.min(ROW_BLOCK, na) * nb);
    for (let r0 = 0; r0 < na; r0 += ROW_BLOCK) {
      const rows = Math.min(ROW_BLOCK, na - r0);
      // block = a[r0 : r0 + rows] b^T / d
      kernels.sgemm(false, true, rows, nb, d, invD, a.subarray(r0 * d, (r0 + rows) * d), d, b, d, 0, block, nb);
      const count = rows * nb;
      let s0 = 0;
      let s1 = 0;
      let j = 0;
      for (; j + 1 < count; j += 2) {
        const z0 = block[j]! + 1;
        const z1 = block[j + 1]! + 1;
        s0 += z0 * z0 * z0;
        s1 += z1 * z1 * z1;
      }
      if (j < count) {
        const z = block[j]! + 1;
        s0 += z * z * z;
      }
      total += s0 + s1;
      if (excludeDiagonal) {
        // Take the i = j terms back out (the same float32 values that were added).
        for (let i = 0; i < rows; i++) {
          const z = block[i * nb + r0 + i]! + 1;
          total -= z * z * z;
        }
      }
    }
    return total;
  }
  for (let i = 0; i < na; i++) {
    const ai = i * d;
    for (let j = 0; j < nb; j++) {
      if (excludeDiagonal && i === j) continue;
      const bj = j * d;
      let dot = 0;
      for (let t = 0; t < d; t++) dot += (a[ai + t] as number) * (b[bj + t] as number);
      const z = dot * invD + 1;
      total += z * z * z;
    }
  }
  return total;
}

/** The rows idx of x (n x d) as a new contiguous array. */
function gather(x: Rows, idx: Int32Array, d: number): Rows {
  const out = x instanceof Float32Array ? new Float32Array(idx.length * d) : new Float64Array(idx.length * d);
  for (let k = 0; k < idx.length; k++) {
    const row = idx[k]!;
    out.set(x.subarray(row * d, row * d + d), k * d);
  }
  return out;
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
 * The unbiased MMD^2 estimate under the cubic polynomial kernel between two whole feature sets
 * (n1 x d and n2 x d, row-major; each needs >= 2 samples; sizes may differ):
 * sumXX / (n1 (n1 - 1)) + sumYY / (n2 (n2 - 1)) - 2 sumXY / (n1 n2), within-set sums over i != j.
 * With n1 = n2 = m this is exactly one KID subset term.
 */
export function mmd2Unbiased(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  n1: number,
  n2: number,
  d: number,
  gram: GramPrecision = "float32",
): number {
  checkSets("mmd2Unbiased", x, y, n1, n2, d);
  const xr = asRows(x, gram);
  const yr = asRows(y, gram);
  return (
    kernelSum(xr, n1, xr, n1, d, true) / (n1 * (n1 - 1)) +
    kernelSum(yr, n2, yr, n2, d, true) / (n2 * (n2 - 1)) -
    (2 * kernelSum(xr, n1, yr, n2, d, false)) / (n1 * n2)
  );
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
  const gram = options.gram ?? "float32";
  if (!Number.isInteger(numSubsets) || numSubsets < 1) throw new Error(`kid: numSubsets must be >= 1, got ${numSubsets}`);
  if (!Number.isInteger(maxSubsetSize) || maxSubsetSize < 2) {
    throw new Error(`kid: maxSubsetSize must be an integer >= 2, got ${maxSubsetSize}`);
  }
  const m = Math.min(n1, n2, maxSubsetSize);
  const xFull = m === n1;
  const yFull = m === n2;
  const subsets = new Float64Array(numSubsets);

  if (xFull && yFull) {
    // Every subset is the whole of both sets: one evaluation gives all of them (and the mean is
    // that value exactly, the std exactly 0, rather than their rounded recomputation).
    const value = mmd2Unbiased(x, y, n1, n2, d, gram);
    subsets.fill(value);
    return { mean: value, std: 0, subsetSize: m, subsets };
  }

  const xr = asRows(x, gram);
  const yr = asRows(y, gram);
  // A set used whole contributes the same within-set sum to every subset.
  const fixedXX = xFull ? kernelSum(xr, n1, xr, n1, d, true) : null;
  const fixedYY = yFull ? kernelSum(yr, n2, yr, n2, d, true) : null;
  for (let s = 0; s < numSubsets; s++) {
    const xs = xFull ? xr : gather(xr, options.rng.permutation(n1).subarray(0, m), d);
    const ys = yFull ? yr : gather(yr, options.rng.permutation(n2).subarray(0, m), d);
    const sxx = fixedXX ?? kernelSum(xs, m, xs, m, d, true);
    const syy = fixedYY ?? kernelSum(ys, m, ys, m, d, true);
    const sxy = kernelSum(xs, m, ys, m, d, false);
    subsets[s] = (sxx + syy) / (m * (m - 1)) - (2 * sxy) / (m * m);
  }

  let mean = 0;
  for (let s = 0; s < numSubsets; s++) mean += subsets[s]!;
  mean /= numSubsets;
  let variance = 0;
  for (let s = 0; s < numSubsets; s++) variance += (subsets[s]! - mean) ** 2;
  return { mean, std: Math.sqrt(variance / numSubsets), subsetSize: m, subsets };
}

/** Alias with the neutral name to use when the features are not Inception's. */
export const kernelDistance = kernelInceptionDistance;

/**
 * @file Improved precision and recall (Kynkäänniemi et al., NeurIPS 2019) with k-NN manifolds.
 *
 * Each feature set approximates its manifold by the union of balls centred on its samples, the
 * radius of a sample's ball being the Euclidean distance to its k-th nearest neighbour within the
 * same set (the sample itself excluded; k = 3 by default, as in the paper). Then
 *
 *   precision = fraction of generated samples inside the real manifold
 *   recall    = fraction of real samples inside the generated manifold
 *
 * where "inside" means ||y - x|| <= radius(x) for at least one sample x of the other set (the
 * comparison is inclusive, as in the reference code, so identical sets give exactly 1). Distances
 * are computed exactly (O(n1 n2 d), no approximate search), in float64, and compared squared.
 * Duplicated samples are distinct neighbours: a point repeated k+1 times has radius 0.
 */
import { assertFinite } from "./linalg.js";

export interface PrecisionRecallOptions {
  /** Neighbourhood size (default 3). Each set needs more than k samples. */
  k?: number;
}

export interface PrecisionRecallResult {
  precision: number;
  recall: number;
  k: number;
}

function squaredDistance(a: ArrayLike<number>, i: number, b: ArrayLike<number>, j: number, d: number): number {
  let s = 0;
  const ai = i * d;
  const bj = j * d;
  for (let t = 0; t < d; t++) {
    const diff = (a[ai + t] as number) - (b[bj + t] as number);
    s += diff * diff;
  }
  return s;
}

/**
 * Squared k-NN radii of a set: for each sample, the squared distance to its k-th nearest other
 * sample of the same set (n x d, row-major; needs n > k).
 */
export function knnRadiiSquared(x: ArrayLike<number>, n: number, d: number, k = 3): Float64Array {
  if (!Number.isInteger(k) || k < 1) throw new Error(`knnRadii: k must be an integer >= 1, got ${k}`);
  if (n <= k) throw new Error(`knnRadii: need more than k = ${k} samples, got ${n}`);
  // Full pairwise matrix of the upper triangle would cost n^2 memory; instead keep, per sample, its
  // k smallest distances in a sorted buffer, visiting each pair once.
  const best = new Float64Array(n * k).fill(Infinity);
  const insert = (row: number, v: number): void => {
    const base = row * k;
    if (v >= best[base + k - 1]!) return;
    let p = k - 1;
    while (p > 0 && best[base + p - 1]! > v) {
      best[base + p] = best[base + p - 1]!;
      p--;
    }
    best[base + p] = v;
  };
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const dist = squaredDistance(x, i, x, j, d);
      insert(i, dist);
      insert(j, dist);
    }
  }
  const radii = new Float64Array(n);
  for (let i = 0; i < n; i++) radii[i] = best[i * k + k - 1]!;
  return radii;
}

/** Fraction of the rows of `query` (nq x d) inside the manifold of `ref` (nr x d) with squared radii r2. */
export function manifoldCoverage(
  query: ArrayLike<number>,
  nq: number,
  ref: ArrayLike<number>,
  nr: number,
  radii2: Float64Array,
  d: number,
): number {
  if (nq === 0) return NaN;
  let inside = 0;
  for (let i = 0; i < nq; i++) {
    for (let j = 0; j < nr; j++) {
      if (squaredDistance(query, i, ref, j, d) <= radii2[j]!) {
        inside++;
        break;
      }
    }
  }
  return inside / nq;
}

/**
 * Precision and recall of generated features `fake` (n2 x d) against real features `real`
 * (n1 x d), both row-major with rows as samples.
 */
export function precisionRecall(
  real: ArrayLike<number>,
  fake: ArrayLike<number>,
  n1: number,
  n2: number,
  d: number,
  options: PrecisionRecallOptions = {},
): PrecisionRecallResult {
  const k = options.k ?? 3;
  for (const v of [n1, n2, d]) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`precisionRecall: invalid size ${v}`);
  }
  if (real.length !== n1 * d) throw new Error(`precisionRecall: real set has ${real.length} values, expected ${n1}x${d}`);
  if (fake.length !== n2 * d) throw new Error(`precisionRecall: fake set has ${fake.length} values, expected ${n2}x${d}`);
  assertFinite("precisionRecall (real)", real);
  assertFinite("precisionRecall (fake)", fake);
  const realRadii = knnRadiiSquared(real, n1, d, k);
  const fakeRadii = knnRadiiSquared(fake, n2, d, k);
  return {
    precision: manifoldCoverage(fake, n2, real, n1, realRadii, d),
    recall: manifoldCoverage(real, n1, fake, n2, fakeRadii, d),
    k,
  };
}

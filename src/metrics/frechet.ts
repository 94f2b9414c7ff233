/**
 * @file Fréchet distance between two Gaussians fitted to feature sets (the formula behind FID).
 *
 *   d^2 = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2})
 *
 * as in pytorch-fid (Heusel et al. 2017). Statistics follow pytorch-fid too: mu is the feature
 * mean and S the unbiased (n - 1) covariance, `numpy.cov(act, rowvar=False)`.
 *
 * The cross term is computed without a general (non-symmetric) matrix square root. S1 S2 is
 * similar to the symmetric PSD matrix M = S1^{1/2} S2 S1^{1/2}, so tr((S1 S2)^{1/2}) =
 * sum_i sqrt(lambda_i(M)). Writing S1 = V diag(l) V^T, M = V D V^T S2 V D V^T with D =
 * diag(sqrt(l)), and M has the same eigenvalues as M' = D (V^T S2 V) D, which is what we
 * decompose (it is exactly symmetric after symmetrisation and avoids forming S1^{1/2}).
 * Eigenvalues of S1 and of M' that are negative only by rounding are clamped to 0 (see
 * `clampEigenvalues`); genuinely indefinite input throws.
 *
 * Differences from pytorch-fid: scipy's sqrtm can return non-finite or complex results on
 * near-singular covariances, which pytorch-fid patches by adding 1e-6 I to both covariances or
 * discarding a small imaginary part. The symmetric route here is real and finite for any PSD
 * input (including the rank-deficient covariances of fewer samples than dimensions), so no such
 * fallback exists or is needed. The result is returned as computed; for identical statistics it
 * is zero up to rounding and may come out as a tiny negative number (of order 1e-12 times the
 * trace), which is not clamped.
 *
 * Naming: on this project's own feature extractors this is NOT "FID" (that name means
 * Inception-v3 pool3 features); report it as e.g. "Fréchet distance on <extractor> features".
 */
import {
  assertFinite,
  clampEigenvalues,
  covariance,
  DEFAULT_PSD_TOLERANCE,
  symmetricEigen,
  symmetrize,
  trace,
} from "./linalg.js";

export interface FeatureStats {
  /** Feature mean, length d. */
  mu: Float64Array;
  /** Unbiased covariance, d x d row-major. */
  sigma: Float64Array;
  /** Feature dimension. */
  d: number;
  /** Number of samples the statistics came from. */
  n: number;
}

/** Mean and unbiased covariance of n feature vectors of dimension d (row-major, rows are samples). */
export function featureStats(features: ArrayLike<number>, n: number, d: number): FeatureStats {
  assertFinite("featureStats", features);
  const { mean, cov } = covariance(features, n, d);
  return { mu: mean, sigma: cov, d, n };
}

export interface FrechetOptions {
  /** Relative tolerance for rounding-level negative eigenvalues (default DEFAULT_PSD_TOLERANCE = 1e-9). */
  psdTolerance?: number;
}

/** The terms of the Fréchet distance, for diagnostics. */
export interface FrechetTerms {
  /** The distance: meanTerm + trace1 + trace2 - 2 * crossTrace. */
  distance: number;
  /** ||mu1 - mu2||^2. */
  meanTerm: number;
  /** tr(S1). */
  trace1: number;
  /** tr(S2). */
  trace2: number;
  /** tr((S1 S2)^{1/2}). */
  crossTrace: number;
}

/** tr((S1 S2)^{1/2}) for symmetric PSD d x d matrices, via the eigenvalues of S1^{1/2} S2 S1^{1/2}. */
export function traceSqrtProduct(
  sigma1: Float64Array,
  sigma2: Float64Array,
  d: number,
  psdTolerance = DEFAULT_PSD_TOLERANCE,
): number {
  if (d === 0) return 0;
  const e1 = symmetricEigen(sigma1, d);
  const l1 = clampEigenvalues(e1.values, psdTolerance);
  const v = e1.vectors;
  // W = S2 V (d x d), then B = V^T W = V^T S2 V.
  const w = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let k = 0; k < d; k++) {
      const s = sigma2[i * d + k]!;
      if (s === 0) continue;
      for (let j = 0; j < d; j++) w[i * d + j]! += s * v[k * d + j]!;
    }
  }
  const b = new Float64Array(d * d);
  for (let k = 0; k < d; k++) {
    for (let i = 0; i < d; i++) {
      const vki = v[k * d + i]!;
      if (vki === 0) continue;
      for (let j = 0; j < d; j++) b[i * d + j]! += vki * w[k * d + j]!;
    }
  }
  // M' = D B D with D = diag(sqrt(l1)).
  const root = l1.map(Math.sqrt);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) b[i * d + j]! *= root[i]! * root[j]!;
  const m = symmetrize(b, d);
  const lm = clampEigenvalues(symmetricEigen(m, d, { vectors: false }).values, psdTolerance);
  let sum = 0;
  for (let i = 0; i < d; i++) sum += Math.sqrt(lm[i]!);
  return sum;
}

/** All terms of the Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2). */
export function frechetTerms(
  mu1: ArrayLike<number>,
  sigma1: ArrayLike<number>,
  mu2: ArrayLike<number>,
  sigma2: ArrayLike<number>,
  options: FrechetOptions = {},
): FrechetTerms {
  const d = mu1.length;
  if (mu2.length !== d) throw new Error(`frechetDistance: mean lengths differ (${d} vs ${mu2.length})`);
  if (sigma1.length !== d * d || sigma2.length !== d * d) {
    throw new Error(
      `frechetDistance: covariances must be ${d}x${d} (${d * d} elements), got ${sigma1.length} and ${sigma2.length}`,
    );
  }
  assertFinite("frechetDistance (mu1)", mu1);
  assertFinite("frechetDistance (mu2)", mu2);
  assertFinite("frechetDistance (sigma1)", sigma1);
  assertFinite("frechetDistance (sigma2)", sigma2);
  const s1 = sigma1 instanceof Float64Array ? sigma1 : Float64Array.from(sigma1);
  const s2 = sigma2 instanceof Float64Array ? sigma2 : Float64Array.from(sigma2);
  let meanTerm = 0;
  for (let i = 0; i < d; i++) {
    const diff = (mu1[i] as number) - (mu2[i] as number);
    meanTerm += diff * diff;
  }
  const trace1 = trace(s1, d);
  const trace2 = trace(s2, d);
  const crossTrace = traceSqrtProduct(s1, s2, d, options.psdTolerance ?? DEFAULT_PSD_TOLERANCE);
  return { distance: meanTerm + trace1 + trace2 - 2 * crossTrace, meanTerm, trace1, trace2, crossTrace };
}

/** Fréchet distance ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2}). */
export function frechetDistance(
  mu1: ArrayLike<number>,
  sigma1: ArrayLike<number>,
  mu2: ArrayLike<number>,
  sigma2: ArrayLike<number>,
  options: FrechetOptions = {},
): number {
  return frechetTerms(mu1, sigma1, mu2, sigma2, options).distance;
}

/** Fréchet distance between the Gaussians fitted to two feature sets (n1 x d and n2 x d, row-major). */
export function frechetFromFeatures(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  n1: number,
  n2: number,
  d: number,
  options: FrechetOptions = {},
): number {
  const s1 = featureStats(a, n1, d);
  const s2 = featureStats(b, n2, d);
  return frechetDistance(s1.mu, s1.sigma, s2.mu, s2.sigma, options);
}

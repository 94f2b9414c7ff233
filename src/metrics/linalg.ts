/**
 * @file Small dense float64 linear algebra for the quality metrics.
 *
 * Matrices are plain row-major `Float64Array`s with their sizes passed alongside; nothing here
 * touches the tensor engine. The sizes these metrics need are small (feature dimensions up to a
 * few hundred), so the algorithms favour robustness and accuracy over speed:
 *
 * - `covariance`: two-pass (mean first, then centred products), unbiased (divides by n - 1), the
 *   same quantity as `numpy.cov(x, rowvar=False)`.
 * - `symmetricEigen`: cyclic Jacobi rotations. Slow (about ten sweeps of O(d^3)) but
 *   unconditionally convergent for symmetric input and accurate for small eigenvalues of
 *   positive semi-definite matrices, which is what a matrix square root needs.
 * - `sqrtmSymmetric`: V diag(sqrt(max(lambda, 0))) V^T, after checking that no eigenvalue is
 *   negative beyond the tolerance described at `clampEigenvalues`.
 */

/** Machine epsilon for float64 (2^-52). */
const EPS = 2.220446049250313e-16;

/** Default relative tolerance for negative eigenvalues of a matrix meant to be PSD (see clampEigenvalues). */
export const DEFAULT_PSD_TOLERANCE = 1e-9;

function checkSize(what: string, data: ArrayLike<number>, expected: number): void {
  if (data.length !== expected) {
    throw new Error(`${what}: expected ${expected} elements, got ${data.length}`);
  }
}

function checkDims(what: string, ...dims: number[]): void {
  for (const d of dims) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${what}: invalid dimension ${d}`);
  }
}

/** Throws if any element is NaN or infinite. */
export function assertFinite(what: string, data: ArrayLike<number>): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i] as number)) {
      throw new Error(`${what}: non-finite value ${data[i]} at index ${i}`);
    }
  }
}

/** Column means of an n x d row-major sample matrix (float64 accumulation). */
export function columnMeans(x: ArrayLike<number>, n: number, d: number): Float64Array {
  checkDims("columnMeans", n, d);
  checkSize("columnMeans", x, n * d);
  if (n < 1) throw new Error("columnMeans: need at least one sample");
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const row = i * d;
    for (let j = 0; j < d; j++) mean[j]! += x[row + j] as number;
  }
  for (let j = 0; j < d; j++) mean[j]! /= n;
  return mean;
}

/**
 * Mean and unbiased covariance of an n x d row-major sample matrix (rows are samples), like
 * `numpy.mean(x, axis=0)` and `numpy.cov(x, rowvar=False)`. Needs n >= 2.
 */
export function covariance(
  x: ArrayLike<number>,
  n: number,
  d: number,
): { mean: Float64Array; cov: Float64Array } {
  checkDims("covariance", n, d);
  checkSize("covariance", x, n * d);
  if (n < 2) throw new Error(`covariance: need at least 2 samples for an unbiased covariance, got ${n}`);
  const mean = columnMeans(x, n, d);
  const cov = new Float64Array(d * d);
  const c = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const row = i * d;
    for (let j = 0; j < d; j++) c[j] = (x[row + j] as number) - mean[j]!;
    // Upper triangle only; mirrored below.
    for (let a = 0; a < d; a++) {
      const ca = c[a]!;
      if (ca === 0) continue;
      const base = a * d;
      for (let b = a; b < d; b++) cov[base + b]! += ca * c[b]!;
    }
  }
  const scale = 1 / (n - 1);
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      const v = cov[a * d + b]! * scale;
      cov[a * d + b] = v;
      cov[b * d + a] = v;
    }
  }
  return { mean, cov };
}

/** C = A B with A n x k and B k x m (row-major). */
export function matmul(a: Float64Array, b: Float64Array, n: number, k: number, m: number): Float64Array {
  checkDims("matmul", n, k, m);
  checkSize("matmul (A)", a, n * k);
  checkSize("matmul (B)", b, k * m);
  const c = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    const ci = i * m;
    for (let p = 0; p < k; p++) {
      const aip = a[i * k + p]!;
      if (aip === 0) continue;
      const bp = p * m;
      for (let j = 0; j < m; j++) c[ci + j]! += aip * b[bp + j]!;
    }
  }
  return c;
}

/** A^T for an n x m matrix (result m x n). */
export function transpose(a: Float64Array, n: number, m: number): Float64Array {
  checkDims("transpose", n, m);
  checkSize("transpose", a, n * m);
  const t = new Float64Array(m * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) t[j * n + i] = a[i * m + j]!;
  return t;
}

/** (A + A^T) / 2 for a square n x n matrix. */
export function symmetrize(a: Float64Array, n: number): Float64Array {
  checkDims("symmetrize", n);
  checkSize("symmetrize", a, n * n);
  const s = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    s[i * n + i] = a[i * n + i]!;
    for (let j = i + 1; j < n; j++) {
      const v = 0.5 * (a[i * n + j]! + a[j * n + i]!);
      s[i * n + j] = v;
      s[j * n + i] = v;
    }
  }
  return s;
}

/** Trace of a square n x n matrix. */
export function trace(a: ArrayLike<number>, n: number): number {
  checkSize("trace", a, n * n);
  let t = 0;
  for (let i = 0; i < n; i++) t += a[i * n + i] as number;
  return t;
}

/** The n x n identity. */
export function identity(n: number): Float64Array {
  checkDims("identity", n);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) a[i * n + i] = 1;
  return a;
}

/** Largest |A_ij - A_ji|, relative to the largest |A_ij| (0 for a zero matrix). */
export function asymmetry(a: Float64Array, n: number): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      scale = Math.max(scale, Math.abs(a[i * n + j]!));
      if (j > i) diff = Math.max(diff, Math.abs(a[i * n + j]! - a[j * n + i]!));
    }
  }
  return scale === 0 ? 0 : diff / scale;
}

export interface EigenResult {
  /** Eigenvalues in ascending order (like numpy.linalg.eigh). */
  values: Float64Array;
  /** Orthonormal eigenvectors as the COLUMNS of a row-major n x n matrix: vector k is vectors[r * n + k]. */
  vectors: Float64Array;
  /** Number of Jacobi sweeps performed. */
  sweeps: number;
}

export interface EigenOptions {
  /** Give up (throw) after this many sweeps; Jacobi converges quadratically, so 10-15 is typical. Default 100. */
  maxSweeps?: number;
  /** Also accumulate eigenvectors (default true). */
  vectors?: boolean;
  /**
   * Relative asymmetry |A_ij - A_ji| / max|A| tolerated on input (default 1e-10); the symmetric
   * part is used. Larger asymmetry throws, since it means the caller passed a non-symmetric matrix.
   */
  symmetryTolerance?: number;
}

/**
 * Eigen-decomposition of a real symmetric n x n matrix by cyclic Jacobi rotations.
 *
 * Each sweep visits every off-diagonal pair (p, q) once and applies the rotation that zeroes
 * A_pq (tan of the angle t = sgn(theta) / (|theta| + sqrt(theta^2 + 1)), theta = (A_qq - A_pp) /
 * (2 A_pq), the small-angle root, which keeps the iteration stable). A pair is skipped when
 * |A_pq| <= eps * sqrt(|A_pp A_qq|) (the relative criterion that preserves small eigenvalues of
 * PSD matrices to high relative accuracy) or |A_pq| <= 1e-18 * ||A||_F (an absolute floor so that
 * rounding-level fill on exactly singular input cannot keep the sweeps going). The iteration ends
 * after the first sweep that rotates nothing.
 */
export function symmetricEigen(input: Float64Array, n: number, options: EigenOptions = {}): EigenResult {
  checkDims("symmetricEigen", n);
  checkSize("symmetricEigen", input, n * n);
  assertFinite("symmetricEigen", input);
  const maxSweeps = options.maxSweeps ?? 100;
  const wantVectors = options.vectors ?? true;
  const symTol = options.symmetryTolerance ?? 1e-10;
  const asym = asymmetry(input, n);
  if (asym > symTol) {
    throw new Error(`symmetricEigen: matrix is not symmetric (relative asymmetry ${asym.toExponential(3)})`);
  }
  const a = symmetrize(input, n);
  const v = wantVectors ? identity(n) : new Float64Array(0);

  let frob = 0;
  for (let i = 0; i < n * n; i++) frob += a[i]! * a[i]!;
  frob = Math.sqrt(frob);
  const absFloor = 1e-18 * frob;

  let sweeps = 0;
  for (;;) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        const absApq = Math.abs(apq);
        if (absApq === 0) continue;
        const app = a[p * n + p]!;
        const aqq = a[q * n + q]!;
        if (absApq <= EPS * Math.sqrt(Math.abs(app * aqq)) || absApq <= absFloor) {
          // Negligible: set it to zero so the matrix stays consistent with "converged".
          a[p * n + q] = 0;
          a[q * n + p] = 0;
          continue;
        }
        rotated = true;
        const theta = (aqq - app) / (2 * apq);
        // For huge theta, theta^2 would overflow: t ~ 1 / (2 theta).
        const t =
          Math.abs(theta) > 1e150
            ? 1 / (2 * theta)
            : (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        a[p * n + p] = app - t * apq;
        a[q * n + q] = aqq + t * apq;
        a[p * n + q] = 0;
        a[q * n + p] = 0;
        for (let r = 0; r < n; r++) {
          if (r === p || r === q) continue;
          const arp = a[r * n + p]!;
          const arq = a[r * n + q]!;
          const nrp = c * arp - s * arq;
          const nrq = s * arp + c * arq;
          a[r * n + p] = nrp;
          a[p * n + r] = nrp;
          a[r * n + q] = nrq;
          a[q * n + r] = nrq;
        }
        if (wantVectors) {
          for (let r = 0; r < n; r++) {
            const vrp = v[r * n + p]!;
            const vrq = v[r * n + q]!;
            v[r * n + p] = c * vrp - s * vrq;
            v[r * n + q] = s * vrp + c * vrq;
          }
        }
      }
    }
    if (!rotated) break;
    sweeps++;
    if (sweeps > maxSweeps) {
      throw new Error(`symmetricEigen: no convergence after ${maxSweeps} Jacobi sweeps (n = ${n})`);
    }
  }

  // Sort ascending, permuting eigenvector columns alongside.
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[i * n + i]! - a[j * n + j]!);
  const values = new Float64Array(n);
  const vectors = new Float64Array(wantVectors ? n * n : 0);
  for (let k = 0; k < n; k++) {
    const src = order[k]!;
    values[k] = a[src * n + src]!;
    if (wantVectors) for (let r = 0; r < n; r++) vectors[r * n + k] = v[r * n + src]!;
  }
  return { values, vectors, sweeps };
}

/**
 * Clamps the eigenvalues of a matrix that should be positive semi-definite.
 *
 * Rounding makes zero eigenvalues of a PSD matrix come out as tiny numbers of either sign. A
 * negative eigenvalue with |lambda| <= tolerance * max_k |lambda_k| is treated as rounding and set
 * to 0; anything more negative means the matrix is genuinely indefinite (a caller bug, e.g. a
 * "covariance" that is not one), and throws. The default tolerance, 1e-9, is several orders of
 * magnitude above the rounding of covariances accumulated in float64 (about n * 2.2e-16), and far
 * below any eigenvalue that matters to a metric.
 */
export function clampEigenvalues(values: Float64Array, tolerance = DEFAULT_PSD_TOLERANCE): Float64Array {
  let scale = 0;
  for (let i = 0; i < values.length; i++) scale = Math.max(scale, Math.abs(values[i]!));
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const lambda = values[i]!;
    if (lambda >= 0) out[i] = lambda;
    else if (-lambda <= tolerance * scale) out[i] = 0;
    else {
      throw new Error(
        `clampEigenvalues: matrix is not positive semi-definite (eigenvalue ${lambda.toExponential(4)}, ` +
          `largest |eigenvalue| ${scale.toExponential(4)}, tolerance ${tolerance})`,
      );
    }
  }
  return out;
}

/** V diag(f) V^T for eigenvectors V (columns of a row-major n x n matrix) and a diagonal f. */
export function reconstructSymmetric(vectors: Float64Array, diag: Float64Array, n: number): Float64Array {
  checkSize("reconstructSymmetric (vectors)", vectors, n * n);
  checkSize("reconstructSymmetric (diag)", diag, n);
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += vectors[i * n + k]! * diag[k]! * vectors[j * n + k]!;
      out[i * n + j] = s;
      out[j * n + i] = s;
    }
  }
  return out;
}

/**
 * The principal square root of a symmetric positive semi-definite n x n matrix: the unique
 * symmetric PSD R with R R = A, computed as V diag(sqrt(lambda)) V^T from `symmetricEigen`, with
 * eigenvalues clamped by `clampEigenvalues(values, tolerance)`.
 */
export function sqrtmSymmetric(a: Float64Array, n: number, tolerance = DEFAULT_PSD_TOLERANCE): Float64Array {
  const { values, vectors } = symmetricEigen(a, n);
  const clamped = clampEigenvalues(values, tolerance);
  const roots = clamped.map(Math.sqrt);
  return reconstructSymmetric(vectors, roots, n);
}

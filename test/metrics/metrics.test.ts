/** Sanity tests for the quality metrics: linear algebra, Fréchet distance, KID, precision/recall, SSIM, PSNR. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Generator } from "../../src/engine/rng.js";
import {
  covariance,
  featureStats,
  frechetDistance,
  frechetFromFeatures,
  frechetTerms,
  gaussianWindow,
  kernelInceptionDistance,
  knnRadiiSquared,
  matmul,
  mmd2Unbiased,
  precisionRecall,
  psnr,
  sqrtmSymmetric,
  ssim,
  symmetricEigen,
  trace,
  transpose,
} from "../../src/metrics/index.js";

// ---- helpers ---------------------------------------------------------------------------------

function close(actual: number, expected: number, tol: number, what = ""): void {
  assert.ok(
    Math.abs(actual - expected) <= tol,
    `${what} expected ${expected}, got ${actual} (|diff| = ${Math.abs(actual - expected)} > ${tol})`,
  );
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** A random d x d matrix with standard-normal entries, as float64. */
function randomMatrix(g: Generator, n: number, m: number): Float64Array {
  return Float64Array.from(g.normal(n * m));
}

/** A random symmetric positive definite d x d matrix: B B^T / d + eps I. */
function randomSpd(g: Generator, d: number, ridge = 0.1): Float64Array {
  const b = randomMatrix(g, d, d);
  const a = matmul(b, transpose(b, d, d), d, d, d);
  for (let i = 0; i < d * d; i++) a[i]! /= d;
  for (let i = 0; i < d; i++) a[i * d + i]! += ridge;
  return a;
}

/** n correlated Gaussian feature vectors of dimension d: z L^T + offset. */
function correlatedFeatures(g: Generator, n: number, d: number, offset = 0): Float64Array {
  const l = randomMatrix(g, d, d);
  const z = Float64Array.from(g.normal(n * d));
  const x = matmul(z, transpose(l, d, d), n, d, d);
  for (let i = 0; i < x.length; i++) x[i]! += offset;
  return x;
}

// ---- linear algebra --------------------------------------------------------------------------

describe("linalg", () => {
  test("covariance matches a hand computation (unbiased, like numpy.cov rowvar=False)", () => {
    const { mean, cov } = covariance([1, 2, 3, 4, 5, 0], 3, 2);
    assert.deepEqual(Array.from(mean), [3, 2]);
    assert.deepEqual(Array.from(cov), [4, -2, -2, 4]);
  });

  test("eigenvalues of known small matrices, ascending", () => {
    const e2 = symmetricEigen(Float64Array.from([2, 1, 1, 2]), 2);
    close(e2.values[0]!, 1, 1e-14);
    close(e2.values[1]!, 3, 1e-14);
    const e3 = symmetricEigen(Float64Array.from([2, -1, 0, -1, 2, -1, 0, -1, 2]), 3);
    close(e3.values[0]!, 2 - Math.SQRT2, 1e-14);
    close(e3.values[1]!, 2, 1e-14);
    close(e3.values[2]!, 2 + Math.SQRT2, 1e-14);
    const diag = symmetricEigen(Float64Array.from([5, 0, 0, -1]), 2);
    assert.deepEqual(Array.from(diag.values), [-1, 5]);
  });

  test("random symmetric (indefinite) matrix: A V = V diag(lambda) and V^T V = I", () => {
    const g = new Generator(11);
    const d = 24;
    const b = randomMatrix(g, d, d);
    const a = new Float64Array(d * d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) a[i * d + j] = b[i * d + j]! + b[j * d + i]!;
    const { values, vectors } = symmetricEigen(a, d);
    for (let k = 1; k < d; k++) assert.ok(values[k]! >= values[k - 1]!, "ascending");
    const av = matmul(a, vectors, d, d, d);
    const vl = new Float64Array(d * d);
    for (let r = 0; r < d; r++) for (let k = 0; k < d; k++) vl[r * d + k] = vectors[r * d + k]! * values[k]!;
    assert.ok(maxAbsDiff(av, vl) < 1e-11, `residual ${maxAbsDiff(av, vl)}`);
    const vtv = matmul(transpose(vectors, d, d), vectors, d, d, d);
    const eye = new Float64Array(d * d);
    for (let i = 0; i < d; i++) eye[i * d + i] = 1;
    assert.ok(maxAbsDiff(vtv, eye) < 1e-12);
    close(
      values.reduce((s, v) => s + v, 0),
      trace(a, d),
      1e-10,
      "sum of eigenvalues = trace",
    );
  });

  test("sqrtm(A)^2 = A for a random SPD matrix, and the root is symmetric PSD", () => {
    const g = new Generator(12);
    const d = 16;
    const a = randomSpd(g, d);
    const r = sqrtmSymmetric(a, d);
    assert.ok(maxAbsDiff(matmul(r, r, d, d, d), a) < 1e-9);
    assert.ok(maxAbsDiff(r, transpose(r, d, d)) === 0);
    assert.ok(symmetricEigen(r, d).values[0]! > 0);
    // A known root: sqrt([[5, 4], [4, 5]]) = [[2, 1], [1, 2]].
    assert.ok(maxAbsDiff(sqrtmSymmetric(Float64Array.from([5, 4, 4, 5]), 2), [2, 1, 1, 2]) < 1e-14);
  });

  test("sqrtm of a rank-deficient PSD matrix; indefinite input throws", () => {
    const g = new Generator(13);
    const d = 10;
    // Rank 3: B B^T with B 10 x 3.
    const b = randomMatrix(g, d, 3);
    const a = matmul(b, transpose(b, d, 3), d, 3, d);
    const r = sqrtmSymmetric(a, d);
    assert.ok(maxAbsDiff(matmul(r, r, d, d, d), a) < 1e-9);
    assert.throws(() => sqrtmSymmetric(Float64Array.from([1, 0, 0, -1]), 2), /not positive semi-definite/);
    assert.throws(() => symmetricEigen(Float64Array.from([1, 2, 0, 1]), 2), /not symmetric/);
  });
});

// ---- Fréchet distance ------------------------------------------------------------------------

describe("frechet distance", () => {
  test("identical statistics give 0", () => {
    const g = new Generator(21);
    const d = 20;
    const mu = Float64Array.from(g.normal(d));
    const s = randomSpd(g, d);
    assert.ok(Math.abs(frechetDistance(mu, s, mu, s)) < 1e-6);
  });

  test("equal covariances give ||mu1 - mu2||^2", () => {
    const g = new Generator(22);
    const d = 12;
    const s = randomSpd(g, d);
    const mu1 = Float64Array.from(g.normal(d));
    const mu2 = Float64Array.from(g.normal(d));
    let expected = 0;
    for (let i = 0; i < d; i++) expected += (mu1[i]! - mu2[i]!) ** 2;
    close(frechetDistance(mu1, s, mu2, s), expected, 1e-9 * (1 + expected));
  });

  test("diagonal covariances: sum (sqrt(a) - sqrt(b))^2 plus the mean term", () => {
    const a = [1, 4, 0.25, 9, 0];
    const b = [4, 1, 1, 9, 2];
    const d = a.length;
    const s1 = new Float64Array(d * d);
    const s2 = new Float64Array(d * d);
    for (let i = 0; i < d; i++) {
      s1[i * d + i] = a[i]!;
      s2[i * d + i] = b[i]!;
    }
    const mu1 = [0, 1, 2, 3, 4];
    const mu2 = [1, 1, 2, 3, 2];
    let expected = 1 + 4;
    for (let i = 0; i < d; i++) expected += (Math.sqrt(a[i]!) - Math.sqrt(b[i]!)) ** 2;
    close(frechetDistance(mu1, s1, mu2, s2), expected, 1e-12);
  });

  test("non-commuting covariances: agrees with the sqrtm route, symmetric in its arguments", () => {
    const g = new Generator(23);
    const d = 14;
    const s1 = randomSpd(g, d);
    const s2 = randomSpd(g, d, 0.5);
    const mu1 = Float64Array.from(g.normal(d));
    const mu2 = Float64Array.from(g.normal(d));
    // Independent route: R = sqrtm(S1), tr(sqrtm(R S2 R)).
    const r = sqrtmSymmetric(s1, d);
    const m = matmul(matmul(r, s2, d, d, d), r, d, d, d);
    const msym = new Float64Array(d * d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) msym[i * d + j] = 0.5 * (m[i * d + j]! + m[j * d + i]!);
    const cross = trace(sqrtmSymmetric(msym, d), d);
    const terms = frechetTerms(mu1, s1, mu2, s2);
    close(terms.crossTrace, cross, 1e-10 * cross);
    const other = frechetDistance(mu2, s2, mu1, s1);
    close(terms.distance, other, 1e-10 * (1 + Math.abs(other)));
    assert.ok(terms.distance > 0);
  });

  test("a feature sample to itself is ~0 and grows monotonically with added noise", () => {
    const g = new Generator(24);
    const n = 400;
    const d = 16;
    const x = correlatedFeatures(g, n, d);
    const noise = g.normal(n * d);
    const sigmas = [0, 0.1, 0.3, 1, 3];
    const fd = sigmas.map((s) => {
      const y = new Float64Array(n * d);
      for (let i = 0; i < n * d; i++) y[i] = x[i]! + s * noise[i]!;
      return frechetFromFeatures(x, y, n, n, d);
    });
    assert.ok(Math.abs(fd[0]!) < 1e-6, `self distance ${fd[0]}`);
    for (let i = 1; i < fd.length; i++) assert.ok(fd[i]! > fd[i - 1]!, `not increasing: ${fd.join(", ")}`);
  });

  test("grows monotonically with box blur of synthetic images (handcrafted features)", () => {
    const g = new Generator(25);
    const n = 300;
    const size = 16;
    const images = syntheticImages(g, n, size);
    const feats = (imgs: Float64Array[]): Float64Array => {
      const out = new Float64Array(n * HANDCRAFTED_DIM);
      imgs.forEach((img, i) => out.set(handcraftedFeatures(img, size), i * HANDCRAFTED_DIM));
      return out;
    };
    const base = feats(images);
    const fd = [0, 1, 2, 3].map((radius) =>
      frechetFromFeatures(base, feats(images.map((im) => boxBlur(im, size, radius))), n, n, HANDCRAFTED_DIM),
    );
    assert.ok(Math.abs(fd[0]!) < 1e-6, `self distance ${fd[0]}`);
    for (let i = 1; i < fd.length; i++) assert.ok(fd[i]! > fd[i - 1]!, `not increasing: ${fd.join(", ")}`);
  });

  test("featureStats validates its input", () => {
    assert.throws(() => featureStats([1, 2], 1, 2), /at least 2 samples/);
    assert.throws(() => featureStats([1, NaN, 2, 3], 2, 2), /non-finite/);
    assert.throws(() => frechetDistance([0], [1], [0, 0], [1, 0, 0, 1]), /lengths differ/);
  });
});

/** Single-channel size x size images in [-1, 1]: background -1 with 1-3 random bright rectangles. */
function syntheticImages(g: Generator, n: number, size: number): Float64Array[] {
  const images: Float64Array[] = [];
  for (let i = 0; i < n; i++) {
    const img = new Float64Array(size * size).fill(-1);
    const u = g.uniform(16);
    const rects = 1 + Math.floor(u[0]! * 3);
    for (let r = 0; r < rects; r++) {
      const x0 = Math.floor(u[1 + 5 * r]! * (size - 4));
      const y0 = Math.floor(u[2 + 5 * r]! * (size - 4));
      const x1 = Math.min(size, x0 + 3 + Math.floor(u[3 + 5 * r]! * 8));
      const y1 = Math.min(size, y0 + 3 + Math.floor(u[4 + 5 * r]! * 8));
      const v = -0.5 + 1.5 * u[5 + 5 * r]!;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) img[y * size + x] = v;
    }
    images.push(img);
  }
  return images;
}

/** Box blur with a (2r+1)^2 window, edges clamped. */
function boxBlur(img: Float64Array, size: number, r: number): Float64Array {
  if (r === 0) return img.slice();
  const out = new Float64Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let s = 0;
      for (let dy = -r; dy <= r; dy++) {
        for (let dx = -r; dx <= r; dx++) {
          const yy = Math.min(size - 1, Math.max(0, y + dy));
          const xx = Math.min(size - 1, Math.max(0, x + dx));
          s += img[yy * size + xx]!;
        }
      }
      out[y * size + x] = s / (2 * r + 1) ** 2;
    }
  }
  return out;
}

const HANDCRAFTED_DIM = 24;

/** 4x4 average-pooled intensities (16) and mean |dx|, |dy| per quadrant (8). */
function handcraftedFeatures(img: Float64Array, size: number): Float64Array {
  const f = new Float64Array(HANDCRAFTED_DIM);
  const cell = size / 4;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      f[Math.floor(y / cell) * 4 + Math.floor(x / cell)]! += img[y * size + x]! / (cell * cell);
      const q = (y < size / 2 ? 0 : 2) + (x < size / 2 ? 0 : 1);
      const quadrantPairs = (size / 2) * (size / 2);
      if (x + 1 < size) f[16 + q]! += Math.abs(img[y * size + x + 1]! - img[y * size + x]!) / quadrantPairs;
      if (y + 1 < size) f[20 + q]! += Math.abs(img[(y + 1) * size + x]! - img[y * size + x]!) / quadrantPairs;
    }
  }
  return f;
}

// ---- KID -------------------------------------------------------------------------------------

describe("kid", () => {
  test("unbiased MMD^2 matches a hand computation", () => {
    // d = 1, k(a, b) = (ab + 1)^3. XX: 2 k(0,1) / 2 = 1. YY: 2 k(2,3) / 2 = 343.
    // XY: (1 + 1 + 27 + 64) * 2 / 4 = 46.5.
    close(mmd2Unbiased([0, 1], [2, 3], 2, 2, 1), 1 + 343 - 46.5, 1e-12);
  });

  test("whole-set subsets reduce to one estimate with zero spread", () => {
    const g = new Generator(31);
    const x = g.normal(50 * 4);
    const y = g.normal(50 * 4, 0.5);
    const r = kernelInceptionDistance(x, y, 50, 50, 4, { rng: new Generator(1) });
    assert.equal(r.subsetSize, 50);
    assert.equal(r.std, 0);
    close(r.mean, mmd2Unbiased(x, y, 50, 50, 4), 1e-12);
  });

  test("subsets are the first m of a permutation of each set, drawn from the given generator", () => {
    const g = new Generator(32);
    const d = 3;
    const n1 = 40;
    const n2 = 30;
    const x = g.normal(n1 * d);
    const y = g.normal(n2 * d, 0.3);
    const r = kernelInceptionDistance(x, y, n1, n2, d, {
      rng: new Generator(7),
      numSubsets: 5,
      maxSubsetSize: 12,
      gram: "float64",
    });
    assert.equal(r.subsetSize, 12);
    const rng = new Generator(7);
    const gather = (src: Float32Array, idx: Int32Array): Float32Array => {
      const out = new Float32Array(idx.length * d);
      idx.forEach((row, k) => out.set(src.subarray(row * d, row * d + d), k * d));
      return out;
    };
    for (let s = 0; s < 5; s++) {
      const ix = rng.permutation(n1).subarray(0, 12);
      const iy = rng.permutation(n2).subarray(0, 12);
      close(r.subsets[s]!, mmd2Unbiased(gather(x, ix), gather(y, iy), 12, 12, d, "float64"), 1e-12, `subset ${s}`);
    }
  });

  test("float32 (SGEMM) and float64 Gram products agree", () => {
    const g = new Generator(34);
    const d = 32;
    const n1 = 600; // more than one row block
    const n2 = 300;
    const x = g.normal(n1 * d);
    const y = g.normal(n2 * d, 0.2);
    const f64 = mmd2Unbiased(x, y, n1, n2, d, "float64");
    const f32 = mmd2Unbiased(x, y, n1, n2, d, "float32");
    assert.ok(f64 > 0);
    close(f32, f64, 1e-4 * f64);
    const opts = { numSubsets: 4, maxSubsetSize: 100 };
    const a = kernelInceptionDistance(x, y, n1, n2, d, { ...opts, rng: new Generator(3), gram: "float32" });
    const b = kernelInceptionDistance(x, y, n1, n2, d, { ...opts, rng: new Generator(3), gram: "float64" });
    for (let s = 0; s < 4; s++) close(a.subsets[s]!, b.subsets[s]!, 1e-5 * (Math.abs(b.subsets[s]!) + 0.01));
  });

  test("unbiased: same distribution averages to ~0, shifted distribution is clearly > 0", () => {
    const g = new Generator(33);
    const d = 8;
    const n = 1200;
    const x = g.normal(n * d);
    const y = g.normal(n * d);
    const same = kernelInceptionDistance(x, y, n, n, d, { rng: new Generator(2), numSubsets: 30, maxSubsetSize: 200 });
    assert.ok(same.std > 0);
    assert.ok(Math.abs(same.mean) < 3 * same.std, `same: ${same.mean} +- ${same.std}`);
    const shifted = g.normal(n * d, 0.5);
    const diff = kernelInceptionDistance(x, shifted, n, n, d, { rng: new Generator(2), numSubsets: 30, maxSubsetSize: 200 });
    assert.ok(diff.mean > 0 && diff.mean > 5 * diff.std, `shifted: ${diff.mean} +- ${diff.std}`);
    assert.ok(diff.mean > 10 * Math.abs(same.mean));

    // Over many independent tiny samples the estimator's average is ~0 (a biased V-statistic
    // would sit clearly above 0 at this size).
    const reps = 400;
    const m = 8;
    const est = new Float64Array(reps);
    for (let i = 0; i < reps; i++) est[i] = mmd2Unbiased(g.normal(m * 2), g.normal(m * 2), m, m, 2);
    const avg = est.reduce((s, v) => s + v, 0) / reps;
    const sd = Math.sqrt(est.reduce((s, v) => s + (v - avg) ** 2, 0) / (reps - 1));
    assert.ok(Math.abs(avg) < 4 * (sd / Math.sqrt(reps)), `average ${avg}, standard error ${sd / Math.sqrt(reps)}`);
  });
});

// ---- precision / recall ----------------------------------------------------------------------

describe("precision and recall", () => {
  test("k-NN radii on a line", () => {
    const pts = [0, 1, 3, 6, 10];
    assert.deepEqual(Array.from(knnRadiiSquared(pts, 5, 1, 1)), [1, 1, 4, 9, 16]);
    assert.deepEqual(Array.from(knnRadiiSquared(pts, 5, 1, 2)), [9, 4, 9, 16, 49]);
  });

  test("identical sets give 1 and 1; disjoint sets give 0 and 0", () => {
    const g = new Generator(41);
    const n = 200;
    const d = 5;
    const x = g.normal(n * d);
    const same = precisionRecall(x, x, n, n, d);
    assert.equal(same.precision, 1);
    assert.equal(same.recall, 1);
    const far = g.normal(n * d, 100);
    const apart = precisionRecall(x, far, n, n, d);
    assert.equal(apart.precision, 0);
    assert.equal(apart.recall, 0);
  });

  test("a mode-collapsed generator keeps precision but loses recall", () => {
    const g = new Generator(42);
    const n = 400;
    const d = 2;
    const real = g.normal(n * d);
    // "Generated" samples: only the real points of one half-plane (x < -0.5), jittered slightly.
    const picked: number[] = [];
    for (let i = 0; i < n; i++) if (real[i * d]! < -0.5) picked.push(real[i * d]!, real[i * d + 1]!);
    const nf = picked.length / d;
    const jitter = g.normal(picked.length, 0, 0.01);
    const fake = Float64Array.from(picked, (v, i) => v + jitter[i]!);
    const r = precisionRecall(real, fake, n, nf, d);
    assert.ok(r.precision > 0.95, `precision ${r.precision}`);
    assert.ok(r.recall < 0.6, `recall ${r.recall}`);
    const partial = precisionRecall(real, g.normal(n * d, 0.7), n, n, d);
    assert.ok(partial.precision > 0 && partial.precision < 1, `precision ${partial.precision}`);
  });
});

// ---- SSIM ------------------------------------------------------------------------------------

describe("ssim", () => {
  test("Gaussian window: 11 taps, sigma 1.5, normalised and symmetric", () => {
    const w = gaussianWindow();
    assert.equal(w.length, 11);
    close(
      w.reduce((s, v) => s + v, 0),
      1,
      1e-15,
    );
    for (let i = 0; i < 5; i++) close(w[i]!, w[10 - i]!, 0);
    let z = 0;
    for (let t = -5; t <= 5; t++) z += Math.exp(-(t * t) / 4.5);
    close(w[5]!, 1 / z, 1e-16);
  });

  test("SSIM(x, x) = 1 and SSIM decreases with noise", () => {
    const g = new Generator(51);
    const shape = { n: 4, h: 20, w: 18, c: 3 };
    const size = shape.n * shape.h * shape.w * shape.c;
    const x = Float32Array.from(g.uniform(size), (u) => 2 * u - 1);
    const self = ssim(x, x, shape);
    for (const v of self.perImage) close(v, 1, 1e-12);
    const noise = g.normal(size);
    let prev = 1;
    for (const s of [0.02, 0.1, 0.3, 1]) {
      const y = Float32Array.from(x, (v, i) => v + s * noise[i]!);
      const r = ssim(x, y, shape);
      assert.ok(r.mean < prev, `SSIM not decreasing at noise ${s}: ${r.mean} >= ${prev}`);
      prev = r.mean;
    }
  });

  test("hand-computed 11x11 cases (one map value)", () => {
    const shape = { n: 1, h: 11, w: 11, c: 1 };
    const c1 = 1e-4;
    const c2 = 9e-4;
    // Constant images a and b: no variance, SSIM = (2ab + C1) / (a^2 + b^2 + C1).
    const a = new Float32Array(121).fill(0.5);
    const b = new Float32Array(121).fill(0.25);
    close(ssim(a, b, shape, { range: [0, 1] }).mean, (2 * 0.5 * 0.25 + c1) / (0.25 + 0.0625 + c1), 1e-12);
    // One bright centre pixel against black: mu_x = w0, sigma_x^2 = w0 - w0^2 with w0 = g5^2.
    const x = new Float32Array(121);
    x[60] = 1;
    const y = new Float32Array(121);
    const w0 = gaussianWindow()[5]! ** 2;
    const expected = (c1 / (w0 * w0 + c1)) * (c2 / (w0 - w0 * w0 + c2));
    close(ssim(x, y, shape, { range: [0, 1] }).mean, expected, 1e-12);
  });

  test("range mapping, channel averaging and images smaller than the window", () => {
    const g = new Generator(52);
    const shape = { n: 2, h: 14, w: 13, c: 1 };
    const size = 2 * 14 * 13;
    const x01 = g.uniform(size);
    const y01 = g.uniform(size);
    const xm = Float32Array.from(x01, (v) => 2 * v - 1);
    const ym = Float32Array.from(y01, (v) => 2 * v - 1);
    const ref = ssim(x01, y01, shape, { range: [0, 1] });
    const mapped = ssim(xm, ym, shape); // default [-1, 1]
    for (let i = 0; i < 2; i++) close(mapped.perImage[i]!, ref.perImage[i]!, 1e-6);
    // Two channels: channel 0 identical, channel 1 = the pair above -> (1 + s) / 2.
    const two = { n: 2, h: 14, w: 13, c: 2 };
    const a2 = new Float32Array(size * 2);
    const b2 = new Float32Array(size * 2);
    for (let p = 0; p < size; p++) {
      a2[2 * p] = x01[p]!;
      b2[2 * p] = x01[p]!;
      a2[2 * p + 1] = x01[p]!;
      b2[2 * p + 1] = y01[p]!;
    }
    const r2 = ssim(a2, b2, two, { range: [0, 1] });
    for (let i = 0; i < 2; i++) close(r2.perImage[i]!, (1 + ref.perImage[i]!) / 2, 1e-12);
    // 2x2 images: no smoothing on either axis (as pytorch_msssim), so the map is per pixel:
    // ((2xy + C1) / (x^2 + y^2 + C1)) * (C2 / C2).
    const px = [0.1, 0.5, 0.9, 0.3];
    const py = [0.2, 0.5, 0.4, 0.0];
    let expected = 0;
    for (let i = 0; i < 4; i++) expected += (2 * px[i]! * py[i]! + 1e-4) / (px[i]! ** 2 + py[i]! ** 2 + 1e-4) / 4;
    close(ssim(px, py, { n: 1, h: 2, w: 2, c: 1 }, { range: [0, 1] }).mean, expected, 1e-12);
  });
});

// ---- PSNR ------------------------------------------------------------------------------------

describe("psnr", () => {
  test("constant error e gives 20 log10(range) - 20 log10(|e|)", () => {
    const shape = { n: 3, h: 4, w: 5, c: 3 };
    const size = 3 * 4 * 5 * 3;
    const g = new Generator(61);
    const x = Float32Array.from(g.uniform(size), (u) => u * 0.5);
    const errors = [0.1, 0.01, 0.25];
    const y = new Float64Array(size);
    for (let i = 0; i < size; i++) y[i] = x[i]! + (i % 2 === 0 ? 1 : -1) * errors[Math.floor(i / 60)]!;
    const r = psnr(x, y, shape, { range: [0, 1] });
    errors.forEach((e, i) => close(r.perImage[i]!, -20 * Math.log10(e), 1e-9, `image ${i}`));
    close(r.mean, (20 + 40 + -20 * Math.log10(0.25)) / 3, 1e-9);
    // Range [-1, 1]: MAX = 2.
    const r2 = psnr(x, y, shape);
    close(r2.perImage[0]!, 20 * Math.log10(2) - 20 * Math.log10(0.1), 1e-9);
  });

  test("identical pairs are +Infinity, excluded from the mean and counted", () => {
    const shape = { n: 3, h: 2, w: 2, c: 1 };
    const x = new Float32Array(12);
    const y = new Float32Array(12);
    for (let i = 4; i < 8; i++) y[i] = 0.1; // image 1 differs by 0.1 everywhere
    const r = psnr(x, y, shape, { range: [0, 1] });
    assert.equal(r.perImage[0], Infinity);
    assert.equal(r.perImage[2], Infinity);
    assert.equal(r.identical, 2);
    close(r.mean, 20, 1e-5);
    const all = psnr(x, x, shape);
    assert.equal(all.mean, Infinity);
    assert.equal(all.identical, 3);
  });
});

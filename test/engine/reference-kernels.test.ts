/**
 * Tests of the pure-TypeScript reference kernels against independent computations: tiny
 * hand-computed cases, naive formulas written differently from the kernel, adjoint identities and
 * finite differences of scalar losses.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";

import { erf, referenceKernels as K } from "../../src/engine/kernels/reference.js";
import {
  BinaryOp,
  ReduceOp,
  UnaryOp,
  type AttentionShape,
  type Conv2dShape,
} from "../../src/engine/kernels/types.js";

// ---- helpers --------------------------------------------------------------------------------

/** Deterministic uniform [-1, 1) generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

function rand(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r() * scale);
}

function f32(...values: number[]): Float32Array {
  return Float32Array.from(values);
}

/** Element-wise |a - e| <= atol + rtol * |e|. */
function assertClose(
  actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-5, rtol = 1e-5, what = "",
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e)) {
      assert.ok(Number.isNaN(a), `${what}[${i}]: expected NaN, got ${a}`);
      continue;
    }
    if (a === e) continue; // also covers infinities
    assert.ok(Math.abs(a - e) <= atol + rtol * Math.abs(e), `${what}[${i}]: got ${a}, expected ${e}`);
  }
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/**
 * Central finite-difference gradient of a scalar loss with respect to every element of `x`
 * (perturbed in place, then restored).
 */
function numericGrad(x: Float32Array, loss: () => number, h = 1e-2): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const saved = x[i]!;
    x[i] = saved + h;
    const up = loss();
    x[i] = saved - h;
    const down = loss();
    x[i] = saved;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

// ---- meta and scalar math -------------------------------------------------------------------

describe("reference kernels: identity", () => {
  test("name, isa and threads", () => {
    assert.equal(K.name, "reference");
    assert.equal(K.cpuIsa(), "typescript");
    assert.equal(K.numThreads(), 1);
    K.setNumThreads(8);
    assert.equal(K.numThreads(), 1);
  });
});

describe("erf", () => {
  test("matches tabulated values to 1e-12", () => {
    const table: [number, number][] = [
      [0, 0],
      [0.1, 0.1124629160182849],
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [1.5, 0.9661051464753108],
      [2, 0.9953222650189527],
      [2.5, 0.999593047982555],
      [3, 0.9999779095030014],
      [3.5, 0.999999256901628],
      [4, 0.9999999845827421],
      [5, 0.9999999999984626],
      [10, 1],
    ];
    for (const [x, e] of table) {
      assert.ok(Math.abs(erf(x) - e) < 1e-12, `erf(${x}) = ${erf(x)}, expected ${e}`);
      assert.ok(Math.abs(erf(-x) + e) < 1e-12, `erf(${-x})`);
    }
    assert.ok(Number.isNaN(erf(NaN)));
    assert.equal(erf(Infinity), 1);
    assert.equal(erf(-Infinity), -1);
  });

  test("is continuous across the series / continued-fraction switch at 3", () => {
    // Derivative there is 2/sqrt(pi) e^{-9} ~ 1.39e-4, so erf(3 +- 1e-9) differ by ~2.8e-13.
    const below = erf(3 - 1e-9);
    const above = erf(3 + 1e-9);
    assert.ok(above > below);
    assert.ok(Math.abs(above - below - 2e-9 * (2 / Math.sqrt(Math.PI)) * Math.exp(-9)) < 1e-14);
  });

  test("derivative matches 2/sqrt(pi) exp(-x^2)", () => {
    for (const x of [-2.7, -0.3, 0, 0.8, 2.2, 3.4, 4.5]) {
      const h = 1e-5;
      const numeric = (erf(x + h) - erf(x - h)) / (2 * h);
      const exact = (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x);
      assert.ok(Math.abs(numeric - exact) < 1e-8, `erf'(${x})`);
    }
  });
});

// ---- matrix multiply ------------------------------------------------------------------------

/** op(X) as a plain 2-D array, from X stored row-major with row stride ld. */
function materialise(X: Float32Array, rows: number, cols: number, ld: number, trans: boolean): number[][] {
  // op(X) is rows x cols; stored X is cols x rows when transposed.
  const out: number[][] = [];
  for (let i = 0; i < rows; i++) {
    out.push([]);
    for (let j = 0; j < cols; j++) out[i]!.push(trans ? X[j * ld + i]! : X[i * ld + j]!);
  }
  return out;
}

function naiveGemm(a: number[][], b: number[][]): number[][] {
  return a.map((row) => b[0]!.map((_, j) => row.reduce((s, v, p) => s + v * b[p]![j]!, 0)));
}

describe("sgemm", () => {
  const M = 5, N = 3, Kd = 7;
  for (const transA of [false, true])
    for (const transB of [false, true]) {
      test(`transA=${transA} transB=${transB} with padded leading dimensions`, () => {
        const lda = (transA ? M : Kd) + 2;
        const ldb = (transB ? Kd : N) + 1;
        const ldc = N + 3;
        const A = rand((transA ? Kd : M) * lda, 1);
        const B = rand((transB ? N : Kd) * ldb, 2);
        const C0 = rand(M * ldc, 3);
        const C = C0.slice();
        const alpha = 0.75, beta = -1.5;
        K.sgemm(transA, transB, M, N, Kd, alpha, A, lda, B, ldb, beta, C, ldc);
        const ab = naiveGemm(materialise(A, M, Kd, lda, transA), materialise(B, Kd, N, ldb, transB));
        const expected = C0.slice();
        for (let i = 0; i < M; i++)
          for (let j = 0; j < N; j++) expected[i * ldc + j] = alpha * ab[i]![j]! + beta * C0[i * ldc + j]!;
        assertClose(C, expected, 1e-5, 1e-5, "C"); // padding columns untouched too
      });
    }

  test("hand-computed 2x2", () => {
    const C = new Float32Array(4);
    K.sgemm(false, false, 2, 2, 2, 1, f32(1, 2, 3, 4), 2, f32(5, 6, 7, 8), 2, 0, C, 2);
    assert.deepEqual([...C], [19, 22, 43, 50]);
    K.sgemm(true, false, 2, 2, 2, 1, f32(1, 2, 3, 4), 2, f32(5, 6, 7, 8), 2, 0, C, 2);
    assert.deepEqual([...C], [26, 30, 38, 44]);
  });

  test("beta == 0 does not read C (NaN there does not leak)", () => {
    const C = new Float32Array(6).fill(NaN);
    K.sgemm(false, false, 2, 3, 1, 2, f32(1, 2), 1, f32(1, 2, 3), 3, 0, C, 3);
    assert.deepEqual([...C], [2, 4, 6, 4, 8, 12]);
  });

  test("K == 0 gives beta * C, or zeros when beta == 0", () => {
    const C = f32(1, 2, 3, 4);
    K.sgemm(false, false, 2, 2, 0, 1, new Float32Array(0), 0, new Float32Array(0), 2, 0.5, C, 2);
    assert.deepEqual([...C], [0.5, 1, 1.5, 2]);
    const D = new Float32Array(4).fill(NaN);
    K.sgemm(false, false, 2, 2, 0, 1, new Float32Array(0), 0, new Float32Array(0), 2, 0, D, 2);
    assert.deepEqual([...D], [0, 0, 0, 0]);
  });

  test("M == 0 or N == 0 touches nothing", () => {
    const C = new Float32Array(4).fill(NaN);
    K.sgemm(false, false, 0, 2, 3, 1, new Float32Array(0), 3, rand(6, 4), 2, 0, C, 2);
    K.sgemm(false, false, 2, 0, 3, 1, rand(6, 4), 3, new Float32Array(0), 0, 0, C, 2);
    assert.ok(C.every(Number.isNaN));
  });

  test("short arrays raise RangeError", () => {
    assert.throws(
      () => K.sgemm(false, false, 2, 2, 2, 1, new Float32Array(3), 2, new Float32Array(4), 2, 0, new Float32Array(4), 2),
      RangeError,
    );
  });

  test("batched equals a loop of single sgemms, with a broadcast (stride 0) operand", () => {
    const batch = 3, m = 4, n = 5, k = 3;
    const A = rand(m * k, 5); // broadcast
    const B = rand(batch * k * n + 7, 6);
    const strideB = k * n + 2; // gaps between matrices
    const C = rand(batch * m * n, 7);
    const expected = C.slice();
    for (let i = 0; i < batch; i++) {
      K.sgemm(false, true, m, n, k, 1.25, A, k, B.subarray(i * strideB), k, 0.5, expected.subarray(i * m * n), n);
    }
    // B stored as [n, k] per batch (transB), strided by strideB.
    K.sgemmBatched(batch, false, true, m, n, k, 1.25, A, 0, k, B, strideB, k, 0.5, C, m * n, n);
    assertClose(C, expected, 0, 0, "batched");
    // And one matrix against the naive product.
    const ab = naiveGemm(materialise(A, m, k, k, false), materialise(B.subarray(strideB), k, n, k, true));
    const C2 = new Float32Array(batch * m * n);
    K.sgemmBatched(batch, false, true, m, n, k, 1, A, 0, k, B, strideB, k, 0, C2, m * n, n);
    assertClose(C2.subarray(m * n, 2 * m * n), ab.flat(), 1e-6, 1e-6, "batch 1");
  });
});

// ---- convolution ----------------------------------------------------------------------------

/** Direct convolution over an explicitly zero-padded copy of x (no bounds tests in the sum). */
function directConv(s: Conv2dShape, x: Float32Array, w: Float32Array, bias: Float32Array | null): Float64Array {
  const PH = s.H + 2 * s.padH, PW = s.W + 2 * s.padW;
  const padded = new Float64Array(s.N * PH * PW * s.C);
  for (let n = 0; n < s.N; n++)
    for (let h = 0; h < s.H; h++)
      for (let w2 = 0; w2 < s.W; w2++)
        for (let c = 0; c < s.C; c++)
          padded[((n * PH + h + s.padH) * PW + w2 + s.padW) * s.C + c] = x[((n * s.H + h) * s.W + w2) * s.C + c]!;
  const y = new Float64Array(s.N * s.OH * s.OW * s.O);
  for (let n = 0; n < s.N; n++)
    for (let o = 0; o < s.O; o++)
      for (let oh = 0; oh < s.OH; oh++)
        for (let ow = 0; ow < s.OW; ow++) {
          let acc = bias ? bias[o]! : 0;
          for (let c = 0; c < s.C; c++)
            for (let kh = 0; kh < s.KH; kh++)
              for (let kw = 0; kw < s.KW; kw++)
                acc +=
                  padded[((n * PH + oh * s.strideH + kh) * PW + ow * s.strideW + kw) * s.C + c]! *
                  w[((o * s.C + c) * s.KH + kh) * s.KW + kw]!;
          y[((n * s.OH + oh) * s.OW + ow) * s.O + o] = acc;
        }
  return y;
}

function convShape(
  N: number, H: number, W: number, C: number, O: number, KH: number, KW: number,
  strideH: number, strideW: number, padH: number, padW: number,
): Conv2dShape {
  const OH = Math.floor((H + 2 * padH - KH) / strideH) + 1;
  const OW = Math.floor((W + 2 * padW - KW) / strideW) + 1;
  return { N, H, W, C, O, KH, KW, strideH, strideW, padH, padW, OH, OW };
}

describe("conv2d", () => {
  test("hand-computed 3x3 image, 2x2 kernel", () => {
    const s = convShape(1, 3, 3, 1, 1, 2, 2, 1, 1, 0, 0);
    const y = new Float32Array(4);
    K.conv2dForward(s, f32(1, 2, 3, 4, 5, 6, 7, 8, 9), f32(1, 0, 0, -1), f32(10), y);
    // y = x[i,j] - x[i+1,j+1] + 10 = -4 + 10 everywhere.
    assert.deepEqual([...y], [6, 6, 6, 6]);
  });

  const shapes: [string, Conv2dShape][] = [
    ["3x2 kernel, stride 2x1, pad 1x0", convShape(2, 5, 4, 3, 2, 3, 2, 2, 1, 1, 0)],
    ["3x3 stride 1 pad 1", convShape(1, 4, 5, 2, 3, 3, 3, 1, 1, 1, 1)],
    ["1x1", convShape(2, 3, 3, 4, 3, 1, 1, 1, 1, 0, 0)],
    ["stride 3 with uncovered pixels", convShape(1, 7, 5, 2, 2, 2, 2, 3, 3, 0, 0)],
  ];
  for (const [name, s] of shapes) {
    test(`forward equals direct formula: ${name}`, () => {
      const x = rand(s.N * s.H * s.W * s.C, 11);
      const w = rand(s.O * s.C * s.KH * s.KW, 12);
      const bias = rand(s.O, 13);
      const y = new Float32Array(s.N * s.OH * s.OW * s.O).fill(NaN);
      K.conv2dForward(s, x, w, bias, y);
      assertClose(y, directConv(s, x, w, bias), 1e-5, 1e-5, "y");
      K.conv2dForward(s, x, w, null, y);
      assertClose(y, directConv(s, x, w, null), 1e-5, 1e-5, "y without bias");
    });

    test(`backward matches finite differences: ${name}`, () => {
      const x = rand(s.N * s.H * s.W * s.C, 21);
      const w = rand(s.O * s.C * s.KH * s.KW, 22);
      const bias = rand(s.O, 23);
      const R = rand(s.N * s.OH * s.OW * s.O, 24); // L = sum(y * R), so dL/dy = R
      const y = new Float32Array(R.length);
      const loss = () => {
        K.conv2dForward(s, x, w, bias, y);
        return dot(y, R);
      };
      const dx = new Float32Array(x.length).fill(NaN);
      const dw = new Float32Array(w.length).fill(NaN);
      const db = new Float32Array(s.O).fill(NaN);
      K.conv2dBackwardInput(s, R, w, dx);
      K.conv2dBackwardWeight(s, R, x, dw, db);
      assertClose(dx, numericGrad(x, loss), 2e-3, 2e-3, "dx");
      assertClose(dw, numericGrad(w, loss), 2e-3, 2e-3, "dw");
      assertClose(db, numericGrad(bias, loss), 2e-3, 2e-3, "dbias");
      K.conv2dBackwardWeight(s, R, x, dw, null); // dbias optional
      assertClose(dw, numericGrad(w, loss), 2e-3, 2e-3, "dw (no dbias)");
    });
  }

  test("zero-sized batch leaves y untouched; empty contraction gives the bias", () => {
    const s0 = convShape(0, 3, 3, 2, 2, 3, 3, 1, 1, 1, 1);
    const y = new Float32Array(4).fill(NaN);
    K.conv2dForward(s0, new Float32Array(0), rand(36, 1), null, y);
    assert.ok(y.every(Number.isNaN));
    const s1 = convShape(1, 2, 2, 0, 2, 1, 1, 1, 1, 0, 0);
    const y1 = new Float32Array(8).fill(NaN);
    K.conv2dForward(s1, new Float32Array(0), new Float32Array(0), f32(3, -1), y1);
    assert.deepEqual([...y1], [3, -1, 3, -1, 3, -1, 3, -1]);
  });
});

// ---- attention ------------------------------------------------------------------------------

/** Head h of batch b of a [B, L, H, D] tensor as a contiguous [L, D] matrix. */
function head(x: Float32Array, B: number, L: number, H: number, D: number, b: number, h: number): Float32Array {
  const out = new Float32Array(L * D);
  K.stridedCopy([L, D], x, (b * L * H + h) * D, [H * D, 1], out);
  return out;
}

describe("attention", () => {
  const shapes: AttentionShape[] = [
    { B: 2, H: 3, Lq: 5, Lk: 7, D: 4, scale: 0.5 },
    { B: 1, H: 1, Lq: 1, Lk: 1, D: 3, scale: 1 },
    { B: 1, H: 2, Lq: 6, Lk: 3, D: 5, scale: 1 / Math.sqrt(5) },
  ];

  for (const s of shapes) {
    const tag = `B${s.B} H${s.H} Lq${s.Lq} Lk${s.Lk} D${s.D}`;
    test(`forward equals softmax(QK^T scale) V: ${tag}`, () => {
      const { B, H, Lq, Lk, D } = s;
      const q = rand(B * Lq * H * D, 31, 2);
      const k = rand(B * Lk * H * D, 32, 2);
      const v = rand(B * Lk * H * D, 33);
      const out = new Float32Array(q.length).fill(NaN);
      const lse = new Float32Array(B * H * Lq).fill(NaN);
      K.attentionForward(s, q, k, v, out, lse);
      for (let b = 0; b < B; b++)
        for (let h = 0; h < H; h++) {
          const Q = head(q, B, Lq, H, D, b, h), Kh = head(k, B, Lk, H, D, b, h), V = head(v, B, Lk, H, D, b, h);
          const S = new Float32Array(Lq * Lk);
          K.sgemm(false, true, Lq, Lk, D, s.scale, Q, D, Kh, D, 0, S, Lk);
          const P = new Float32Array(Lq * Lk);
          K.softmaxForward(Lq, Lk, false, S, P);
          const O = new Float32Array(Lq * D);
          K.sgemm(false, false, Lq, D, Lk, 1, P, Lk, V, D, 0, O, D);
          assertClose(head(out, B, Lq, H, D, b, h), O, 1e-5, 1e-5, "out");
          for (let i = 0; i < Lq; i++) {
            let sum = 0;
            for (let j = 0; j < Lk; j++) sum += Math.exp(S[i * Lk + j]!);
            assertClose([lse[(b * H + h) * Lq + i]!], [Math.log(sum)], 1e-5, 1e-5, "lse");
          }
        }
    });

    test(`backward matches finite differences: ${tag}`, () => {
      const { B, H, Lq, Lk, D } = s;
      const q = rand(B * Lq * H * D, 41);
      const k = rand(B * Lk * H * D, 42);
      const v = rand(B * Lk * H * D, 43);
      const R = rand(B * Lq * H * D, 44);
      const out = new Float32Array(q.length);
      const lse = new Float32Array(B * H * Lq);
      const loss = () => {
        K.attentionForward(s, q, k, v, out, lse);
        return dot(out, R);
      };
      loss();
      const dq = new Float32Array(q.length).fill(NaN);
      const dk = new Float32Array(k.length).fill(NaN);
      const dv = new Float32Array(v.length).fill(NaN);
      K.attentionBackward(s, q, k, v, out, lse, R, dq, dk, dv);
      assertClose(dq, numericGrad(q, loss), 2e-3, 5e-3, "dq");
      assertClose(dk, numericGrad(k, loss), 2e-3, 5e-3, "dk");
      assertClose(dv, numericGrad(v, loss), 2e-3, 5e-3, "dv");
    });
  }

  test("one key: out copies v, lse is the single score", () => {
    const s: AttentionShape = { B: 1, H: 1, Lq: 2, Lk: 1, D: 2, scale: 0.5 };
    const out = new Float32Array(4), lse = new Float32Array(2);
    K.attentionForward(s, f32(1, 2, 3, 4), f32(2, 2), f32(7, -7), out, lse);
    assert.deepEqual([...out], [7, -7, 7, -7]);
    assert.deepEqual([...lse], [3, 7]);
  });

  test("no keys: out is 0 and lse is -Infinity; no queries: dk and dv are 0", () => {
    const s: AttentionShape = { B: 1, H: 2, Lq: 2, Lk: 0, D: 3, scale: 1 };
    const out = new Float32Array(12).fill(NaN), lse = new Float32Array(4).fill(NaN);
    K.attentionForward(s, rand(12, 1), new Float32Array(0), new Float32Array(0), out, lse);
    assert.ok(out.every((x) => x === 0));
    assert.ok(lse.every((x) => x === -Infinity));
    const s2: AttentionShape = { B: 1, H: 2, Lq: 0, Lk: 2, D: 3, scale: 1 };
    const dk = new Float32Array(12).fill(NaN), dv = new Float32Array(12).fill(NaN);
    const none = new Float32Array(0);
    K.attentionBackward(s2, none, rand(12, 2), rand(12, 3), none, none, none, none, dk, dv);
    assert.ok(dk.every((x) => x === 0) && dv.every((x) => x === 0));
  });
});

// ---- normalisation ----------------------------------------------------------------------------

describe("group norm", () => {
  const configs: [number, number, number, number][] = [
    [2, 3, 6, 2], // N, HW, C, G: 3 channels per group
    [1, 5, 4, 4], // instance norm
    [2, 4, 3, 1], // one group (layer norm over HW x C)
  ];
  for (const [N, HW, C, G] of configs) {
    const tag = `N${N} HW${HW} C${C} G${G}`;
    test(`forward equals layer norm of the permuted groups: ${tag}`, () => {
      const cpg = C / G, eps = 1e-5;
      const x = rand(N * HW * C, 51, 3);
      const gamma = rand(C, 52), beta = rand(C, 53);
      const y = new Float32Array(x.length), mean = new Float32Array(N * G), rstd = new Float32Array(N * G);
      K.groupNormForward(N, HW, C, G, eps, x, gamma, beta, y, mean, rstd);
      // [N, HW, G, cpg] -> [N, G, HW, cpg]: each group becomes one contiguous row.
      const rows = new Float32Array(x.length);
      K.stridedCopy([N, G, HW, cpg], x, 0, [HW * C, cpg, C, 1], rows);
      const yRows = new Float32Array(x.length), m2 = new Float32Array(N * G), r2 = new Float32Array(N * G);
      K.layerNormForward(N * G, HW * cpg, eps, rows, null, null, yRows, m2, r2);
      assertClose(mean, m2, 1e-6, 1e-6, "mean");
      assertClose(rstd, r2, 1e-6, 1e-5, "rstd");
      const expected = new Float32Array(x.length);
      for (let n = 0; n < N; n++)
        for (let g = 0; g < G; g++)
          for (let p = 0; p < HW; p++)
            for (let j = 0; j < cpg; j++) {
              const c = g * cpg + j;
              expected[(n * HW + p) * C + c] = yRows[((n * G + g) * HW + p) * cpg + j]! * gamma[c]! + beta[c]!;
            }
      assertClose(y, expected, 1e-5, 1e-5, "y");
    });

    test(`backward matches finite differences: ${tag}`, () => {
      const eps = 1e-5;
      const x = rand(N * HW * C, 61, 2);
      const gamma = rand(C, 62), beta = rand(C, 63);
      const R = rand(x.length, 64);
      const y = new Float32Array(x.length), mean = new Float32Array(N * G), rstd = new Float32Array(N * G);
      const loss = () => {
        K.groupNormForward(N, HW, C, G, eps, x, gamma, beta, y, mean, rstd);
        return dot(y, R);
      };
      loss();
      const dx = new Float32Array(x.length), dgamma = new Float32Array(C), dbeta = new Float32Array(C);
      K.groupNormBackward(N, HW, C, G, R, x, mean, rstd, gamma, dx, dgamma, dbeta);
      assertClose(dx, numericGrad(x, loss, 1e-2), 3e-3, 5e-3, "dx");
      assertClose(dgamma, numericGrad(gamma, loss), 2e-3, 2e-3, "dgamma");
      assertClose(dbeta, numericGrad(beta, loss), 2e-3, 2e-3, "dbeta");
    });
  }

  test("hand-computed: one group of [1, 2, 3, 4]", () => {
    const y = new Float32Array(4), mean = new Float32Array(1), rstd = new Float32Array(1);
    K.groupNormForward(1, 2, 2, 1, 0, f32(1, 2, 3, 4), null, null, y, mean, rstd);
    // mean 2.5, biased variance 1.25.
    assertClose(mean, [2.5], 0, 0);
    assertClose(rstd, [1 / Math.sqrt(1.25)], 1e-7, 1e-7);
    assertClose(y, [-1.5, -0.5, 0.5, 1.5].map((d) => d / Math.sqrt(1.25)), 1e-6, 1e-6);
  });

  test("null gamma acts as identity in backward; null dgamma/dbeta allowed", () => {
    const [N, HW, C, G] = [1, 3, 4, 2];
    const x = rand(12, 71), R = rand(12, 72);
    const y = new Float32Array(12), mean = new Float32Array(2), rstd = new Float32Array(2);
    K.groupNormForward(N, HW, C, G, 1e-5, x, null, null, y, mean, rstd);
    const dx1 = new Float32Array(12), dx2 = new Float32Array(12);
    K.groupNormBackward(N, HW, C, G, R, x, mean, rstd, null, dx1, null, null);
    K.groupNormBackward(N, HW, C, G, R, x, mean, rstd, new Float32Array(C).fill(1), dx2, null, null);
    assertClose(dx1, dx2, 0, 0);
  });
});

describe("layer norm", () => {
  test("forward: zero mean, unit biased variance, then affine", () => {
    const R = 3, D = 7;
    const x = rand(R * D, 81, 4);
    const gamma = rand(D, 82), beta = rand(D, 83);
    const y = new Float32Array(R * D), mean = new Float32Array(R), rstd = new Float32Array(R);
    K.layerNormForward(R, D, 0, x, null, null, y, mean, rstd);
    for (let r = 0; r < R; r++) {
      const row = [...y.subarray(r * D, (r + 1) * D)];
      const m = row.reduce((a, b) => a + b) / D;
      const v = row.reduce((a, b) => a + (b - m) ** 2, 0) / D;
      assert.ok(Math.abs(m) < 1e-6 && Math.abs(v - 1) < 1e-5, `row ${r}: mean ${m}, var ${v}`);
      const xr = [...x.subarray(r * D, (r + 1) * D)];
      const xm = xr.reduce((a, b) => a + b) / D;
      assertClose([mean[r]!], [xm], 1e-6, 1e-6);
    }
    const y2 = new Float32Array(R * D);
    K.layerNormForward(R, D, 0, x, gamma, beta, y2, mean, rstd);
    assertClose(y2, y.map((v, i) => v * gamma[i % D]! + beta[i % D]!), 1e-6, 1e-6, "affine");
  });

  test("backward matches finite differences", () => {
    const R = 4, D = 5, eps = 1e-3;
    const x = rand(R * D, 91, 2), gamma = rand(D, 92), beta = rand(D, 93), Rw = rand(R * D, 94);
    const y = new Float32Array(R * D), mean = new Float32Array(R), rstd = new Float32Array(R);
    const loss = () => {
      K.layerNormForward(R, D, eps, x, gamma, beta, y, mean, rstd);
      return dot(y, Rw);
    };
    loss();
    const dx = new Float32Array(R * D), dgamma = new Float32Array(D), dbeta = new Float32Array(D);
    K.layerNormBackward(R, D, Rw, x, mean, rstd, gamma, dx, dgamma, dbeta);
    assertClose(dx, numericGrad(x, loss), 3e-3, 5e-3, "dx");
    assertClose(dgamma, numericGrad(gamma, loss), 2e-3, 2e-3, "dgamma");
    assertClose(dbeta, numericGrad(beta, loss), 2e-3, 2e-3, "dbeta");
  });
});

describe("softmax", () => {
  test("hand-computed row and stability with large inputs", () => {
    const y = new Float32Array(6);
    K.softmaxForward(2, 3, false, f32(1, 2, 3, 1001, 1002, 1003), y);
    const e = [1, Math.E, Math.E ** 2];
    const z = e[0]! + e[1]! + e[2]!;
    const expected = e.map((v) => v / z);
    assertClose(y, [...expected, ...expected], 1e-7, 1e-6);
    K.softmaxForward(2, 3, true, f32(1, 2, 3, 1001, 1002, 1003), y);
    const logs = expected.map(Math.log);
    assertClose(y, [...logs, ...logs], 1e-6, 1e-6);
  });

  for (const log of [false, true]) {
    test(`${log ? "log-" : ""}softmax backward matches finite differences`, () => {
      const R = 3, D = 5;
      const x = rand(R * D, 101, 3), W = rand(R * D, 102);
      const y = new Float32Array(R * D);
      const loss = () => {
        K.softmaxForward(R, D, log, x, y);
        return dot(y, W);
      };
      loss();
      const dx = new Float32Array(R * D);
      K.softmaxBackward(R, D, log, y, W, dx);
      assertClose(dx, numericGrad(x, loss, 1e-2), 2e-3, 5e-3, "dx");
    });
  }
});

// ---- elementwise --------------------------------------------------------------------------------

describe("unary", () => {
  const geluTanh = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  const cases: [string, UnaryOp, (x: number) => number, number[]][] = [
    ["Neg", UnaryOp.Neg, (x) => -x, [-1.5, 0.3, 2]],
    ["Exp", UnaryOp.Exp, Math.exp, [-2, 0, 1.3]],
    ["Log", UnaryOp.Log, Math.log, [0.2, 1, 3.7]],
    ["Sqrt", UnaryOp.Sqrt, Math.sqrt, [0.25, 1, 9]],
    ["Abs", UnaryOp.Abs, Math.abs, [-2, -0.5, 0.7]],
    ["Sigmoid", UnaryOp.Sigmoid, (x) => 1 / (1 + Math.exp(-x)), [-3, 0, 2]],
    ["Silu", UnaryOp.Silu, (x) => x / (1 + Math.exp(-x)), [-3, 0.5, 2]],
    ["GeluErf", UnaryOp.GeluErf, (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)), [-2.5, -1, 0.3, 1, 4]],
    ["GeluTanh", UnaryOp.GeluTanh, geluTanh, [-2.5, -1, 0.3, 1, 4]],
    ["Relu", UnaryOp.Relu, (x) => Math.max(x, 0), [-1, 0.5, 2]],
    ["Tanh", UnaryOp.Tanh, Math.tanh, [-2, 0.1, 0.9]],
    ["Square", UnaryOp.Square, (x) => x * x, [-3, 0.5, 2]],
    ["Reciprocal", UnaryOp.Reciprocal, (x) => 1 / x, [-2, 0.5, 4]],
    ["Sign", UnaryOp.Sign, Math.sign, [-2, 0, 3]],
  ];
  for (const [name, op, f, xs] of cases) {
    test(`${name} forward and backward (finite differences)`, () => {
      const x = Float32Array.from(xs);
      const y = new Float32Array(xs.length);
      K.unaryForward(op, xs.length, x, y);
      assertClose(y, [...x].map(f), 1e-7, 1e-6, `${name} y`);
      const dy = rand(xs.length, 111);
      const dx = new Float32Array(xs.length);
      K.unaryBackward(op, xs.length, x, y, dy, dx);
      const h = 1e-4; // finite differences in float64 of the float64 formula
      const expected = [...x].map((v, i) => (name === "Sign" ? 0 : ((f(v + h) - f(v - h)) / (2 * h)) * dy[i]!));
      assertClose(dx, expected, 1e-5, 1e-4, `${name} dx`);
    });
  }

  test("known GELU values", () => {
    const x = f32(1, -1, 0);
    const y = new Float32Array(3);
    K.unaryForward(UnaryOp.GeluErf, 3, x, y);
    assertClose(y, [0.8413447460685429, -0.15865525393145707, 0], 1e-7, 1e-7);
    K.unaryForward(UnaryOp.GeluTanh, 3, x, y);
    assertClose(y, [0.8411919906082768, -0.15880800939172324, 0], 1e-7, 1e-7);
  });

  test("gradient conventions at kinks: Abs'(0) = 0, Relu'(0) = 0, Sign' = 0", () => {
    const x = f32(0, 0, 5), dy = f32(1, 1, 1), dx = new Float32Array(3), y = new Float32Array(3);
    K.unaryForward(UnaryOp.Abs, 3, x, y);
    K.unaryBackward(UnaryOp.Abs, 3, x, y, dy, dx);
    assert.deepEqual([...dx], [0, 0, 1]);
    K.unaryForward(UnaryOp.Relu, 3, x, y);
    K.unaryBackward(UnaryOp.Relu, 3, x, y, dy, dx);
    assert.deepEqual([...dx], [0, 0, 1]);
    K.unaryBackward(UnaryOp.Sign, 3, x, y, dy, dx);
    assert.deepEqual([...dx], [0, 0, 0]);
  });
});

describe("binary", () => {
  test("broadcast a row and a column (stride 0)", () => {
    const out = new Float32Array(6);
    // out[i, j] = a[i] - b[j], shape [2, 3]
    K.binaryForward(BinaryOp.Sub, [2, 3], f32(10, 20), [1, 0], f32(1, 2, 3), [0, 1], out);
    assert.deepEqual([...out], [9, 8, 7, 19, 18, 17]);
  });

  test("transposed operand via strides", () => {
    const out = new Float32Array(6);
    // a stored [3, 2], read as its transpose [2, 3]
    K.binaryForward(BinaryOp.Mul, [2, 3], f32(1, 2, 3, 4, 5, 6), [1, 2], f32(1, 1, 1, 2, 2, 2), [3, 1], out);
    assert.deepEqual([...out], [1, 3, 5, 4, 8, 12]);
  });

  test("every op on a few pairs", () => {
    const a = f32(2, -1, 3, 0.5), b = f32(3, -1, 2, 4);
    const expect: [BinaryOp, number[]][] = [
      [BinaryOp.Add, [5, -2, 5, 4.5]],
      [BinaryOp.Sub, [-1, 0, 1, -3.5]],
      [BinaryOp.Mul, [6, 1, 6, 2]],
      [BinaryOp.Div, [2 / 3, 1, 1.5, 0.125]],
      [BinaryOp.Pow, [8, -1, 9, 0.0625]],
      [BinaryOp.Maximum, [3, -1, 3, 4]],
      [BinaryOp.Minimum, [2, -1, 2, 0.5]],
      [BinaryOp.Greater, [0, 0, 1, 0]],
      [BinaryOp.Less, [1, 0, 0, 1]],
      [BinaryOp.Equal, [0, 1, 0, 0]],
    ];
    const out = new Float32Array(4);
    for (const [op, e] of expect) {
      K.binaryForward(op, [4], a, [1], b, [1], out);
      assertClose(out, e, 1e-7, 1e-7, `op ${op}`);
    }
  });

  test("rank 0 is one element; a zero dimension is nothing", () => {
    const out = f32(NaN, NaN);
    K.binaryForward(BinaryOp.Add, [], f32(2), [], f32(5), [], out);
    assert.equal(out[0], 7);
    assert.ok(Number.isNaN(out[1]!));
    K.binaryForward(BinaryOp.Add, [3, 0], f32(), [0, 1], f32(), [0, 1], out);
    assert.ok(Number.isNaN(out[1]!));
  });

  test("rank 8 broadcast", () => {
    const shape = [2, 1, 2, 1, 2, 1, 2, 1];
    const strides = [8, 0, 4, 0, 2, 0, 1, 0];
    const a = rand(16, 121);
    const out = new Float32Array(16);
    K.binaryForward(BinaryOp.Add, shape, a, strides, f32(1), [0, 0, 0, 0, 0, 0, 0, 0], out);
    assertClose(out, a.map((v) => v + 1), 0, 0);
  });
});

describe("clamp, where, axpby, fill", () => {
  test("clamp forward and backward (boundaries pass the gradient)", () => {
    const x = f32(-2, -1, 0, 1, 2), y = new Float32Array(5), dx = new Float32Array(5);
    K.clampForward(5, -1, 1, x, y);
    assert.deepEqual([...y], [-1, -1, 0, 1, 1]);
    K.clampBackward(5, -1, 1, x, f32(1, 2, 3, 4, 5), dx);
    assert.deepEqual([...dx], [0, 2, 3, 4, 0]);
  });

  test("where", () => {
    const out = new Float32Array(4);
    K.whereForward(4, f32(1, 0, -2, 0), f32(1, 2, 3, 4), f32(5, 6, 7, 8), out);
    assert.deepEqual([...out], [1, 6, 3, 8]);
  });

  test("axpby in place and fill", () => {
    const y = f32(1, 2, 3);
    K.axpby(3, 2, f32(1, 1, 1), -1, y);
    assert.deepEqual([...y], [1, 0, -1]);
    K.fill(2, 7.5, y);
    assert.deepEqual([...y], [7.5, 7.5, -1]);
  });
});

// ---- reductions and layout ----------------------------------------------------------------------

describe("reduce and argmax", () => {
  // x [outer=2, r=3, inner=2]
  const x = f32(1, 5, 4, 2, 3, 6, -1, 0, -3, 0, -2, 9);
  test("sum, max, min over the middle axis", () => {
    const out = new Float32Array(4);
    K.reduce(ReduceOp.Sum, 2, 3, 2, x, out);
    assert.deepEqual([...out], [8, 13, -6, 9]);
    K.reduce(ReduceOp.Max, 2, 3, 2, x, out);
    assert.deepEqual([...out], [4, 6, -1, 9]);
    K.reduce(ReduceOp.Min, 2, 3, 2, x, out);
    assert.deepEqual([...out], [1, 2, -3, 0]);
  });

  test("argmax picks the first maximal index", () => {
    const out = new Int32Array(4);
    K.argmax(2, 3, 2, x, out);
    assert.deepEqual([...out], [1, 2, 0, 2]);
    const ties = new Int32Array(1);
    K.argmax(1, 4, 1, f32(1, 3, 3, 2), ties);
    assert.equal(ties[0], 1);
    K.argmax(1, 3, 1, f32(-Infinity, -Infinity, -Infinity), ties);
    assert.equal(ties[0], 0);
  });

  test("NaN propagates through max/min and wins argmax", () => {
    const out = new Float32Array(1), idx = new Int32Array(1);
    K.reduce(ReduceOp.Max, 1, 3, 1, f32(1, NaN, 2), out);
    assert.ok(Number.isNaN(out[0]!));
    K.argmax(1, 3, 1, f32(1, NaN, 2), idx);
    assert.equal(idx[0], 1);
  });

  test("empty reduction gives the identity; empty output touches nothing", () => {
    const out = new Float32Array(2);
    K.reduce(ReduceOp.Sum, 1, 0, 2, f32(), out);
    assert.deepEqual([...out], [0, 0]);
    K.reduce(ReduceOp.Max, 1, 0, 2, f32(), out);
    assert.deepEqual([...out], [-Infinity, -Infinity]);
    K.reduce(ReduceOp.Min, 2, 0, 1, f32(), out);
    assert.deepEqual([...out], [Infinity, Infinity]);
    const untouched = f32(NaN);
    K.reduce(ReduceOp.Sum, 0, 3, 1, f32(), untouched);
    assert.ok(Number.isNaN(untouched[0]!));
  });

  test("sum over a long axis is accurate (float64 accumulation)", () => {
    const n = 100_000;
    const xs = new Float32Array(n).fill(0.1);
    const out = new Float32Array(1);
    K.reduce(ReduceOp.Sum, 1, n, 1, xs, out);
    assertClose(out, [n * Math.fround(0.1)], 0, 1e-7);
    assertClose([K.sumSquares(n, xs)], [n * Math.fround(0.1) ** 2], 0, 1e-10);
    assert.equal(K.sumSquares(0, f32()), 0);
  });
});

describe("strided copy and add", () => {
  test("stridedCopy implements permute(2, 0, 1) of a [2, 3, 4] tensor", () => {
    const x = Float32Array.from({ length: 24 }, (_, i) => i);
    const out = new Float32Array(24);
    // out[k, i, j] = x[i, j, k]; x strides [12, 4, 1]
    K.stridedCopy([4, 2, 3], x, 0, [1, 12, 4], out);
    for (let k = 0; k < 4; k++)
      for (let i = 0; i < 2; i++)
        for (let j = 0; j < 3; j++) assert.equal(out[(k * 2 + i) * 3 + j], x[i * 12 + j * 4 + k]);
  });

  test("stridedCopy slices with an offset and expands with stride 0", () => {
    const x = Float32Array.from({ length: 12 }, (_, i) => i); // [3, 4]
    const out = new Float32Array(4);
    K.stridedCopy([2, 2], x, 5, [4, 1], out); // rows 1..2, cols 1..2
    assert.deepEqual([...out], [5, 6, 9, 10]);
    const ex = new Float32Array(6);
    K.stridedCopy([2, 3], x, 1, [0, 1], ex); // expand row [1, 2, 3]
    assert.deepEqual([...ex], [1, 2, 3, 1, 2, 3]);
    const scalar = new Float32Array(1);
    K.stridedCopy([], x, 7, [], scalar);
    assert.equal(scalar[0], 7);
  });

  test("stridedAdd is the adjoint of stridedCopy and accumulates", () => {
    const shape = [3, 2, 4], strides = [1, 20, 4], offset = 2;
    const base = rand(40, 131), g = rand(24, 132);
    const copied = new Float32Array(24);
    K.stridedCopy(shape, base, offset, strides, copied);
    const acc = rand(40, 133);
    const before = acc.slice();
    K.stridedAdd(shape, g, acc, offset, strides);
    const delta = acc.map((v, i) => v - before[i]!);
    assertClose([dot(copied, g)], [dot(base, delta)], 1e-5, 1e-5, "<copy(x), g> = <x, add(g)>");
  });

  test("stridedAdd with aliasing (expand backward) sums every contribution", () => {
    const out = f32(100, 200, 300);
    K.stridedAdd([2, 3], f32(1, 2, 3, 4, 5, 6), out, 0, [0, 1]);
    assert.deepEqual([...out], [105, 207, 309]);
    const all = f32(1);
    K.stridedAdd([2, 2], f32(1, 2, 3, 4), all, 0, [0, 0]);
    assert.equal(all[0], 11);
  });
});

// ---- spatial resampling ---------------------------------------------------------------------------

describe("upsample and pool", () => {
  test("nearest 2x upsample forward, backward as its adjoint", () => {
    // x [1, 1, 2, 2] channels-last: pixels (0,0)=[1,2], (0,1)=[3,4]
    const y = new Float32Array(16);
    K.upsampleNearest2xForward(1, 1, 2, 2, f32(1, 2, 3, 4), y);
    assert.deepEqual([...y], [1, 2, 1, 2, 3, 4, 3, 4, 1, 2, 1, 2, 3, 4, 3, 4]);
    const [N, H, W, C] = [2, 3, 1, 3];
    const x = rand(N * H * W * C, 141), dy = rand(N * 4 * H * W * C, 142);
    const up = new Float32Array(dy.length), dx = new Float32Array(x.length);
    K.upsampleNearest2xForward(N, H, W, C, x, up);
    K.upsampleNearest2xBackward(N, H, W, C, dy, dx);
    assertClose([dot(up, dy)], [dot(x, dx)], 1e-5, 1e-5, "adjoint");
  });

  test("avg pool forward (hand), backward as its adjoint, k = 1 is the identity", () => {
    // x [1, 2, 4, 1], k = 2 -> y [1, 1, 2, 1]
    const y = new Float32Array(2);
    K.avgPool2dForward(1, 2, 4, 1, 2, f32(1, 2, 3, 4, 5, 6, 7, 8), y);
    assert.deepEqual([...y], [3.5, 5.5]);
    const [N, H, W, C, k] = [2, 6, 3, 2, 3];
    const x = rand(N * H * W * C, 151), dy = rand(N * (H / k) * (W / k) * C, 152);
    const p = new Float32Array(dy.length), dx = new Float32Array(x.length);
    K.avgPool2dForward(N, H, W, C, k, x, p);
    K.avgPool2dBackward(N, H, W, C, k, dy, dx);
    assertClose([dot(p, dy)], [dot(x, dx)], 1e-5, 1e-5, "adjoint");
    const same = new Float32Array(x.length);
    K.avgPool2dForward(N, H, W, C, 1, x, same);
    assertClose(same, x, 0, 0);
    assert.throws(() => K.avgPool2dForward(1, 3, 3, 1, 2, new Float32Array(9), new Float32Array(1)), RangeError);
  });
});

// ---- indexing and optimizer -----------------------------------------------------------------------

describe("gather and scatter rows", () => {
  test("gather, and scatter-add with repeated indices", () => {
    const table = f32(0, 1, 10, 11, 20, 21); // [3, 2]
    const idx = Int32Array.from([2, 0, 2]);
    const out = new Float32Array(6);
    K.gatherRows(3, 2, table, idx, out);
    assert.deepEqual([...out], [20, 21, 0, 1, 20, 21]);
    const dtable = f32(1, 1, 1, 1, 1, 1);
    K.scatterAddRows(3, 2, f32(1, 2, 3, 4, 5, 6), idx, dtable);
    assert.deepEqual([...dtable], [4, 5, 1, 1, 7, 9]);
  });
});

describe("adamw", () => {
  test("matches a torch-style loop over several steps", () => {
    const n = 7, lr = 1e-2, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
    const p = rand(n, 161), m = new Float32Array(n), v = new Float32Array(n);
    const pe = Float64Array.from(p), me = new Float64Array(n), ve = new Float64Array(n);
    for (let t = 1; t <= 5; t++) {
      const g = rand(n, 170 + t);
      const bc1 = 1 - b1 ** t, bc2 = 1 - b2 ** t;
      K.adamwStep(n, p, g, m, v, lr, b1, b2, eps, wd, bc1, bc2);
      for (let i = 0; i < n; i++) {
        pe[i] = pe[i]! - lr * wd * pe[i]!;
        me[i] = b1 * me[i]! + (1 - b1) * g[i]!;
        ve[i] = b2 * ve[i]! + (1 - b2) * g[i]! ** 2;
        pe[i] = pe[i]! - (lr * (me[i]! / bc1)) / (Math.sqrt(ve[i]! / bc2) + eps);
      }
    }
    assertClose(p, pe, 1e-6, 1e-5, "p");
    assertClose(m, me, 1e-7, 1e-5, "m");
    assertClose(v, ve, 1e-9, 1e-5, "v");
  });

  test("first step moves each parameter by about lr * sign(g) after decay", () => {
    const p = f32(1, -2), m = new Float32Array(2), v = new Float32Array(2);
    K.adamwStep(2, p, f32(0.3, -5), m, v, 0.1, 0.9, 0.999, 1e-8, 0.5, 0.1, 0.001);
    assertClose(p, [1 * 0.95 - 0.1, -2 * 0.95 + 0.1], 1e-6, 1e-6);
  });
});

// ---- zero sizes and checks ------------------------------------------------------------------------

describe("zero-sized inputs touch nothing", () => {
  test("elementwise, norms, softmax, resampling, indexing", () => {
    const sentinel = () => f32(NaN, NaN);
    const e = new Float32Array(0);
    const y = sentinel();
    K.unaryForward(UnaryOp.Exp, 0, e, y);
    K.unaryBackward(UnaryOp.Exp, 0, e, e, e, y);
    K.clampForward(0, 0, 1, e, y);
    K.whereForward(0, e, e, e, y);
    K.axpby(0, 1, e, 1, y);
    K.fill(0, 1, y);
    K.softmaxForward(0, 4, false, e, y);
    K.softmaxForward(3, 0, true, e, y);
    K.layerNormForward(0, 4, 1e-5, e, null, null, y, y, y);
    K.groupNormForward(0, 4, 4, 2, 1e-5, e, null, null, y, y, y);
    K.upsampleNearest2xForward(0, 2, 2, 2, e, y);
    K.avgPool2dForward(1, 0, 2, 2, 2, e, y);
    K.gatherRows(0, 3, e, new Int32Array(0), y);
    K.scatterAddRows(2, 0, e, Int32Array.from([0, 1]), y);
    K.adamwStep(0, y, e, y, y, 1, 0.9, 0.999, 1e-8, 0, 1, 1);
    K.stridedCopy([2, 0], e, 0, [1, 1], y);
    K.stridedAdd([0], e, y, 0, [1]);
    K.attentionForward({ B: 0, H: 1, Lq: 1, Lk: 1, D: 1, scale: 1 }, e, e, e, y, y);
    assert.ok(y.every(Number.isNaN));
  });

  test("short buffers raise RangeError", () => {
    assert.throws(() => K.unaryForward(UnaryOp.Exp, 3, f32(1, 2), new Float32Array(3)), RangeError);
    assert.throws(() => K.stridedCopy([2, 2], f32(1, 2, 3), 0, [2, 1], new Float32Array(4)), RangeError);
    assert.throws(() => K.groupNormForward(1, 1, 3, 2, 0, f32(1, 2, 3), null, null, new Float32Array(3), f32(0), f32(0)), RangeError);
  });
});

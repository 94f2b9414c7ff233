/**
 * The native addon against the TypeScript reference kernels on random shapes, including odd sizes
 * and one-element edges, for every instruction set this CPU supports (AVX-512, AVX2, portable).
 */
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { nativeKernels, nativeLoadError, referenceKernels } from "../../src/engine/kernels/index.js";
import type { Kernels } from "../../src/engine/kernels/types.js";
import { BinaryOp, ReduceOp, UnaryOp } from "../../src/engine/kernels/types.js";
import { Generator } from "../../src/engine/rng.js";
import { assertClose } from "../helpers/gradcheck.js";

const gen = new Generator(2024);
const rand = (n: number, scale = 1): Float32Array => gen.normal(n, 0, scale);
const ints = (n: number, lo: number, hi: number): number[] => Array.from(gen.randint(n, lo, hi));

/** Runs `fn` on native and reference with fresh copies of the inputs; compares the outputs. */
function compare(label: string, inputs: Float32Array[], outputs: number[], fn: (k: Kernels, ins: Float32Array[], outs: Float32Array[]) => void, rtol = 1e-4, atol = 1e-5): void {
  const run = (k: Kernels): Float32Array[] => {
    const ins = inputs.map((a) => a.slice());
    const outs = outputs.map((n) => new Float32Array(n).fill(Number.NaN));
    fn(k, ins, outs);
    return outs;
  };
  const ours = run(nativeKernels!), ref = run(referenceKernels);
  ours.forEach((o, i) => assertClose(o, ref[i], rtol, atol, `${label} output ${i}`));
}

const isas = nativeKernels === null ? [] : ["avx512", "avx2", "portable"].filter((isa) => nativeKernels!.forceIsa(isa));

describe("native kernels vs reference", { skip: nativeKernels === null ? `native addon not loaded: ${nativeLoadError}` : false }, () => {
  const original = nativeKernels?.cpuIsa() ?? "portable";
  after(() => nativeKernels?.forceIsa(original));

  for (const isa of isas) {
    describe(isa, () => {
      test("sgemm: every transpose pair, odd sizes, alpha/beta, batched with broadcast", () => {
        nativeKernels!.forceIsa(isa);
        for (const [M, N, K] of [[1, 1, 1], [3, 5, 7], [17, 33, 9], [64, 48, 130], [129, 67, 31], [1, 200, 64]]) {
          for (const tA of [false, true]) for (const tB of [false, true]) {
            const A = rand(M * K), B = rand(K * N), C = rand(M * N);
            compare(`sgemm ${M}x${N}x${K} ${tA}${tB}`, [A, B, C], [M * N], (k, [a, b, c], [out]) => {
              out.set(c);
              k.sgemm(tA, tB, M, N, K, 0.7, a, tA ? M : K, b, tB ? K : N, 0.3, out, N);
            });
          }
        }
        const [batch, M, N, K] = [3, 9, 13, 11];
        compare("sgemmBatched", [rand(M * K), rand(batch * K * N)], [batch * M * N], (k, [a, b], [out]) =>
          k.sgemmBatched(batch, false, false, M, N, K, 1, a, 0, K, b, K * N, N, 0, out, M * N, N));
      });

      test("exp, sigmoid, SiLU and GELU keep NaN and overflow like Math.exp (no silent 0 for NaN)", () => {
        nativeKernels!.forceIsa(isa);
        const x = Float32Array.from([NaN, 88.7, 89, 100, -104, -200, Infinity, -Infinity, 0, 1, ...new Array(20).fill(0.5)]);
        for (const op of [UnaryOp.Exp, UnaryOp.Sigmoid, UnaryOp.Silu, UnaryOp.GeluErf, UnaryOp.GeluTanh]) {
          const got = new Float32Array(x.length), want = new Float32Array(x.length);
          nativeKernels!.unaryForward(op, x.length, x, got);
          referenceKernels.unaryForward(op, x.length, x, want);
          for (let i = 0; i < x.length; i++) {
            const ok = Number.isNaN(want[i]) ? Number.isNaN(got[i]) : !Number.isFinite(want[i]) ? got[i] === want[i] : Math.abs(got[i] - want[i]) <= 1e-5 * Math.max(1, Math.abs(want[i]));
            assert.ok(ok, `op ${op} x=${x[i]}: native ${got[i]}, reference ${want[i]}`);
          }
        }
      });

      test("conv2d forward and both backwards: 3x3, stride 2, 1x1, odd channels", () => {
        nativeKernels!.forceIsa(isa);
        for (const [N, H, W, C, O, KH, stride, pad] of [[2, 7, 5, 3, 5, 3, 1, 1], [1, 9, 8, 17, 33, 3, 2, 1], [2, 4, 4, 6, 7, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1, 0], [3, 8, 8, 16, 16, 3, 1, 0], [2, 5, 7, 9, 80, 3, 1, 1], [1, 9, 6, 4, 48, 3, 2, 1], [2, 6, 6, 5, 32, 3, 1, 1], [1, 4, 5, 3, 64, 5, 1, 2], [2, 6, 5, 32, 24, 3, 1, 1], [1, 7, 6, 16, 7, 5, 1, 2], [2, 9, 7, 8, 32, 3, 1, 1], [1, 9, 9, 16, 16, 3, 2, 1], [2, 8, 8, 16, 1, 3, 1, 1], [1, 6, 6, 5, 3, 3, 1, 1]]) {
          const OH = Math.floor((H + 2 * pad - KH) / stride) + 1, OW = Math.floor((W + 2 * pad - KH) / stride) + 1;
          const s = { N, H, W, C, O, KH, KW: KH, strideH: stride, strideW: stride, padH: pad, padW: pad, OH, OW };
          const x = rand(N * H * W * C), w = rand(O * C * KH * KH), b = rand(O), dy = rand(N * OH * OW * O);
          const label = `conv ${JSON.stringify([N, H, W, C, O, KH, stride, pad])}`;
          compare(label, [x, w, b], [N * OH * OW * O], (k, [xx, ww, bb], [y]) => k.conv2dForward(s, xx, ww, bb, y));
          compare(label + " dx", [dy, w], [x.length], (k, [g, ww], [dx]) => k.conv2dBackwardInput(s, g, ww, dx));
          compare(label + " dw", [dy, x], [w.length, O], (k, [g, xx], [dw, db]) => k.conv2dBackwardWeight(s, g, xx, dw, db), 1e-4, 1e-4);
        }
      });

      test("attention forward/backward: self, cross, odd lengths", () => {
        nativeKernels!.forceIsa(isa);
        for (const [B, H, Lq, Lk, D] of [[1, 1, 1, 1, 1], [2, 3, 17, 17, 8], [1, 2, 70, 5, 16], [2, 1, 33, 130, 40]]) {
          const s = { B, H, Lq, Lk, D, scale: 1 / Math.sqrt(D) };
          const q = rand(B * Lq * H * D), kk = rand(B * Lk * H * D), v = rand(B * Lk * H * D), dout = rand(B * Lq * H * D);
          const label = `attention ${[B, H, Lq, Lk, D]}`;
          compare(label, [q, kk, v], [q.length, B * H * Lq], (k, [a, b, c], [o, l]) => k.attentionForward(s, a, b, c, o, l));
          const out = new Float32Array(q.length), lse = new Float32Array(B * H * Lq);
          referenceKernels.attentionForward(s, q, kk, v, out, lse);
          compare(label + " backward", [q, kk, v, out, lse, dout], [q.length, kk.length, v.length], (k, [a, b, c, o, l, g], [dq, dk, dv]) =>
            k.attentionBackward(s, a, b, c, o, l, g, dq, dk, dv), 1e-4, 1e-4);
        }
      });
    });
  }

  test("group norm, layer norm, softmax", () => {
    for (const [N, HW, C, G] of [[1, 1, 1, 1], [2, 9, 12, 3], [3, 64, 32, 32], [1, 5, 7, 7]]) {
      const x = rand(N * HW * C, 2), gamma = rand(C), beta = rand(C), dy = rand(N * HW * C);
      compare(`groupNorm ${[N, HW, C, G]}`, [x, gamma, beta], [x.length, N * G, N * G], (k, [a, g, b], [y, m, r]) => k.groupNormForward(N, HW, C, G, 1e-5, a, g, b, y, m, r));
      const mean = new Float32Array(N * G), rstd = new Float32Array(N * G), y = new Float32Array(x.length);
      referenceKernels.groupNormForward(N, HW, C, G, 1e-5, x, gamma, beta, y, mean, rstd);
      compare(`groupNorm backward ${[N, HW, C, G]}`, [dy, x, mean, rstd, gamma], [x.length, C, C], (k, [g, a, m, r, ga], [dx, dg, db]) => k.groupNormBackward(N, HW, C, G, g, a, m, r, ga, dx, dg, db), 1e-4, 1e-4);
    }
    for (const [R, D] of [[1, 1], [7, 13], [64, 320]]) {
      const x = rand(R * D), gamma = rand(D), beta = rand(D), dy = rand(R * D);
      compare(`layerNorm ${[R, D]}`, [x, gamma, beta], [R * D, R, R], (k, [a, g, b], [y, m, r]) => k.layerNormForward(R, D, 1e-5, a, g, b, y, m, r));
      const mean = new Float32Array(R), rstd = new Float32Array(R), y = new Float32Array(R * D);
      referenceKernels.layerNormForward(R, D, 1e-5, x, gamma, beta, y, mean, rstd);
      compare(`layerNorm backward ${[R, D]}`, [dy, x, mean, rstd, gamma], [R * D, D, D], (k, [g, a, m, r, ga], [dx, dg, db]) => k.layerNormBackward(R, D, g, a, m, r, ga, dx, dg, db), 1e-4, 1e-4);
      for (const log of [false, true]) {
        compare(`softmax ${log} ${[R, D]}`, [x], [R * D], (k, [a], [out]) => k.softmaxForward(R, D, log, a, out));
        const sm = new Float32Array(R * D);
        referenceKernels.softmaxForward(R, D, log, x, sm);
        compare(`softmax backward ${log}`, [sm, dy], [R * D], (k, [a, g], [dx]) => k.softmaxBackward(R, D, log, a, g, dx));
      }
    }
  });

  test("elementwise: every unary op, broadcasting binary ops, clamp, where, axpby", () => {
    for (const n of [1, 7, 100003]) {
      const x = rand(n, 3), pos = x.map(Math.abs).map((v) => v + 0.1), dy = rand(n);
      for (let op = UnaryOp.Neg; op <= UnaryOp.Sign; op++) {
        const input = op === UnaryOp.Log || op === UnaryOp.Sqrt || op === UnaryOp.Reciprocal ? pos : x;
        compare(`unary ${op} n=${n}`, [input], [n], (k, [a], [y]) => k.unaryForward(op, n, a, y), 2e-6, 1e-6);
        const y = new Float32Array(n);
        referenceKernels.unaryForward(op, n, input, y);
        compare(`unary backward ${op}`, [input, y, dy], [n], (k, [a, b, g], [dx]) => k.unaryBackward(op, n, a, b, g, dx), 2e-5, 1e-6);
      }
      compare("clamp", [x, dy], [n, n], (k, [a, g], [y, dx]) => { k.clampForward(n, -1, 0.5, a, y); k.clampBackward(n, -1, 0.5, a, g, dx); });
      compare("where", [x.map((v) => (v > 0 ? 1 : 0)), x, dy], [n], (k, [c, a, b], [out]) => k.whereForward(n, c, a, b, out));
      compare("axpby", [x, dy], [n], (k, [a, b], [out]) => { out.set(b); k.axpby(n, 0.5, a, -2, out); });
    }
    const shape = [3, 1, 5, 4], aStrides = [20, 0, 4, 1], bStrides = [0, 0, 1, 5];
    for (let op = BinaryOp.Add; op <= BinaryOp.Equal; op++) {
      const a = rand(60).map(Math.abs), b = rand(20).map((v) => Math.abs(v) + 0.5);
      compare(`binary ${op}`, [a, b], [60], (k, [p, q], [out]) => k.binaryForward(op, shape, p, aStrides, q, bStrides, out), 1e-5, 1e-6);
    }
  });

  test("reductions, strided copies, resampling, gathers, AdamW", () => {
    for (const [outer, r, inner] of [[1, 1, 1], [3, 17, 5], [1, 100001, 1], [64, 3, 1]]) {
      const x = rand(outer * r * inner);
      for (const op of [ReduceOp.Sum, ReduceOp.Max, ReduceOp.Min]) {
        compare(`reduce ${op} ${[outer, r, inner]}`, [x], [outer * inner], (k, [a], [out]) => k.reduce(op, outer, r, inner, a, out), 1e-5, 1e-4);
      }
      const a = new Int32Array(outer * inner), b = new Int32Array(outer * inner);
      nativeKernels!.argmax(outer, r, inner, x, a);
      referenceKernels.argmax(outer, r, inner, x, b);
      assert.deepEqual(a, b);
      const ssN = nativeKernels!.sumSquares(x.length, x), ssR = referenceKernels.sumSquares(x.length, x);
      assert.ok(Math.abs(ssN - ssR) <= 1e-9 * ssR + 1e-9);
    }
    const x = rand(2 * 3 * 4 * 5);
    compare("strided copy (permute)", [x], [120], (k, [a], [out]) => k.stridedCopy([5, 2, 4, 3], a, 0, [1, 60, 5, 20], out));
    compare("strided add (expand adjoint)", [x], [20], (k, [a], [out]) => { out.fill(0); k.stridedAdd([6, 4, 5], a, out, 0, [0, 5, 1]); });
    compare("upsample", [rand(2 * 3 * 5 * 4)], [4 * 120], (k, [a], [out]) => k.upsampleNearest2xForward(2, 3, 5, 4, a, out));
    compare("upsample backward", [rand(4 * 120)], [120], (k, [a], [out]) => k.upsampleNearest2xBackward(2, 3, 5, 4, a, out));
    compare("avg pool", [rand(2 * 4 * 6 * 3)], [2 * 2 * 3 * 3], (k, [a], [out]) => k.avgPool2dForward(2, 4, 6, 3, 2, a, out));
    compare("avg pool backward", [rand(2 * 2 * 3 * 3)], [144], (k, [a], [out]) => k.avgPool2dBackward(2, 4, 6, 3, 2, a, out));
    const idx = Int32Array.from(ints(50, 0, 7));
    compare("gather rows", [rand(7 * 9)], [50 * 9], (k, [t], [out]) => k.gatherRows(50, 9, t, idx, out));
    compare("scatter add rows", [rand(50 * 9)], [63], (k, [d], [out]) => { out.fill(0); k.scatterAddRows(50, 9, d, idx, out); }, 1e-5, 1e-5);
    const n = 1001;
    compare("adamw", [rand(n), rand(n), rand(n), rand(n).map(Math.abs)], [n, n, n], (k, [p, g, m, v], [po, mo, vo]) => {
      k.adamwStep(n, p, g, m, v, 1e-2, 0.9, 0.999, 1e-8, 0.1, 1 - 0.9 ** 3, 1 - 0.999 ** 3);
      po.set(p); mo.set(m); vo.set(v);
    }, 1e-5, 1e-6);
  });
});

test("native addon is present when CI requires it", () => {
  if (process.env.CI && process.env.ALTER_ALLOW_REFERENCE !== "1") {
    assert.ok(nativeKernels !== null, `native addon failed to load in CI: ${nativeLoadError}`);
  }
});

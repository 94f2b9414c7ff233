/**
 * @file The pure-TypeScript reference implementation of the kernel contract (types.ts, which
 * mirrors native/kernels/kernels.h). It is the second opinion the native kernels are tested
 * against and the announced fallback when the addon cannot be loaded, so it favours plain,
 * readable loops over speed:
 *  - every sum is accumulated in a JS number (float64) and rounded to float32 only when stored;
 *  - outputs are overwritten, except scatterAddRows and stridedAdd, which accumulate;
 *  - every routine is exact in semantics for odd and zero sizes (zero-sized work touches nothing);
 *  - arrays that are too short for the stated geometry raise a RangeError instead of silently
 *    reading `undefined` (the native side would read out of bounds).
 * Scalars (alpha, eps, lr, ...) are used as the float64 numbers they are; the native side rounds
 * them to float32 first, a difference far below float32 test tolerances.
 */

import {
  BinaryOp,
  ReduceOp,
  UnaryOp,
  type AttentionShape,
  type Conv2dShape,
  type Kernels,
} from "./types.js";

type F32 = Float32Array;
type I32 = Int32Array;

// ---- helpers --------------------------------------------------------------------------------

/** Throws unless `arr` holds at least `n` elements. */
function need(name: string, arr: ArrayLike<number>, n: number): void {
  if (n > 0 && arr.length < n) {
    throw new RangeError(`reference kernels: ${name} has ${arr.length} elements, needs ${n}`);
  }
}

/** Elements a row-major matrix of `rows` x `cols` with row stride `ld` spans. */
function matrixExtent(rows: number, cols: number, ld: number): number {
  return rows > 0 && cols > 0 ? (rows - 1) * ld + cols : 0;
}

function product(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Highest element index `offset + sum(i_j * strides_j)` reaches over `shape` (shape non-empty). */
function stridedExtent(shape: readonly number[], offset: number, strides: readonly number[]): number {
  let lo = offset;
  let hi = offset;
  for (let j = 0; j < shape.length; j++) {
    const reach = (shape[j]! - 1) * strides[j]!;
    if (reach > 0) hi += reach;
    else lo += reach;
  }
  if (lo < 0) throw new RangeError(`reference kernels: strided view reaches index ${lo}`);
  return hi + 1;
}

/**
 * Walks every multi-index of `shape` in row-major order, calling `visit(linear, offA, offB)` with
 * the element's contiguous position and its strided offsets into two operands. A rank-0 shape is
 * one element; any zero dimension means no elements.
 */
function walkStrided(
  shape: readonly number[],
  offsetA: number,
  stridesA: readonly number[],
  offsetB: number,
  stridesB: readonly number[],
  visit: (linear: number, offA: number, offB: number) => void,
): void {
  const rank = shape.length;
  const total = product(shape);
  const index = new Array<number>(rank).fill(0);
  let offA = offsetA;
  let offB = offsetB;
  for (let linear = 0; linear < total; linear++) {
    visit(linear, offA, offB);
    // Odometer increment from the last dimension.
    for (let j = rank - 1; j >= 0; j--) {
      index[j]!++;
      offA += stridesA[j]!;
      offB += stridesB[j]!;
      if (index[j]! < shape[j]!) break;
      offA -= shape[j]! * stridesA[j]!;
      offB -= shape[j]! * stridesB[j]!;
      index[j] = 0;
    }
  }
}

function checkRank(shape: readonly number[], ...strides: (readonly number[])[]): void {
  if (shape.length > 8) throw new RangeError(`reference kernels: rank ${shape.length} > 8`);
  for (const s of strides) {
    if (s.length !== shape.length) {
      throw new RangeError(`reference kernels: ${s.length} strides for rank ${shape.length}`);
    }
  }
}

// ---- scalar math ----------------------------------------------------------------------------

const SQRT_PI = Math.sqrt(Math.PI);
const SQRT_HALF = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const GELU_TANH_C = Math.sqrt(2 / Math.PI);
const GELU_TANH_A = 0.044715;

/**
 * The error function to near double precision (well inside the 1e-7 the contract asks for).
 * |x| <= 3: the everywhere-positive series erf(x) = 2/sqrt(pi) e^{-x^2} sum_n 2^n x^{2n+1} /
 * (1*3*...*(2n+1)) (Abramowitz & Stegun 7.1.6), which has no cancellation. |x| > 3: 1 - erfc(x)
 * with erfc from its continued fraction (A&S 7.1.14), which converges fast there. |x| >= 6:
 * erfc(6) ~ 2e-17, so erf is +-1 in double precision.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  const sign = x < 0 ? -1 : 1;
  if (ax >= 6) return sign;
  if (ax <= 3) {
    const x2 = ax * ax;
    let term = ax; // n = 0
    let sum = ax;
    for (let n = 1; n < 200; n++) {
      term *= (2 * x2) / (2 * n + 1);
      sum += term;
      if (term < sum * 1e-17) break;
    }
    return (sign * 2 * Math.exp(-x2) * sum) / SQRT_PI;
  }
  // erfc(x) = e^{-x^2}/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))), bottom-up.
  let t = ax;
  for (let n = 60; n >= 1; n--) t = ax + n / 2 / t;
  const erfc = Math.exp(-ax * ax) / (SQRT_PI * t);
  return sign * (1 - erfc);
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** f(x) for each unary op. */
function unaryValue(op: UnaryOp, x: number): number {
  switch (op) {
    case UnaryOp.Neg: return -x;
    case UnaryOp.Exp: return Math.exp(x);
    case UnaryOp.Log: return Math.log(x);
    case UnaryOp.Sqrt: return Math.sqrt(x);
    case UnaryOp.Abs: return Math.abs(x);
    case UnaryOp.Sigmoid: return sigmoid(x);
    case UnaryOp.Silu: return x * sigmoid(x);
    case UnaryOp.GeluErf: return 0.5 * x * (1 + erf(x * SQRT_HALF));
    case UnaryOp.GeluTanh:
      return 0.5 * x * (1 + Math.tanh(GELU_TANH_C * (x + GELU_TANH_A * x * x * x)));
    case UnaryOp.Relu: return Math.max(x, 0); // NaN stays NaN, -0 becomes 0
    case UnaryOp.Tanh: return Math.tanh(x);
    case UnaryOp.Square: return x * x;
    case UnaryOp.Reciprocal: return 1 / x;
    case UnaryOp.Sign: return Math.sign(x);
    default: throw new RangeError(`reference kernels: unknown unary op ${op as number}`);
  }
}

/** f'(x), given x and the stored forward output y = f(x). */
function unaryDerivative(op: UnaryOp, x: number, y: number): number {
  switch (op) {
    case UnaryOp.Neg: return -1;
    case UnaryOp.Exp: return y;
    case UnaryOp.Log: return 1 / x;
    case UnaryOp.Sqrt: return 0.5 / y;
    case UnaryOp.Abs: return Math.sign(x); // 0 at x == 0
    case UnaryOp.Sigmoid: return y * (1 - y);
    case UnaryOp.Silu: {
      const s = sigmoid(x);
      return s * (1 + x * (1 - s));
    }
    case UnaryOp.GeluErf:
      return 0.5 * (1 + erf(x * SQRT_HALF)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
    case UnaryOp.GeluTanh: {
      const t = Math.tanh(GELU_TANH_C * (x + GELU_TANH_A * x * x * x));
      const du = GELU_TANH_C * (1 + 3 * GELU_TANH_A * x * x);
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du;
    }
    case UnaryOp.Relu: return x > 0 ? 1 : 0;
    case UnaryOp.Tanh: return 1 - y * y;
    case UnaryOp.Square: return 2 * x;
    case UnaryOp.Reciprocal: return -y * y;
    case UnaryOp.Sign: return 0;
    default: throw new RangeError(`reference kernels: unknown unary op ${op as number}`);
  }
}

function binaryValue(op: BinaryOp, a: number, b: number): number {
  switch (op) {
    case BinaryOp.Add: return a + b;
    case BinaryOp.Sub: return a - b;
    case BinaryOp.Mul: return a * b;
    case BinaryOp.Div: return a / b;
    case BinaryOp.Pow: return Math.pow(a, b);
    case BinaryOp.Maximum: return Math.max(a, b); // NaN propagates
    case BinaryOp.Minimum: return Math.min(a, b);
    case BinaryOp.Greater: return a > b ? 1 : 0;
    case BinaryOp.Less: return a < b ? 1 : 0;
    case BinaryOp.Equal: return a === b ? 1 : 0;
    default: throw new RangeError(`reference kernels: unknown binary op ${op as number}`);
  }
}

// ---- matrix multiply ------------------------------------------------------------------------

function sgemm(
  transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
  A: F32, lda: number, B: F32, ldb: number, beta: number, C: F32, ldc: number,
): void {
  if (M === 0 || N === 0) return;
  need("sgemm C", C, matrixExtent(M, N, ldc));
  if (K > 0) {
    need("sgemm A", A, transA ? matrixExtent(K, M, lda) : matrixExtent(M, K, lda));
    need("sgemm B", B, transB ? matrixExtent(N, K, ldb) : matrixExtent(K, N, ldb));
  }
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let sum = 0;
      for (let p = 0; p < K; p++) {
        const a = transA ? A[p * lda + i]! : A[i * lda + p]!;
        const b = transB ? B[j * ldb + p]! : B[p * ldb + j]!;
        sum += a * b;
      }
      const c = i * ldc + j;
      // beta == 0: C is not read, so garbage or NaN there does not leak into the result.
      C[c] = beta === 0 ? alpha * sum : alpha * sum + beta * C[c]!;
    }
  }
}

function sgemmBatched(
  batch: number, transA: boolean, transB: boolean, M: number, N: number, K: number,
  alpha: number, A: F32, strideA: number, lda: number, B: F32, strideB: number, ldb: number,
  beta: number, C: F32, strideC: number, ldc: number,
): void {
  if (M === 0 || N === 0) return;
  for (let i = 0; i < batch; i++) {
    sgemm(
      transA, transB, M, N, K, alpha,
      A.subarray(i * strideA), lda, B.subarray(i * strideB), ldb,
      beta, C.subarray(i * strideC), ldc,
    );
  }
}

// ---- 2-D convolution: x [N,H,W,C], w [O,C,KH,KW], y [N,OH,OW,O] ------------------------------

function checkConv(s: Conv2dShape, x: F32 | null, w: F32, y: F32 | null, yName: string): void {
  if (x) need("conv2d x", x, s.N * s.H * s.W * s.C);
  need("conv2d w", w, s.O * s.C * s.KH * s.KW);
  if (y) need(`conv2d ${yName}`, y, s.N * s.OH * s.OW * s.O);
}

/**
 * Calls visit(xIndex, wIndex, yIndex) for every (n, oh, ow, o, c, kh, kw) whose input tap
 * ih = oh*strideH - padH + kh, iw = ow*strideW - padW + kw lies inside the image.
 */
function forEachConvTap(s: Conv2dShape, visit: (xi: number, wi: number, yi: number) => void): void {
  for (let n = 0; n < s.N; n++)
    for (let oh = 0; oh < s.OH; oh++)
      for (let ow = 0; ow < s.OW; ow++)
        for (let o = 0; o < s.O; o++) {
          const yi = ((n * s.OH + oh) * s.OW + ow) * s.O + o;
          for (let c = 0; c < s.C; c++)
            for (let kh = 0; kh < s.KH; kh++) {
              const ih = oh * s.strideH - s.padH + kh;
              if (ih < 0 || ih >= s.H) continue;
              for (let kw = 0; kw < s.KW; kw++) {
                const iw = ow * s.strideW - s.padW + kw;
                if (iw < 0 || iw >= s.W) continue;
                const xi = ((n * s.H + ih) * s.W + iw) * s.C + c;
                const wi = ((o * s.C + c) * s.KH + kh) * s.KW + kw;
                visit(xi, wi, yi);
              }
            }
        }
}

function conv2dForward(s: Conv2dShape, x: F32, w: F32, bias: F32 | null, y: F32): void {
  const ySize = s.N * s.OH * s.OW * s.O;
  if (ySize === 0) return;
  checkConv(s, x, w, y, "y");
  if (bias) need("conv2d bias", bias, s.O);
  const acc = new Float64Array(ySize);
  forEachConvTap(s, (xi, wi, yi) => {
    acc[yi]! += x[xi]! * w[wi]!;
  });
  for (let i = 0; i < ySize; i++) y[i] = acc[i]! + (bias ? bias[i % s.O]! : 0);
}

function conv2dBackwardInput(s: Conv2dShape, dy: F32, w: F32, dx: F32): void {
  const xSize = s.N * s.H * s.W * s.C;
  if (xSize === 0) return;
  checkConv(s, null, w, dy, "dy");
  need("conv2d dx", dx, xSize);
  const acc = new Float64Array(xSize); // positions no tap reaches get 0
  forEachConvTap(s, (xi, wi, yi) => {
    acc[xi]! += dy[yi]! * w[wi]!;
  });
  dx.set(acc.subarray(0, xSize));
}

function conv2dBackwardWeight(s: Conv2dShape, dy: F32, x: F32, dw: F32, dbias: F32 | null): void {
  const wSize = s.O * s.C * s.KH * s.KW;
  const ySize = s.N * s.OH * s.OW * s.O;
  if (wSize === 0 && (!dbias || s.O === 0)) return;
  checkConv(s, x, dw, dy, "dy");
  const acc = new Float64Array(wSize);
  forEachConvTap(s, (xi, wi, yi) => {
    acc[wi]! += dy[yi]! * x[xi]!;
  });
  dw.set(acc.subarray(0, wSize));
  if (dbias) {
    need("conv2d dbias", dbias, s.O);
    const db = new Float64Array(s.O);
    for (let i = 0; i < ySize; i++) db[i % s.O]! += dy[i]!;
    dbias.set(db.subarray(0, s.O));
  }
}

// ---- attention: q [B,Lq,H,D], k/v [B,Lk,H,D], out [B,Lq,H,D], lse [B,H,Lq] -------------------

function checkAttention(s: AttentionShape, q: F32, k: F32, v: F32): void {
  need("attention q", q, s.B * s.Lq * s.H * s.D);
  need("attention k", k, s.B * s.Lk * s.H * s.D);
  need("attention v", v, s.B * s.Lk * s.H * s.D);
}

/** Scaled scores S[i][j] = scale * q_i . k_j of one (batch, head), as float64 rows. */
function attentionScores(s: AttentionShape, b: number, h: number, q: F32, k: F32): Float64Array[] {
  const { H, Lq, Lk, D } = s;
  const scores: Float64Array[] = [];
  for (let i = 0; i < Lq; i++) {
    const qi = ((b * Lq + i) * H + h) * D;
    const row = new Float64Array(Lk);
    for (let j = 0; j < Lk; j++) {
      const kj = ((b * Lk + j) * H + h) * D;
      let dot = 0;
      for (let d = 0; d < D; d++) dot += q[qi + d]! * k[kj + d]!;
      row[j] = s.scale * dot;
    }
    scores.push(row);
  }
  return scores;
}

/**
 * out_i = sum_j softmax_j(S_i) v_j, lse_i = log sum_j exp(S_ij). With Lk == 0 (no keys) the
 * weighted sum is empty: out = 0 and lse = -Infinity.
 */
function attentionForward(s: AttentionShape, q: F32, k: F32, v: F32, out: F32, lse: F32): void {
  const { B, H, Lq, Lk, D } = s;
  if (B * H * Lq === 0) return;
  checkAttention(s, q, k, v);
  need("attention out", out, B * Lq * H * D);
  need("attention lse", lse, B * H * Lq);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const scores = attentionScores(s, b, h, q, k);
      for (let i = 0; i < Lq; i++) {
        const row = scores[i]!;
        let max = -Infinity;
        for (let j = 0; j < Lk; j++) max = Math.max(max, row[j]!);
        let sum = 0;
        for (let j = 0; j < Lk; j++) sum += Math.exp(row[j]! - max);
        lse[(b * H + h) * Lq + i] = Lk === 0 ? -Infinity : max + Math.log(sum);
        const oi = ((b * Lq + i) * H + h) * D;
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let j = 0; j < Lk; j++) acc += Math.exp(row[j]! - max) * v[((b * Lk + j) * H + h) * D + d]!;
          out[oi + d] = Lk === 0 ? 0 : acc / sum;
        }
      }
    }
}

/**
 * With P_ij = exp(S_ij - lse_i) (the saved lse) and Delta_i = dout_i . out_i (the saved out):
 * dv_j = sum_i P_ij dout_i; dP_ij = dout_i . v_j; dS_ij = P_ij (dP_ij - Delta_i);
 * dq_i = scale sum_j dS_ij k_j; dk_j = scale sum_i dS_ij q_i. All three outputs are overwritten.
 */
function attentionBackward(
  s: AttentionShape, q: F32, k: F32, v: F32, out: F32, lse: F32, dout: F32,
  dq: F32, dk: F32, dv: F32,
): void {
  const { B, H, Lq, Lk, D } = s;
  if (B * H * D === 0 || (Lq === 0 && Lk === 0)) return;
  checkAttention(s, q, k, v);
  const qSize = B * Lq * H * D;
  const kSize = B * Lk * H * D;
  need("attention out", out, qSize);
  need("attention lse", lse, B * H * Lq);
  need("attention dout", dout, qSize);
  need("attention dq", dq, qSize);
  need("attention dk", dk, kSize);
  need("attention dv", dv, kSize);
  const dqAcc = new Float64Array(qSize);
  const dkAcc = new Float64Array(kSize);
  const dvAcc = new Float64Array(kSize);
  const qIdx = (b: number, i: number, h: number) => ((b * Lq + i) * H + h) * D;
  const kIdx = (b: number, j: number, h: number) => ((b * Lk + j) * H + h) * D;
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const scores = attentionScores(s, b, h, q, k);
      for (let i = 0; i < Lq; i++) {
        const qi = qIdx(b, i, h);
        const rowLse = lse[(b * H + h) * Lq + i]!;
        let delta = 0;
        for (let d = 0; d < D; d++) delta += dout[qi + d]! * out[qi + d]!;
        for (let j = 0; j < Lk; j++) {
          const kj = kIdx(b, j, h);
          const p = Math.exp(scores[i]![j]! - rowLse);
          let dp = 0;
          for (let d = 0; d < D; d++) dp += dout[qi + d]! * v[kj + d]!;
          const ds = p * (dp - delta);
          for (let d = 0; d < D; d++) {
            dvAcc[kj + d]! += p * dout[qi + d]!;
            dqAcc[qi + d]! += s.scale * ds * k[kj + d]!;
            dkAcc[kj + d]! += s.scale * ds * q[qi + d]!;
          }
        }
      }
    }
  dq.set(dqAcc.subarray(0, qSize));
  dk.set(dkAcc.subarray(0, kSize));
  dv.set(dvAcc.subarray(0, kSize));
}

// ---- normalisation ----------------------------------------------------------------------------

/**
 * Shared core of group and layer norm. x is viewed as `sets` normalisation sets; `elements(set)`
 * lists the flat indices of one set and `channel(index)` names the affine parameter of an index.
 * Biased variance, rstd = 1 / sqrt(var + eps); y = (x - mean) * rstd * gamma + beta.
 */
function normForward(
  sets: number, elements: (set: number) => number[], channel: (index: number) => number,
  eps: number, x: F32, gamma: F32 | null, beta: F32 | null, y: F32, mean: F32, rstd: F32,
): void {
  for (let set = 0; set < sets; set++) {
    const idx = elements(set);
    let sum = 0;
    for (const i of idx) sum += x[i]!;
    const mu = idx.length > 0 ? sum / idx.length : 0;
    let sq = 0;
    for (const i of idx) sq += (x[i]! - mu) * (x[i]! - mu);
    const variance = idx.length > 0 ? sq / idx.length : 0;
    const r = 1 / Math.sqrt(variance + eps);
    mean[set] = mu;
    rstd[set] = r;
    for (const i of idx) {
      const c = channel(i);
      y[i] = (x[i]! - mu) * r * (gamma ? gamma[c]! : 1) + (beta ? beta[c]! : 0);
    }
  }
}

/**
 * With xhat = (x - mean) * rstd and g = dy * gamma over one set of n elements:
 * dx = rstd * (g - mean(g) - xhat * mean(g * xhat)); dgamma[c] = sum dy * xhat; dbeta[c] = sum dy.
 * The saved mean/rstd are used as given.
 */
function normBackward(
  sets: number, elements: (set: number) => number[], channel: (index: number) => number,
  channels: number, dy: F32, x: F32, mean: F32, rstd: F32, gamma: F32 | null,
  dx: F32, dgamma: F32 | null, dbeta: F32 | null,
): void {
  const dgammaAcc = new Float64Array(channels);
  const dbetaAcc = new Float64Array(channels);
  for (let set = 0; set < sets; set++) {
    const idx = elements(set);
    const mu = mean[set]!;
    const r = rstd[set]!;
    let sumG = 0;
    let sumGX = 0;
    for (const i of idx) {
      const c = channel(i);
      const xhat = (x[i]! - mu) * r;
      const g = dy[i]! * (gamma ? gamma[c]! : 1);
      sumG += g;
      sumGX += g * xhat;
      dgammaAcc[c]! += dy[i]! * xhat;
      dbetaAcc[c]! += dy[i]!;
    }
    const n = idx.length;
    for (const i of idx) {
      const c = channel(i);
      const xhat = (x[i]! - mu) * r;
      const g = dy[i]! * (gamma ? gamma[c]! : 1);
      dx[i] = r * (g - sumG / n - (xhat * sumGX) / n);
    }
  }
  if (dgamma) dgamma.set(dgammaAcc);
  if (dbeta) dbeta.set(dbetaAcc);
}

/** Flat indices of group g of image n in channels-last x [N, HW, C]. */
function groupElements(HW: number, C: number, G: number): (set: number) => number[] {
  const cpg = C / G;
  return (set) => {
    const n = Math.floor(set / G);
    const g = set % G;
    const idx: number[] = [];
    for (let p = 0; p < HW; p++)
      for (let c = g * cpg; c < (g + 1) * cpg; c++) idx.push((n * HW + p) * C + c);
    return idx;
  };
}

function rowElements(D: number): (set: number) => number[] {
  return (row) => Array.from({ length: D }, (_, d) => row * D + d);
}

function checkGroups(C: number, G: number): void {
  if (G <= 0 || C % G !== 0) {
    throw new RangeError(`reference kernels: group norm needs C (${C}) divisible by G (${G})`);
  }
}

function groupNormForward(
  N: number, HW: number, C: number, G: number, eps: number, x: F32,
  gamma: F32 | null, beta: F32 | null, y: F32, mean: F32, rstd: F32,
): void {
  if (N === 0 || C === 0) return;
  checkGroups(C, G);
  need("group norm x", x, N * HW * C);
  need("group norm y", y, N * HW * C);
  need("group norm mean", mean, N * G);
  need("group norm rstd", rstd, N * G);
  if (gamma) need("group norm gamma", gamma, C);
  if (beta) need("group norm beta", beta, C);
  normForward(N * G, groupElements(HW, C, G), (i) => i % C, eps, x, gamma, beta, y, mean, rstd);
}

function groupNormBackward(
  N: number, HW: number, C: number, G: number, dy: F32, x: F32, mean: F32, rstd: F32,
  gamma: F32 | null, dx: F32, dgamma: F32 | null, dbeta: F32 | null,
): void {
  if (C === 0) return;
  checkGroups(C, G);
  for (const [name, a] of [["dy", dy], ["x", x], ["dx", dx]] as const) {
    need(`group norm ${name}`, a, N * HW * C);
  }
  need("group norm mean", mean, N * G);
  need("group norm rstd", rstd, N * G);
  for (const [name, a] of [["gamma", gamma], ["dgamma", dgamma], ["dbeta", dbeta]] as const) {
    if (a) need(`group norm ${name}`, a, C);
  }
  normBackward(
    N * G, groupElements(HW, C, G), (i) => i % C, C, dy, x, mean, rstd, gamma, dx, dgamma, dbeta,
  );
}

function layerNormForward(
  R: number, D: number, eps: number, x: F32, gamma: F32 | null, beta: F32 | null,
  y: F32, mean: F32, rstd: F32,
): void {
  if (R === 0) return;
  need("layer norm x", x, R * D);
  need("layer norm y", y, R * D);
  need("layer norm mean", mean, R);
  need("layer norm rstd", rstd, R);
  if (gamma) need("layer norm gamma", gamma, D);
  if (beta) need("layer norm beta", beta, D);
  normForward(R, rowElements(D), (i) => i % D, eps, x, gamma, beta, y, mean, rstd);
}

function layerNormBackward(
  R: number, D: number, dy: F32, x: F32, mean: F32, rstd: F32, gamma: F32 | null,
  dx: F32, dgamma: F32 | null, dbeta: F32 | null,
): void {
  if (D === 0) return;
  for (const [name, a] of [["dy", dy], ["x", x], ["dx", dx]] as const) {
    need(`layer norm ${name}`, a, R * D);
  }
  need("layer norm mean", mean, R);
  need("layer norm rstd", rstd, R);
  for (const [name, a] of [["gamma", gamma], ["dgamma", dgamma], ["dbeta", dbeta]] as const) {
    if (a) need(`layer norm ${name}`, a, D);
  }
  normBackward(R, rowElements(D), (i) => i % D, D, dy, x, mean, rstd, gamma, dx, dgamma, dbeta);
}

// ---- softmax over the last dimension of [R, D] -----------------------------------------------

function softmaxForward(R: number, D: number, log: boolean, x: F32, y: F32): void {
  if (R * D === 0) return;
  need("softmax x", x, R * D);
  need("softmax y", y, R * D);
  for (let r = 0; r < R; r++) {
    const row = r * D;
    let max = -Infinity;
    for (let d = 0; d < D; d++) max = Math.max(max, x[row + d]!);
    let sum = 0;
    for (let d = 0; d < D; d++) sum += Math.exp(x[row + d]! - max);
    const logSum = Math.log(sum);
    for (let d = 0; d < D; d++) {
      const shifted = x[row + d]! - max;
      y[row + d] = log ? shifted - logSum : Math.exp(shifted) / sum;
    }
  }
}

/** softmax: dx = y * (dy - sum(dy * y)); log-softmax: dx = dy - exp(y) * sum(dy). */
function softmaxBackward(R: number, D: number, log: boolean, y: F32, dy: F32, dx: F32): void {
  if (R * D === 0) return;
  need("softmax y", y, R * D);
  need("softmax dy", dy, R * D);
  need("softmax dx", dx, R * D);
  for (let r = 0; r < R; r++) {
    const row = r * D;
    let sum = 0;
    for (let d = 0; d < D; d++) sum += log ? dy[row + d]! : dy[row + d]! * y[row + d]!;
    for (let d = 0; d < D; d++) {
      const i = row + d;
      dx[i] = log ? dy[i]! - Math.exp(y[i]!) * sum : y[i]! * (dy[i]! - sum);
    }
  }
}

// ---- elementwise --------------------------------------------------------------------------------

function unaryForward(op: UnaryOp, n: number, x: F32, y: F32): void {
  if (n === 0) return;
  need("unary x", x, n);
  need("unary y", y, n);
  for (let i = 0; i < n; i++) y[i] = unaryValue(op, x[i]!);
}

function unaryBackward(op: UnaryOp, n: number, x: F32, y: F32, dy: F32, dx: F32): void {
  if (n === 0) return;
  for (const [name, a] of [["x", x], ["y", y], ["dy", dy], ["dx", dx]] as const) {
    need(`unary ${name}`, a, n);
  }
  for (let i = 0; i < n; i++) dx[i] = dy[i]! * unaryDerivative(op, x[i]!, y[i]!);
}

function binaryForward(
  op: BinaryOp, shape: readonly number[], a: F32, aStrides: readonly number[], b: F32,
  bStrides: readonly number[], out: F32,
): void {
  checkRank(shape, aStrides, bStrides);
  const total = product(shape);
  if (total === 0) return;
  need("binary a", a, stridedExtent(shape, 0, aStrides));
  need("binary b", b, stridedExtent(shape, 0, bStrides));
  need("binary out", out, total);
  walkStrided(shape, 0, aStrides, 0, bStrides, (i, ia, ib) => {
    out[i] = binaryValue(op, a[ia]!, b[ib]!);
  });
}

function clampForward(n: number, lo: number, hi: number, x: F32, y: F32): void {
  if (n === 0) return;
  need("clamp x", x, n);
  need("clamp y", y, n);
  for (let i = 0; i < n; i++) y[i] = Math.min(Math.max(x[i]!, lo), hi);
}

function clampBackward(n: number, lo: number, hi: number, x: F32, dy: F32, dx: F32): void {
  if (n === 0) return;
  need("clamp x", x, n);
  need("clamp dy", dy, n);
  need("clamp dx", dx, n);
  for (let i = 0; i < n; i++) dx[i] = lo <= x[i]! && x[i]! <= hi ? dy[i]! : 0;
}

function whereForward(n: number, cond: F32, a: F32, b: F32, out: F32): void {
  if (n === 0) return;
  for (const [name, arr] of [["cond", cond], ["a", a], ["b", b], ["out", out]] as const) {
    need(`where ${name}`, arr, n);
  }
  for (let i = 0; i < n; i++) out[i] = cond[i] !== 0 ? a[i]! : b[i]!; // NaN counts as true
}

function axpby(n: number, a: number, x: F32, b: number, y: F32): void {
  if (n === 0) return;
  need("axpby x", x, n);
  need("axpby y", y, n);
  for (let i = 0; i < n; i++) y[i] = a * x[i]! + b * y[i]!;
}

function fill(n: number, value: number, y: F32): void {
  if (n === 0) return;
  need("fill y", y, n);
  for (let i = 0; i < n; i++) y[i] = value;
}

// ---- reductions and layout ----------------------------------------------------------------------

/**
 * x viewed as [outer, r, inner], out [outer, inner]. Max/min propagate NaN (like torch). An empty
 * reduction (r == 0) yields the identity: 0 for sum, -Infinity for max, +Infinity for min.
 */
function reduce(op: ReduceOp, outer: number, r: number, inner: number, x: F32, out: F32): void {
  if (outer * inner === 0) return;
  need("reduce x", x, outer * r * inner);
  need("reduce out", out, outer * inner);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      let acc = op === ReduceOp.Sum ? 0 : op === ReduceOp.Max ? -Infinity : Infinity;
      for (let k = 0; k < r; k++) {
        const value = x[(o * r + k) * inner + i]!;
        if (op === ReduceOp.Sum) acc += value;
        else if (op === ReduceOp.Max) acc = Math.max(acc, value);
        else if (op === ReduceOp.Min) acc = Math.min(acc, value);
        else throw new RangeError(`reference kernels: unknown reduce op ${op as number}`);
      }
      out[o * inner + i] = acc;
    }
}

/**
 * Index of the first maximal element along r. A NaN counts as larger than everything (so the
 * first NaN wins, like torch.argmax). An empty reduction (r == 0) yields -1.
 */
function argmax(outer: number, r: number, inner: number, x: F32, out: I32): void {
  if (outer * inner === 0) return;
  need("argmax x", x, outer * r * inner);
  need("argmax out", out, outer * inner);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      let best = -1;
      let bestValue = -Infinity;
      for (let k = 0; k < r; k++) {
        const value = x[(o * r + k) * inner + i]!;
        if (Number.isNaN(value)) {
          best = k;
          break;
        }
        if (best < 0 || value > bestValue) {
          best = k;
          bestValue = value;
        }
      }
      out[o * inner + i] = best;
    }
}

function sumSquares(n: number, x: F32): number {
  need("sumSquares x", x, n);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += x[i]! * x[i]!;
  return sum;
}

function stridedCopy(
  shape: readonly number[], x: F32, offset: number, xStrides: readonly number[], out: F32,
): void {
  checkRank(shape, xStrides);
  const total = product(shape);
  if (total === 0) return;
  need("stridedCopy x", x, stridedExtent(shape, offset, xStrides));
  need("stridedCopy out", out, total);
  const zeros = shape.map(() => 0);
  walkStrided(shape, offset, xStrides, 0, zeros, (i, ix) => {
    out[i] = x[ix]!;
  });
}

/**
 * out[offset + sum(i_j * outStrides_j)] += x[i] for contiguous x. Aliasing strides (expand
 * backward) accumulate every contribution: the sums are collected per target in float64 first.
 */
function stridedAdd(
  shape: readonly number[], x: F32, out: F32, offset: number, outStrides: readonly number[],
): void {
  checkRank(shape, outStrides);
  const total = product(shape);
  if (total === 0) return;
  need("stridedAdd x", x, total);
  need("stridedAdd out", out, stridedExtent(shape, offset, outStrides));
  const sums = new Map<number, number>();
  const zeros = shape.map(() => 0);
  walkStrided(shape, offset, outStrides, 0, zeros, (i, io) => {
    sums.set(io, (sums.get(io) ?? 0) + x[i]!);
  });
  for (const [io, sum] of sums) out[io] = out[io]! + sum;
}

// ---- spatial resampling, NHWC -------------------------------------------------------------------

/** y [N, 2H, 2W, C]: y[n, 2h+a, 2w+b, c] = x[n, h, w, c]. */
function upsampleNearest2xForward(N: number, H: number, W: number, C: number, x: F32, y: F32): void {
  if (N * H * W * C === 0) return;
  need("upsample x", x, N * H * W * C);
  need("upsample y", y, N * 4 * H * W * C);
  for (let n = 0; n < N; n++)
    for (let oh = 0; oh < 2 * H; oh++)
      for (let ow = 0; ow < 2 * W; ow++)
        for (let c = 0; c < C; c++) {
          y[((n * 2 * H + oh) * 2 * W + ow) * C + c] =
            x[((n * H + Math.floor(oh / 2)) * W + Math.floor(ow / 2)) * C + c]!;
        }
}

/** dx [N, H, W, C] = sum of the four dy entries each input pixel was copied to. */
function upsampleNearest2xBackward(N: number, H: number, W: number, C: number, dy: F32, dx: F32): void {
  if (N * H * W * C === 0) return;
  need("upsample dy", dy, N * 4 * H * W * C);
  need("upsample dx", dx, N * H * W * C);
  for (let n = 0; n < N; n++)
    for (let h = 0; h < H; h++)
      for (let w = 0; w < W; w++)
        for (let c = 0; c < C; c++) {
          let sum = 0;
          for (let a = 0; a < 2; a++)
            for (let b = 0; b < 2; b++) sum += dy[((n * 2 * H + 2 * h + a) * 2 * W + 2 * w + b) * C + c]!;
          dx[((n * H + h) * W + w) * C + c] = sum;
        }
}

function checkPool(H: number, W: number, k: number): void {
  if (k <= 0 || H % k !== 0 || W % k !== 0) {
    throw new RangeError(`reference kernels: avg pool needs H (${H}) and W (${W}) divisible by k (${k})`);
  }
}

/** y [N, H/k, W/k, C] = mean of each k x k window (stride k, no padding). */
function avgPool2dForward(N: number, H: number, W: number, C: number, k: number, x: F32, y: F32): void {
  if (N * H * W * C === 0) return;
  checkPool(H, W, k);
  const OH = H / k;
  const OW = W / k;
  need("avg pool x", x, N * H * W * C);
  need("avg pool y", y, N * OH * OW * C);
  for (let n = 0; n < N; n++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++)
        for (let c = 0; c < C; c++) {
          let sum = 0;
          for (let a = 0; a < k; a++)
            for (let b = 0; b < k; b++) sum += x[((n * H + oh * k + a) * W + ow * k + b) * C + c]!;
          y[((n * OH + oh) * OW + ow) * C + c] = sum / (k * k);
        }
}

/** dx [N, H, W, C] = dy of the window the pixel belongs to, divided by k*k. */
function avgPool2dBackward(N: number, H: number, W: number, C: number, k: number, dy: F32, dx: F32): void {
  if (N * H * W * C === 0) return;
  checkPool(H, W, k);
  const OH = H / k;
  const OW = W / k;
  need("avg pool dy", dy, N * OH * OW * C);
  need("avg pool dx", dx, N * H * W * C);
  for (let n = 0; n < N; n++)
    for (let h = 0; h < H; h++)
      for (let w = 0; w < W; w++)
        for (let c = 0; c < C; c++) {
          const window = ((n * OH + Math.floor(h / k)) * OW + Math.floor(w / k)) * C + c;
          dx[((n * H + h) * W + w) * C + c] = dy[window]! / (k * k);
        }
}

// ---- indexing -------------------------------------------------------------------------------------

function gatherRows(n: number, D: number, table: F32, idx: I32, out: F32): void {
  if (n * D === 0) return;
  need("gatherRows idx", idx, n);
  need("gatherRows out", out, n * D);
  for (let i = 0; i < n; i++) {
    const row = idx[i]!;
    if (row < 0) throw new RangeError(`reference kernels: gatherRows index ${row} < 0`);
    need("gatherRows table", table, (row + 1) * D);
    for (let d = 0; d < D; d++) out[i * D + d] = table[row * D + d]!;
  }
}

/** dtable[idx[i], :] += dout[i, :]; repeated indices are summed in float64 before adding. */
function scatterAddRows(n: number, D: number, dout: F32, idx: I32, dtable: F32): void {
  if (n * D === 0) return;
  need("scatterAddRows idx", idx, n);
  need("scatterAddRows dout", dout, n * D);
  const rows = new Map<number, Float64Array>();
  for (let i = 0; i < n; i++) {
    const row = idx[i]!;
    let acc = rows.get(row);
    if (!acc) rows.set(row, (acc = new Float64Array(D)));
    for (let d = 0; d < D; d++) acc[d]! += dout[i * D + d]!;
  }
  for (const [row, acc] of rows) {
    if (row < 0) throw new RangeError(`reference kernels: scatterAddRows index ${row} < 0`);
    need("scatterAddRows dtable", dtable, (row + 1) * D);
    for (let d = 0; d < D; d++) dtable[row * D + d] = dtable[row * D + d]! + acc[d]!;
  }
}

// ---- optimizer ------------------------------------------------------------------------------------

/**
 * One AdamW step, in torch's order: p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps). Each stored (float32) value is used, as torch
 * does.
 */
function adamwStep(
  n: number, p: F32, g: F32, m: F32, v: F32, lr: number, beta1: number, beta2: number,
  eps: number, weightDecay: number, bc1: number, bc2: number,
): void {
  if (n === 0) return;
  for (const [name, a] of [["p", p], ["g", g], ["m", m], ["v", v]] as const) need(`adamw ${name}`, a, n);
  const stepSize = lr / bc1;
  const sqrtBc2 = Math.sqrt(bc2);
  for (let i = 0; i < n; i++) {
    const grad = g[i]!;
    m[i] = beta1 * m[i]! + (1 - beta1) * grad;
    v[i] = beta2 * v[i]! + (1 - beta2) * grad * grad;
    p[i] = p[i]! * (1 - lr * weightDecay);
    p[i] = p[i]! - (stepSize * m[i]!) / (Math.sqrt(v[i]!) / sqrtBc2 + eps);
  }
}

// ---- the table ------------------------------------------------------------------------------------

export const referenceKernels: Kernels = {
  name: "reference",
  cpuIsa: () => "typescript",
  numThreads: () => 1,
  setNumThreads: (_n: number) => {},
  sgemm,
  sgemmBatched,
  conv2dForward,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  attentionForward,
  attentionBackward,
  groupNormForward,
  groupNormBackward,
  layerNormForward,
  layerNormBackward,
  softmaxForward,
  softmaxBackward,
  unaryForward,
  unaryBackward,
  binaryForward,
  clampForward,
  clampBackward,
  whereForward,
  axpby,
  fill,
  reduce,
  argmax,
  sumSquares,
  stridedCopy,
  stridedAdd,
  upsampleNearest2xForward,
  upsampleNearest2xBackward,
  avgPool2dForward,
  avgPool2dBackward,
  gatherRows,
  scatterAddRows,
  adamwStep,
};

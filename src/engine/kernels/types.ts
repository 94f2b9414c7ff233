/**
 * @file The kernel contract as seen from TypeScript. It mirrors native/kernels/kernels.h one to one:
 * the same routines, argument order and conventions (float32, row-major, channels-last images,
 * OIHW conv weights, outputs overwritten). Two implementations exist: the native addon
 * (native.ts) and the pure-TypeScript reference (reference.ts), which the tests use as a second
 * opinion and the engine uses as an announced fallback when the addon cannot be loaded.
 *
 * Arrays are passed as typed-array views; an "offset" into a buffer is expressed by passing
 * `array.subarray(offset)`, which the native side reads without copying.
 */

export const enum UnaryOp {
  Neg = 0,
  Exp = 1,
  Log = 2,
  Sqrt = 3,
  Abs = 4,
  Sigmoid = 5,
  Silu = 6,
  GeluErf = 7,
  GeluTanh = 8,
  Relu = 9,
  Tanh = 10,
  Square = 11,
  Reciprocal = 12,
  Sign = 13,
}

export const enum BinaryOp {
  Add = 0,
  Sub = 1,
  Mul = 2,
  Div = 3,
  Pow = 4,
  Maximum = 5,
  Minimum = 6,
  Greater = 7,
  Less = 8,
  Equal = 9,
}

export const enum ReduceOp {
  Sum = 0,
  Max = 1,
  Min = 2,
}

/** Geometry of a 2-D convolution; x is [N, H, W, C], w is [O, C, KH, KW], y is [N, OH, OW, O]. */
export interface Conv2dShape {
  N: number;
  H: number;
  W: number;
  C: number;
  O: number;
  KH: number;
  KW: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  OH: number;
  OW: number;
}

/** q is [B, Lq, H, D]; k and v are [B, Lk, H, D]; out [B, Lq, H, D]; lse [B, H, Lq]. */
export interface AttentionShape {
  B: number;
  H: number;
  Lq: number;
  Lk: number;
  D: number;
  scale: number;
}

type F32 = Float32Array;
type I32 = Int32Array;

export interface Kernels {
  /** "native" or "reference". */
  readonly name: string;
  /** "avx512", "avx2", "portable" (native) or "typescript" (reference). */
  cpuIsa(): string;
  numThreads(): number;
  setNumThreads(n: number): void;

  sgemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: F32, lda: number, B: F32, ldb: number, beta: number, C: F32, ldc: number,
  ): void;
  sgemmBatched(
    batch: number, transA: boolean, transB: boolean, M: number, N: number, K: number,
    alpha: number, A: F32, strideA: number, lda: number, B: F32, strideB: number, ldb: number,
    beta: number, C: F32, strideC: number, ldc: number,
  ): void;

  conv2dForward(s: Conv2dShape, x: F32, w: F32, bias: F32 | null, y: F32): void;
  conv2dBackwardInput(s: Conv2dShape, dy: F32, w: F32, dx: F32): void;
  conv2dBackwardWeight(s: Conv2dShape, dy: F32, x: F32, dw: F32, dbias: F32 | null): void;

  attentionForward(s: AttentionShape, q: F32, k: F32, v: F32, out: F32, lse: F32): void;
  attentionBackward(
    s: AttentionShape, q: F32, k: F32, v: F32, out: F32, lse: F32, dout: F32,
    dq: F32, dk: F32, dv: F32,
  ): void;

  groupNormForward(
    N: number, HW: number, C: number, G: number, eps: number, x: F32,
    gamma: F32 | null, beta: F32 | null, y: F32, mean: F32, rstd: F32,
  ): void;
  groupNormBackward(
    N: number, HW: number, C: number, G: number, dy: F32, x: F32, mean: F32, rstd: F32,
    gamma: F32 | null, dx: F32, dgamma: F32 | null, dbeta: F32 | null,
  ): void;
  layerNormForward(
    R: number, D: number, eps: number, x: F32, gamma: F32 | null, beta: F32 | null,
    y: F32, mean: F32, rstd: F32,
  ): void;
  layerNormBackward(
    R: number, D: number, dy: F32, x: F32, mean: F32, rstd: F32, gamma: F32 | null,
    dx: F32, dgamma: F32 | null, dbeta: F32 | null,
  ): void;
  softmaxForward(R: number, D: number, log: boolean, x: F32, y: F32): void;
  softmaxBackward(R: number, D: number, log: boolean, y: F32, dy: F32, dx: F32): void;

  unaryForward(op: UnaryOp, n: number, x: F32, y: F32): void;
  unaryBackward(op: UnaryOp, n: number, x: F32, y: F32, dy: F32, dx: F32): void;
  /** shape/aStrides/bStrides have equal length (rank <= 8); stride 0 broadcasts. */
  binaryForward(
    op: BinaryOp, shape: readonly number[], a: F32, aStrides: readonly number[], b: F32,
    bStrides: readonly number[], out: F32,
  ): void;
  clampForward(n: number, lo: number, hi: number, x: F32, y: F32): void;
  clampBackward(n: number, lo: number, hi: number, x: F32, dy: F32, dx: F32): void;
  whereForward(n: number, cond: F32, a: F32, b: F32, out: F32): void;
  /** y = a*x + b*y in place. */
  axpby(n: number, a: number, x: F32, b: number, y: F32): void;
  fill(n: number, value: number, y: F32): void;

  reduce(op: ReduceOp, outer: number, r: number, inner: number, x: F32, out: F32): void;
  argmax(outer: number, r: number, inner: number, x: F32, out: I32): void;
  sumSquares(n: number, x: F32): number;
  stridedCopy(
    shape: readonly number[], x: F32, offset: number, xStrides: readonly number[], out: F32,
  ): void;
  stridedAdd(
    shape: readonly number[], x: F32, out: F32, offset: number, outStrides: readonly number[],
  ): void;

  upsampleNearest2xForward(N: number, H: number, W: number, C: number, x: F32, y: F32): void;
  upsampleNearest2xBackward(N: number, H: number, W: number, C: number, dy: F32, dx: F32): void;
  avgPool2dForward(N: number, H: number, W: number, C: number, k: number, x: F32, y: F32): void;
  avgPool2dBackward(N: number, H: number, W: number, C: number, k: number, dy: F32, dx: F32): void;

  gatherRows(n: number, D: number, table: F32, idx: I32, out: F32): void;
  scatterAddRows(n: number, D: number, dout: F32, idx: I32, dtable: F32): void;

  adamwStep(
    n: number, p: F32, g: F32, m: F32, v: F32, lr: number, beta1: number, beta2: number,
    eps: number, weightDecay: number, bc1: number, bc2: number,
  ): void;
}

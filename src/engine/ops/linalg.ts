/**
 * @file Matrix products over the SGEMM kernel: matmul (2-D and batched, with broadcasting of a
 * 2-D right operand or of size-1 batch dims) and linear (x W^T + b with W in PyTorch's
 * [out, in] layout, so no weight transpose is ever materialised).
 */
import { record } from "../autograd.js";
import { kernels } from "../kernels/index.js";
import { ReduceOp } from "../kernels/types.js";
import { formatShape, numel, shapesEqual } from "../shape.js";
import { Tensor } from "../tensor.js";

interface BatchedShape {
  batch: number;
  M: number;
  K: number;
  N: number;
  strideA: number;
  strideB: number;
  outShape: number[];
}

function matmulShape(a: Tensor, b: Tensor, transA: boolean, transB: boolean): BatchedShape {
  if (a.rank < 2 || b.rank < 2) {
    throw new Error(`matmul: operands must be at least 2-D, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  }
  const [aRows, aCols] = a.shape.slice(-2);
  const [bRows, bCols] = b.shape.slice(-2);
  const M = transA ? aCols : aRows, K = transA ? aRows : aCols;
  const Kb = transB ? bCols : bRows, N = transB ? bRows : bCols;
  if (K !== Kb) {
    throw new Error(`matmul: inner dimensions differ: ${formatShape(a.shape)} x ${formatShape(b.shape)}`);
  }
  const aBatch = a.shape.slice(0, -2), bBatch = b.shape.slice(0, -2);
  const batchShape = aBatch.length >= bBatch.length ? aBatch : bBatch;
  const aCount = numel(aBatch), bCount = numel(bBatch);
  const broadcastOk =
    shapesEqual(aBatch, bBatch) || (bCount === 1 && bBatch.length <= aBatch.length) || (aCount === 1 && aBatch.length <= bBatch.length);
  if (!broadcastOk) {
    throw new Error(`matmul: batch dimensions ${formatShape(aBatch)} and ${formatShape(bBatch)} do not match (only equal batches or a single matrix broadcast)`);
  }
  return {
    batch: Math.max(aCount, bCount),
    M, K, N,
    strideA: aCount === 1 ? 0 : M * K,
    strideB: bCount === 1 ? 0 : K * N,
    outShape: [...batchShape, M, N],
  };
}

/** C = op(A) op(B) over the batch, written into a new tensor. */
function gemm(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
  const s = matmulShape(a, b, transA, transB);
  const out = Tensor.empty(s.outShape);
  const lda = a.shape[a.rank - 1], ldb = b.shape[b.rank - 1];
  if (s.strideB === 0 && !transA) {
    // Every batch item shares B: fold the batch into the rows of one large GEMM.
    kernels.sgemm(false, transB, s.batch * s.M, s.N, s.K, 1, a.f32, lda, b.f32, ldb, 0, out.f32, s.N);
  } else {
    kernels.sgemmBatched(s.batch, transA, transB, s.M, s.N, s.K, 1, a.f32, s.strideA, lda, b.f32, s.strideB, ldb, 0, out.f32, s.M * s.N, s.N);
  }
  return out;
}

/** Sums a batched gradient down to a broadcast operand's shape. */
function reduceBatch(g: Tensor, shape: readonly number[]): Tensor {
  if (shapesEqual(g.shape, shape)) return g;
  const rows = numel(shape);
  const out = Tensor.empty(shape);
  kernels.reduce(ReduceOp.Sum, 1, g.size / rows, rows, g.f32, out.f32);
  return out;
}

/**
 * Matrix product of the last two axes, optionally transposing either operand in the kernel
 * (no copy). Leading batch axes must match, or one operand must be a single matrix.
 */
export function matmul(a: Tensor, b: Tensor, options: { transA?: boolean; transB?: boolean } = {}): Tensor {
  const transA = options.transA ?? false, transB = options.transB ?? false;
  const out = gemm(a, b, transA, transB);
  return record(out, [a, b], "matmul", (g) => {
    // C = A B  =>  dA = dC B^T, dB = A^T dC (with the transposes folded into the kernel flags).
    let da: Tensor | null = null, db: Tensor | null = null;
    if (a.requiresGrad) {
      const full = transA ? gemm(b, g, transB, true) : gemm(g, b, false, !transB);
      da = reduceBatch(full, a.shape);
    }
    if (b.requiresGrad) {
      const full = transB ? gemm(g, a, true, transA) : gemm(a, g, !transA, false);
      db = reduceBatch(full, b.shape);
    }
    return [da, db];
  });
}

/** y = x W^T + b over the last axis of x; W is [out, in] as in torch.nn.Linear. */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  const inFeatures = weight.shape[1], outFeatures = weight.shape[0];
  if (weight.rank !== 2 || x.shape[x.rank - 1] !== inFeatures) {
    throw new Error(`linear: input ${formatShape(x.shape)} does not match weight ${formatShape(weight.shape)} (expected last axis ${inFeatures})`);
  }
  if (bias !== null && (bias.rank !== 1 || bias.shape[0] !== outFeatures)) {
    throw new Error(`linear: bias ${formatShape(bias.shape)} does not match ${outFeatures} output features`);
  }
  const rows = x.size / inFeatures;
  const out = Tensor.empty([...x.shape.slice(0, -1), outFeatures]);
  let beta = 0;
  if (bias !== null) {
    kernels.stridedCopy([rows, outFeatures], bias.f32, 0, [0, 1], out.f32);
    beta = 1;
  }
  kernels.sgemm(false, true, rows, outFeatures, inFeatures, 1, x.f32, inFeatures, weight.f32, inFeatures, beta, out.f32, outFeatures);
  const inputs = bias === null ? [x, weight] : [x, weight, bias];
  return record(out, inputs, "linear", (g) => {
    let dx: Tensor | null = null, dw: Tensor | null = null, db: Tensor | null = null;
    if (x.requiresGrad) {
      dx = Tensor.empty(x.shape);
      kernels.sgemm(false, false, rows, inFeatures, outFeatures, 1, g.f32, outFeatures, weight.f32, inFeatures, 0, dx.f32, inFeatures);
    }
    if (weight.requiresGrad) {
      dw = Tensor.empty(weight.shape);
      kernels.sgemm(true, false, outFeatures, inFeatures, rows, 1, g.f32, outFeatures, x.f32, inFeatures, 0, dw.f32, inFeatures);
    }
    if (bias !== null && bias.requiresGrad) {
      db = Tensor.empty(bias.shape);
      kernels.reduce(ReduceOp.Sum, 1, rows, outFeatures, g.f32, db.f32);
    }
    return [dx, dw, db];
  });
}

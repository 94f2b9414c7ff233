/**
 * @file Row gathers: embedding lookup and per-sample row selection (index a table by a batch of
 * integer timesteps), a batch subset and its write-back (run a layer on some samples only), plus
 * one-hot encoding. Indices are int32 tensors and are range-checked.
 */
import { record } from "../autograd.js";
import { kernels } from "../kernels/index.js";
import { formatShape } from "../shape.js";
import { Tensor } from "../tensor.js";

function checkIndices(indices: Tensor, rows: number, opName: string): void {
  if (indices.dtype !== "int32") throw new Error(`${opName}: indices must be an int32 tensor (Tensor.int32)`);
  const idx = indices.i32;
  for (let i = 0; i < idx.length; i++) {
    if (idx[i] < 0 || idx[i] >= rows) {
      throw new Error(`${opName}: index ${idx[i]} at position ${i} is outside the table's ${rows} rows`);
    }
  }
}

/** out[..., :] = table[indices[...], :]; table [rows, D] -> out [...indices.shape, D]. */
export function gatherRows(table: Tensor, indices: Tensor): Tensor {
  if (table.rank !== 2) throw new Error(`gatherRows: table must be [rows, D], got ${formatShape(table.shape)}`);
  const [rows, D] = table.shape;
  checkIndices(indices, rows, "gatherRows");
  const out = Tensor.empty([...indices.shape, D]);
  kernels.gatherRows(indices.size, D, table.f32, indices.i32, out.f32);
  return record(out, [table], "gatherRows", (g) => {
    const dtable = Tensor.zeros(table.shape);
    kernels.scatterAddRows(indices.size, D, g.f32, indices.i32, dtable.f32);
    return [dtable];
  });
}

/** The samples `rows` of x along its first axis: x [B, ...] -> [rows.length, ...]. */
export function selectRows(x: Tensor, rows: Tensor): Tensor {
  if (x.rank === 0) throw new Error("selectRows: x must have a batch axis");
  const B = x.shape[0];
  return gatherRows(x.reshape([B, x.size / B]), rows).reshape([rows.size, ...x.shape.slice(1)]);
}

/**
 * base with its samples `rows` (distinct) replaced by values [rows.length, ...]: the inverse of
 * selectRows. The gradient of base is zero on the replaced rows; values get theirs.
 */
export function replaceRows(base: Tensor, rows: Tensor, values: Tensor): Tensor {
  const B = base.shape[0], D = base.size / B;
  const expected = [rows.size, ...base.shape.slice(1)];
  if (values.rank !== base.rank || values.shape.some((d, i) => d !== expected[i])) {
    throw new Error(`replaceRows: values must be ${formatShape(expected)}, got ${formatShape(values.shape)}`);
  }
  checkIndices(rows, B, "replaceRows");
  const idx = rows.i32;
  if (new Set(idx).size !== idx.length) throw new Error("replaceRows: rows must be distinct");
  const out = Tensor.empty(base.shape);
  out.f32.set(base.f32);
  for (let j = 0; j < idx.length; j++) out.f32.set(values.f32.subarray(j * D, (j + 1) * D), idx[j] * D);
  return record(out, [base, values], "replaceRows", (g) => {
    const dbase = Tensor.empty(base.shape);
    dbase.f32.set(g.f32);
    for (let j = 0; j < idx.length; j++) dbase.f32.fill(0, idx[j] * D, (idx[j] + 1) * D);
    const dvalues = Tensor.empty(values.shape);
    for (let j = 0; j < idx.length; j++) dvalues.f32.set(g.f32.subarray(idx[j] * D, (idx[j] + 1) * D), j * D);
    return [base.requiresGrad ? dbase : null, values.requiresGrad ? dvalues : null];
  });
}

/** Embedding lookup (torch.nn.functional.embedding). */
export const embedding = (indices: Tensor, weight: Tensor): Tensor => gatherRows(weight, indices);

/** [..., classes] float tensor with 1 at each index. */
export function oneHot(indices: Tensor, classes: number): Tensor {
  checkIndices(indices, classes, "oneHot");
  const out = Tensor.zeros([...indices.shape, classes]);
  const idx = indices.i32, data = out.f32;
  for (let i = 0; i < idx.length; i++) data[i * classes + idx[i]] = 1;
  return out;
}

/**
 * @file Row gathers: embedding lookup and per-sample row selection (index a table by a batch of
 * integer timesteps), plus one-hot encoding. Indices are int32 tensors and are range-checked.
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

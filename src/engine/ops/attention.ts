/**
 * @file Fused scaled-dot-product attention: softmax(Q K^T * scale) V per head, computed in tiles
 * by the kernel so no [Lq, Lk] matrix per head is ever stored (memory is linear in sequence length).
 * Inputs are in the layout a Linear projection produces: q [B, Lq, heads*D], k/v [B, Lk, heads*D];
 * heads are split inside the kernel, so no transpose is needed before or after.
 */
import { record } from "../autograd.js";
import { kernels } from "../kernels/index.js";
import type { AttentionShape } from "../kernels/types.js";
import { formatShape } from "../shape.js";
import { Tensor } from "../tensor.js";

export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, heads: number, scale?: number): Tensor {
  if (q.rank !== 3 || k.rank !== 3 || v.rank !== 3) {
    throw new Error(`attention: q, k, v must be [B, L, heads*D]; got ${formatShape(q.shape)}, ${formatShape(k.shape)}, ${formatShape(v.shape)}`);
  }
  const [B, Lq, width] = q.shape;
  const Lk = k.shape[1];
  if (k.shape[0] !== B || v.shape[0] !== B || k.shape[2] !== width || v.shape[2] !== width || v.shape[1] !== Lk) {
    throw new Error(`attention: shapes q ${formatShape(q.shape)}, k ${formatShape(k.shape)}, v ${formatShape(v.shape)} are inconsistent`);
  }
  if (!Number.isInteger(heads) || heads <= 0 || width % heads !== 0) {
    throw new Error(`attention: width ${width} does not split into ${heads} heads`);
  }
  if (Lk === 0) throw new Error("attention: the key sequence is empty");
  const D = width / heads;
  const s: AttentionShape = { B, H: heads, Lq, Lk, D, scale: scale ?? 1 / Math.sqrt(D) };
  const out = Tensor.empty(q.shape);
  const lse = Tensor.empty([B, heads, Lq]);
  kernels.attentionForward(s, q.f32, k.f32, v.f32, out.f32, lse.f32);
  return record(out, [q, k, v], "attention", (g) => {
    const dq = Tensor.empty(q.shape), dk = Tensor.empty(k.shape), dv = Tensor.empty(v.shape);
    kernels.attentionBackward(s, q.f32, k.f32, v.f32, out.f32, lse.f32, g.f32, dq.f32, dk.f32, dv.f32);
    return [dq, dk, dv];
  });
}

/**
 * @file Normalisation and softmax, fused kernels with saved statistics: group norm over
 * channels-last tensors (diffusers' GroupNorm on [N, H, W, C] or [N, L, C]), layer norm and
 * (log-)softmax over the last axis.
 */
import { record } from "../autograd.js";
import { kernels } from "../kernels/index.js";
import { formatShape, normalizeAxis } from "../shape.js";
import { Tensor } from "../tensor.js";
import { permute } from "./layout.js";

/** Group norm: x [N, ..., C] (channels last), `groups` contiguous channel groups. */
export function groupNorm(x: Tensor, groups: number, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor {
  if (x.rank < 2) throw new Error(`groupNorm: expected [N, ..., C], got ${formatShape(x.shape)}`);
  const N = x.shape[0], C = x.shape[x.rank - 1], HW = x.size / Math.max(N * C, 1);
  if (!Number.isInteger(groups) || groups <= 0 || C % groups !== 0) {
    throw new Error(`groupNorm: ${C} channels do not split into ${groups} groups`);
  }
  for (const [name, p] of [["weight", weight], ["bias", bias]] as const) {
    if (p !== null && (p.rank !== 1 || p.shape[0] !== C)) throw new Error(`groupNorm: ${name} ${formatShape(p.shape)} does not match ${C} channels`);
  }
  const out = Tensor.empty(x.shape);
  const mean = Tensor.empty([N, groups]), rstd = Tensor.empty([N, groups]);
  kernels.groupNormForward(N, HW, C, groups, eps, x.f32, weight?.f32 ?? null, bias?.f32 ?? null, out.f32, mean.f32, rstd.f32);
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  return record(out, inputs, "groupNorm", (g) => {
    const dx = Tensor.empty(x.shape);
    const dw = weight ? Tensor.empty([C]) : null, db = bias ? Tensor.empty([C]) : null;
    kernels.groupNormBackward(N, HW, C, groups, g.f32, x.f32, mean.f32, rstd.f32, weight?.f32 ?? null, dx.f32, dw?.f32 ?? null, db?.f32 ?? null);
    return [dx, ...(dw ? [dw] : []), ...(db ? [db] : [])];
  });
}

/** Layer norm over the last axis. */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor {
  const D = x.shape[x.rank - 1], R = x.size / Math.max(D, 1);
  for (const [name, p] of [["weight", weight], ["bias", bias]] as const) {
    if (p !== null && (p.rank !== 1 || p.shape[0] !== D)) throw new Error(`layerNorm: ${name} ${formatShape(p.shape)} does not match last axis ${D}`);
  }
  const out = Tensor.empty(x.shape);
  const mean = Tensor.empty([R]), rstd = Tensor.empty([R]);
  kernels.layerNormForward(R, D, eps, x.f32, weight?.f32 ?? null, bias?.f32 ?? null, out.f32, mean.f32, rstd.f32);
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  return record(out, inputs, "layerNorm", (g) => {
    const dx = Tensor.empty(x.shape);
    const dw = weight ? Tensor.empty([D]) : null, db = bias ? Tensor.empty([D]) : null;
    kernels.layerNormBackward(R, D, g.f32, x.f32, mean.f32, rstd.f32, weight?.f32 ?? null, dx.f32, dw?.f32 ?? null, db?.f32 ?? null);
    return [dx, ...(dw ? [dw] : []), ...(db ? [db] : [])];
  });
}

function softmaxLast(x: Tensor, log: boolean): Tensor {
  const D = x.shape[x.rank - 1], R = x.size / Math.max(D, 1);
  const out = Tensor.empty(x.shape);
  kernels.softmaxForward(R, D, log, x.f32, out.f32);
  return record(out, [x], log ? "logSoftmax" : "softmax", (g) => {
    const dx = Tensor.empty(x.shape);
    kernels.softmaxBackward(R, D, log, out.f32, g.f32, dx.f32);
    return [dx];
  });
}

function alongAxis(x: Tensor, axis: number, fn: (t: Tensor) => Tensor): Tensor {
  const a = normalizeAxis(axis, x.rank, "softmax");
  if (a === x.rank - 1) return fn(x);
  const order = x.shape.map((_, i) => i);
  [order[a], order[x.rank - 1]] = [order[x.rank - 1], order[a]];
  return permute(fn(permute(x, order)), order);
}

export function softmax(x: Tensor, axis = -1): Tensor {
  return alongAxis(x, axis, (t) => softmaxLast(t, false));
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return alongAxis(x, axis, (t) => softmaxLast(t, true));
}

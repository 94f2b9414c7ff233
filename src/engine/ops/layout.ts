/**
 * @file Layout ops. reshape-like ops return views that share storage; permute, slice, concat and
 * expand write a new contiguous tensor through the strided-copy kernel, and their backward is the
 * adjoint strided add.
 */
import { record } from "../autograd.js";
import { kernels } from "../kernels/index.js";
import { collapseDims, contiguousStrides, formatShape, normalizeAxis, numel, shapesEqual, type Shape } from "../shape.js";
import { Tensor } from "../tensor.js";
import { expandRaw, sumToShape } from "./elementwise.js";

/** A contiguous copy; differentiable. */
export function clone(x: Tensor): Tensor {
  const out = x.dtype === "int32" ? Tensor.int32(x.i32, x.shape) : Tensor.empty(x.shape);
  if (x.dtype === "float32") out.f32.set(x.f32);
  return record(out, [x], "clone", (g) => [g]);
}

/** Resolves one -1 in a requested shape. */
function resolveShape(requested: Shape, size: number, from: Shape): number[] {
  const unknown = requested.filter((d) => d === -1).length;
  if (unknown > 1) throw new Error(`reshape: at most one -1 allowed in ${formatShape(requested)}`);
  const known = numel(requested.filter((d) => d !== -1));
  const shape = requested.map((d) => (d === -1 ? (known === 0 ? 0 : size / known) : d));
  if (numel(shape) !== size || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`reshape: cannot view ${formatShape(from)} (${size} elements) as ${formatShape(requested)}`);
  }
  return shape;
}

export function reshape(x: Tensor, requested: Shape): Tensor {
  const shape = resolveShape(requested, x.size, x.shape);
  const out = x.view(shape);
  return record(out, [x], "reshape", (g) => [g.view(x.shape)]);
}

export function flatten(x: Tensor, startAxis = 0, endAxis = -1): Tensor {
  if (x.rank === 0) return reshape(x, [1]);
  const s = normalizeAxis(startAxis, x.rank, "flatten"), e = normalizeAxis(endAxis, x.rank, "flatten");
  const shape = [...x.shape.slice(0, s), numel(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)];
  return reshape(x, shape);
}

export function squeeze(x: Tensor, axis: number): Tensor {
  const a = normalizeAxis(axis, x.rank, "squeeze");
  if (x.shape[a] !== 1) throw new Error(`squeeze: axis ${axis} of ${formatShape(x.shape)} has size ${x.shape[a]}, not 1`);
  return reshape(x, x.shape.filter((_, i) => i !== a));
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normalizeAxis(axis, x.rank + 1, "unsqueeze");
  const shape = [...x.shape];
  shape.splice(a, 0, 1);
  return reshape(x, shape);
}

function permuteRaw(x: Tensor, order: readonly number[]): Tensor {
  const strides = contiguousStrides(x.shape);
  const shape = order.map((a) => x.shape[a]);
  const out = Tensor.empty(shape);
  const collapsed = collapseDims(shape, [order.map((a) => strides[a])]);
  kernels.stridedCopy(collapsed.shape, x.f32, 0, collapsed.strides[0], out.f32);
  return out;
}

export function permute(x: Tensor, order: readonly number[]): Tensor {
  const resolved = order.map((a) => normalizeAxis(a, x.rank, "permute"));
  if (resolved.length !== x.rank || new Set(resolved).size !== x.rank) {
    throw new Error(`permute: [${order}] is not a permutation of the ${x.rank} axes of ${formatShape(x.shape)}`);
  }
  const out = permuteRaw(x, resolved);
  const inverse = new Array<number>(resolved.length);
  resolved.forEach((a, i) => (inverse[a] = i));
  return record(out, [x], "permute", (g) => [permuteRaw(g, inverse)]);
}

export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  const order = x.shape.map((_, i) => i);
  const i = normalizeAxis(a, x.rank, "transpose"), j = normalizeAxis(b, x.rank, "transpose");
  [order[i], order[j]] = [order[j], order[i]];
  return permute(x, order);
}

/** Elements [start, end) along one axis, copied. */
export function slice(x: Tensor, axis: number, start: number, end?: number): Tensor {
  const a = normalizeAxis(axis, x.rank, "slice");
  const size = x.shape[a];
  const s = start < 0 ? start + size : start;
  const e = end === undefined ? size : end < 0 ? end + size : end;
  if (!(Number.isInteger(s) && Number.isInteger(e) && 0 <= s && s <= e && e <= size)) {
    throw new Error(`slice: range [${start}, ${end ?? size}) is outside axis ${axis} of size ${size}`);
  }
  const shape = x.shape.map((d, i) => (i === a ? e - s : d));
  const strides = contiguousStrides(x.shape);
  const offset = s * strides[a];
  const out = Tensor.empty(shape);
  if (out.size > 0) kernels.stridedCopy(shape, x.f32, offset, strides, out.f32);
  return record(out, [x], "slice", (g) => {
    const dx = Tensor.zeros(x.shape);
    if (g.size > 0) kernels.stridedAdd(shape, g.f32, dx.f32, offset, strides);
    return [dx];
  });
}

/** Splits into `chunks` equal parts along an axis (the axis must divide evenly). */
export function chunk(x: Tensor, chunks: number, axis = -1): Tensor[] {
  const a = normalizeAxis(axis, x.rank, "chunk");
  if (!Number.isInteger(chunks) || chunks <= 0 || x.shape[a] % chunks !== 0) {
    throw new Error(`chunk: axis ${axis} of ${formatShape(x.shape)} does not split into ${chunks} equal parts`);
  }
  const step = x.shape[a] / chunks;
  return Array.from({ length: chunks }, (_, i) => slice(x, a, i * step, (i + 1) * step));
}

/** Joins tensors along an existing axis. */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new Error("concat: no tensors given");
  const first = tensors[0];
  const a = normalizeAxis(axis, first.rank, "concat");
  for (const t of tensors) {
    const same = t.rank === first.rank && t.shape.every((d, i) => i === a || d === first.shape[i]);
    if (!same) throw new Error(`concat: shapes ${formatShape(first.shape)} and ${formatShape(t.shape)} differ outside axis ${axis}`);
  }
  const total = tensors.reduce((s, t) => s + t.shape[a], 0);
  const shape = first.shape.map((d, i) => (i === a ? total : d));
  const out = Tensor.zeros(shape);
  const strides = contiguousStrides(shape);
  const offsets: number[] = [];
  let position = 0;
  for (const t of tensors) {
    offsets.push(position * strides[a]);
    if (t.size > 0) kernels.stridedAdd(t.shape, t.f32, out.f32, position * strides[a], strides);
    position += t.shape[a];
  }
  return record(out, tensors, "concat", (g) =>
    tensors.map((t, i) => {
      if (!t.requiresGrad) return null;
      const part = Tensor.empty(t.shape);
      if (t.size > 0) kernels.stridedCopy(t.shape, g.f32, offsets[i], strides, part.f32);
      return part;
    }),
  );
}

/** Stacks equally shaped tensors along a new axis. */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new Error("stack: no tensors given");
  const a = normalizeAxis(axis, tensors[0].rank + 1, "stack");
  return concat(tensors.map((t) => unsqueeze(t, a)), a);
}

/** Broadcasts to a larger shape (copied); the backward sums over the broadcast axes. */
export function expand(x: Tensor, shape: Shape): Tensor {
  if (shapesEqual(x.shape, shape)) return x;
  const out = expandRaw(x, shape);
  return record(out, [x], "expand", (g) => [sumToShape(g, x.shape)]);
}

/** NCHW (PyTorch images) -> NHWC (the engine's layout). */
export function nchwToNhwc(x: Tensor): Tensor {
  if (x.rank !== 4) throw new Error(`nchwToNhwc: expected a 4-D tensor, got ${formatShape(x.shape)}`);
  return permute(x, [0, 2, 3, 1]);
}

/** NHWC -> NCHW. */
export function nhwcToNchw(x: Tensor): Tensor {
  if (x.rank !== 4) throw new Error(`nhwcToNchw: expected a 4-D tensor, got ${formatShape(x.shape)}`);
  return permute(x, [0, 3, 1, 2]);
}

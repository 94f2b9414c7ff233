/**
 * @file Reductions: sum, mean, max, argmax and variance over one or more axes. A reduction over a
 * block of adjacent axes is one kernel call on the [outer, reduced, inner] view of the tensor;
 * scattered axes are reduced one at a time.
 */
import { record } from "../autograd.js";
import { kernels } from "../kernels/index.js";
import { ReduceOp } from "../kernels/types.js";
import { normalizeAxis, numel, type Shape } from "../shape.js";
import { Tensor } from "../tensor.js";
import { expandRaw } from "./elementwise.js";

function resolveAxes(x: Tensor, axes: number | number[] | undefined, opName: string): number[] {
  if (axes === undefined) return x.shape.map((_, i) => i);
  const list = (Array.isArray(axes) ? axes : [axes]).map((a) => normalizeAxis(a, x.rank, opName));
  const sorted = [...new Set(list)].sort((p, q) => p - q);
  if (sorted.length !== list.length) throw new Error(`${opName}: repeated axis in [${axes}]`);
  return sorted;
}

function keptShape(shape: Shape, axes: number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

function droppedShape(shape: Shape, axes: number[]): number[] {
  return shape.filter((_, i) => !axes.includes(i));
}

/** Raw reduction over sorted axes, result in keep-dims shape. */
function reduceRaw(op: ReduceOp, x: Tensor, axes: number[]): Tensor {
  let current = x;
  // Reduce runs of adjacent axes with one call each, from the last run to the first.
  let end = axes.length - 1;
  while (end >= 0) {
    let start = end;
    while (start > 0 && axes[start - 1] === axes[start] - 1) start--;
    const first = axes[start], last = axes[end];
    const shape = current.shape;
    const outer = numel(shape.slice(0, first));
    const r = numel(shape.slice(first, last + 1));
    const inner = numel(shape.slice(last + 1));
    const outShape = shape.map((d, i) => (i >= first && i <= last ? 1 : d));
    const out = Tensor.empty(outShape);
    kernels.reduce(op, outer, r, inner, current.f32, out.f32);
    if (current !== x) current.dispose();
    current = out;
    end = start - 1;
  }
  return current === x ? x.clone() : current;
}

export function sum(x: Tensor, axes?: number | number[], keepDims = false): Tensor {
  const list = resolveAxes(x, axes, "sum");
  const kept = reduceRaw(ReduceOp.Sum, x, list);
  const out = keepDims ? kept : kept.view(droppedShape(x.shape, list));
  return record(out, [x], "sum", (g) => [expandRaw(g.view(keptShape(x.shape, list)), x.shape)]);
}

export function mean(x: Tensor, axes?: number | number[], keepDims = false): Tensor {
  const list = resolveAxes(x, axes, "mean");
  const count = numel(list.map((a) => x.shape[a]));
  const total = sum(x, list, keepDims);
  return total.mul(1 / count);
}

/** Maximum over one axis (or all elements); the gradient goes to the first maximal element. */
export function max(x: Tensor, axis?: number, keepDims = false): Tensor {
  const flat = axis === undefined ? x.view([x.size]) : x;
  const ax = axis === undefined ? 0 : normalizeAxis(axis, x.rank, "max");
  if (flat.shape[ax] === 0) throw new Error("max: cannot reduce an empty axis");
  const kept = reduceRaw(ReduceOp.Max, flat, [ax]);
  const out = axis === undefined ? kept.view(keepDims ? x.shape.map(() => 1) : []) : keepDims ? kept : kept.view(droppedShape(x.shape, [ax]));
  return record(out, [x], "max", (g) => {
    const idx = argmaxRaw(flat, ax);
    const outer = numel(flat.shape.slice(0, ax)), r = flat.shape[ax], inner = numel(flat.shape.slice(ax + 1));
    const dx = Tensor.zeros(x.shape);
    const gd = g.f32, dd = dx.f32, id = idx.i32;
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) dd[(o * r + id[o * inner + i]) * inner + i] = gd[o * inner + i];
    }
    idx.dispose();
    return [dx];
  });
}

function argmaxRaw(x: Tensor, axis: number): Tensor {
  const outer = numel(x.shape.slice(0, axis)), r = x.shape[axis], inner = numel(x.shape.slice(axis + 1));
  const result = Tensor.int32(new Int32Array(outer * inner), keptShape(x.shape, [axis]));
  kernels.argmax(outer, r, inner, x.f32, result.i32);
  return result;
}

/** Index of the first maximum along an axis, as an int32 tensor (not differentiable). */
export function argmax(x: Tensor, axis = -1, keepDims = false): Tensor {
  const ax = normalizeAxis(axis, x.rank, "argmax");
  if (x.shape[ax] === 0) throw new Error("argmax: cannot reduce an empty axis");
  const kept = argmaxRaw(x, ax);
  return keepDims ? kept : kept.view(droppedShape(x.shape, [ax]));
}

/** Variance (unbiased by default, as torch.var). */
export function variance(
  x: Tensor,
  axes?: number | number[],
  options: { unbiased?: boolean; keepDims?: boolean } = {},
): Tensor {
  const list = resolveAxes(x, axes, "var");
  const count = numel(list.map((a) => x.shape[a]));
  const unbiased = options.unbiased ?? true;
  const centered = x.sub(mean(x, list, true));
  return sum(centered.square(), list, options.keepDims ?? false).mul(1 / Math.max(unbiased ? count - 1 : count, 1));
}

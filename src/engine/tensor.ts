/**
 * @file The Tensor: an n-dimensional float32 (or int32 index) array with reverse-mode autograd.
 *
 * Every tensor is contiguous and row-major. `reshape` (and squeeze/unsqueeze/flatten) return views
 * that share storage; every other op, including permute and slice, returns a fresh contiguous
 * tensor, so kernels never deal with arbitrary strides. Images are channels-last ([N, H, W, C]).
 *
 * The methods here are thin: each op's forward and backward live together in ops/*.ts.
 */
import { isGradEnabled, runBackward, type GradNode } from "./autograd.js";
import { kernels } from "./kernels/index.js";
import { allocFloat32, isMetaAllocation, Storage, track, type Disposable } from "./memory.js";
import { contiguousStrides, formatShape, numel, type Shape } from "./shape.js";
import type { Generator } from "./rng.js";
import * as elementwise from "./ops/elementwise.js";
import * as reduce from "./ops/reduce.js";
import * as layout from "./ops/layout.js";
import * as linalg from "./ops/linalg.js";

export type DType = "float32" | "int32";

export class Tensor implements Disposable {
  readonly shape: Shape;
  readonly dtype: DType;
  /** Number of elements. */
  readonly size: number;
  /** Leaves with requiresGrad receive `.grad` from backward(); ops set it on their outputs. */
  requiresGrad = false;
  grad: Tensor | null = null;
  /** How this tensor was computed (null for leaves and when gradients were not recorded). */
  node: GradNode | null = null;
  #storage: Storage;
  #disposed = false;

  /** Wraps a storage (no copy). Prefer the static factories. */
  constructor(storage: Storage, shape: Shape, dtype: DType = "float32") {
    const size = numel(shape);
    if (shape.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new Error(`Tensor: invalid shape ${formatShape(shape)} (dimensions must be integers >= 0)`);
    }
    if (!storage.meta && storage.data.length !== size) {
      throw new Error(
        `Tensor: shape ${formatShape(shape)} needs ${size} elements but the buffer holds ${storage.data.length}`,
      );
    }
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = size;
    this.#storage = storage;
    storage.retain();
    track(this);
  }

  // ---- creation ------------------------------------------------------------------------------

  /** An uninitialised float32 tensor (memory reused from the pool). */
  static empty(shape: Shape): Tensor {
    if (isMetaAllocation()) return new Tensor(Storage.meta(), shape);
    return new Tensor(new Storage(allocFloat32(numel(shape))), shape);
  }

  static full(shape: Shape, value: number): Tensor {
    const t = Tensor.empty(shape);
    if (!t.isMeta) kernels.fill(t.size, value, t.f32);
    return t;
  }

  static zeros(shape: Shape): Tensor {
    return Tensor.full(shape, 0);
  }

  static ones(shape: Shape): Tensor {
    return Tensor.full(shape, 1);
  }

  static scalar(value: number): Tensor {
    return Tensor.full([], value);
  }

  /** Copies values into a new float32 tensor; shape defaults to 1-D. */
  static from(values: ArrayLike<number>, shape: Shape = [values.length]): Tensor {
    if (numel(shape) !== values.length) {
      throw new Error(`Tensor.from: ${values.length} values do not fill shape ${formatShape(shape)}`);
    }
    const t = Tensor.empty(shape);
    t.f32.set(values);
    return t;
  }

  /** Wraps an existing Float32Array without copying (the tensor now owns it). */
  static wrap(data: Float32Array, shape: Shape): Tensor {
    return new Tensor(new Storage(data), shape);
  }

  /** An int32 tensor (indices, labels, timesteps). */
  static int32(values: ArrayLike<number>, shape: Shape = [values.length]): Tensor {
    const data = Int32Array.from(values);
    return new Tensor(new Storage(data), shape, "int32");
  }

  static uniform(shape: Shape, generator: Generator, low = 0, high = 1): Tensor {
    if (isMetaAllocation()) return Tensor.empty(shape);
    const u = generator.uniform(numel(shape));
    if (low !== 0 || high !== 1) for (let i = 0; i < u.length; i++) u[i] = low + (high - low) * u[i];
    return Tensor.wrap(u, shape);
  }

  static randn(shape: Shape, generator: Generator, std = 1): Tensor {
    if (isMetaAllocation()) return Tensor.empty(shape);
    return Tensor.wrap(generator.normal(numel(shape), 0, std), shape);
  }

  // ---- data access ---------------------------------------------------------------------------

  /** The underlying buffer (float32 or int32). Throws if the tensor was disposed. */
  get data(): Float32Array | Int32Array {
    if (this.#disposed) this.#storage.data; // throws the use-after-dispose error
    return this.#storage.data;
  }

  get f32(): Float32Array {
    const data = this.data;
    if (!(data instanceof Float32Array)) throw new Error("expected a float32 tensor, got int32");
    return data;
  }

  get i32(): Int32Array {
    const data = this.data;
    if (!(data instanceof Int32Array)) throw new Error("expected an int32 tensor, got float32");
    return data;
  }

  /** A shape-only tensor built under withMetaTensors() (no data). */
  get isMeta(): boolean {
    return this.#storage.meta;
  }

  get rank(): number {
    return this.shape.length;
  }

  get strides(): number[] {
    return contiguousStrides(this.shape);
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new Error(`item(): tensor of shape ${formatShape(this.shape)} has ${this.size} elements`);
    return this.data[0];
  }

  toArray(): number[] {
    return Array.from(this.data);
  }

  /** Whether both tensors view the same memory (a reshape and its source do). */
  sharesStorageWith(other: Tensor): boolean {
    return this.#storage === other.#storage;
  }

  /** A view with another shape of the same size (no copy; shares storage). */
  view(shape: Shape): Tensor {
    return new Tensor(this.#storage, shape, this.dtype);
  }

  /** Releases this tensor's hold on its memory. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.node = null;
    this.#storage.releaseRef();
  }

  // ---- autograd ------------------------------------------------------------------------------

  /** Marks a leaf as trainable (returns this). */
  requireGrad(flag = true): this {
    this.requiresGrad = flag;
    return this;
  }

  /** The same values, cut from the graph (shares storage). */
  detach(): Tensor {
    return this.view(this.shape);
  }

  /** Backpropagates from this tensor (a scalar unless `grad` is given). */
  backward(grad?: Tensor, options: { retainGraph?: boolean } = {}): void {
    if (!this.requiresGrad) {
      throw new Error("backward(): this tensor does not require grad (no input was trainable, or it was computed under noGrad)");
    }
    if (grad === undefined && this.size !== 1) {
      throw new Error(`backward(): output has shape ${formatShape(this.shape)}; pass a gradient or reduce to a scalar first`);
    }
    const seed = grad ?? Tensor.ones(this.shape);
    runBackward(this, seed, options.retainGraph ?? false);
    if (grad === undefined) seed.dispose();
  }

  /** A contiguous copy (not recorded by autograd unless the source requires grad). */
  clone(): Tensor {
    return layout.clone(this);
  }

  /** this += other, in place, no autograd (gradient accumulation, optimizers). */
  addInPlace(other: Tensor, alpha = 1): this {
    if (other.size !== this.size) {
      throw new Error(`addInPlace: shapes ${formatShape(this.shape)} and ${formatShape(other.shape)} differ`);
    }
    kernels.axpby(this.size, alpha, other.f32, 1, this.f32);
    return this;
  }

  /** Copies other's values into this tensor, in place, no autograd. */
  copyFrom(other: Tensor): this {
    if (other.size !== this.size) {
      throw new Error(`copyFrom: shapes ${formatShape(this.shape)} and ${formatShape(other.shape)} differ`);
    }
    this.data.set(other.data);
    return this;
  }

  // ---- elementwise (ops/elementwise.ts) ---------------------------------------------------------
  add(other: Tensor | number): Tensor { return elementwise.add(this, other); }
  sub(other: Tensor | number): Tensor { return elementwise.sub(this, other); }
  mul(other: Tensor | number): Tensor { return elementwise.mul(this, other); }
  div(other: Tensor | number): Tensor { return elementwise.div(this, other); }
  pow(exponent: Tensor | number): Tensor { return elementwise.pow(this, exponent); }
  maximum(other: Tensor | number): Tensor { return elementwise.maximum(this, other); }
  minimum(other: Tensor | number): Tensor { return elementwise.minimum(this, other); }
  neg(): Tensor { return elementwise.neg(this); }
  exp(): Tensor { return elementwise.exp(this); }
  log(): Tensor { return elementwise.log(this); }
  sqrt(): Tensor { return elementwise.sqrt(this); }
  abs(): Tensor { return elementwise.abs(this); }
  square(): Tensor { return elementwise.square(this); }
  sigmoid(): Tensor { return elementwise.sigmoid(this); }
  tanh(): Tensor { return elementwise.tanh(this); }
  relu(): Tensor { return elementwise.relu(this); }
  silu(): Tensor { return elementwise.silu(this); }
  gelu(approximate: "none" | "tanh" = "none"): Tensor { return elementwise.gelu(this, approximate); }
  clamp(lo: number, hi: number): Tensor { return elementwise.clamp(this, lo, hi); }
  gt(other: Tensor | number): Tensor { return elementwise.gt(this, other); }
  lt(other: Tensor | number): Tensor { return elementwise.lt(this, other); }
  eq(other: Tensor | number): Tensor { return elementwise.eq(this, other); }

  // ---- reductions (ops/reduce.ts) -----------------------------------------------------------------
  sum(axes?: number | number[], keepDims = false): Tensor { return reduce.sum(this, axes, keepDims); }
  mean(axes?: number | number[], keepDims = false): Tensor { return reduce.mean(this, axes, keepDims); }
  max(axis?: number, keepDims = false): Tensor { return reduce.max(this, axis, keepDims); }
  argmax(axis = -1, keepDims = false): Tensor { return reduce.argmax(this, axis, keepDims); }
  var(axes?: number | number[], options: { unbiased?: boolean; keepDims?: boolean } = {}): Tensor {
    return reduce.variance(this, axes, options);
  }

  // ---- layout (ops/layout.ts) ------------------------------------------------------------------
  reshape(shape: Shape): Tensor { return layout.reshape(this, shape); }
  flatten(startAxis = 0, endAxis = -1): Tensor { return layout.flatten(this, startAxis, endAxis); }
  squeeze(axis: number): Tensor { return layout.squeeze(this, axis); }
  unsqueeze(axis: number): Tensor { return layout.unsqueeze(this, axis); }
  permute(order: readonly number[]): Tensor { return layout.permute(this, order); }
  transpose(a = -2, b = -1): Tensor { return layout.transpose(this, a, b); }
  slice(axis: number, start: number, end?: number): Tensor { return layout.slice(this, axis, start, end); }
  chunk(chunks: number, axis = -1): Tensor[] { return layout.chunk(this, chunks, axis); }
  expand(shape: Shape): Tensor { return layout.expand(this, shape); }

  // ---- linear algebra (ops/linalg.ts) -------------------------------------------------------------
  matmul(other: Tensor): Tensor { return linalg.matmul(this, other); }

  toString(): string {
    const preview = Array.from(this.data.subarray(0, 8), (v) => v.toPrecision(4)).join(", ");
    return `Tensor(${formatShape(this.shape)}, ${this.dtype}, [${preview}${this.size > 8 ? ", ..." : ""}])`;
  }
}

/** Whether gradients would be recorded for an op on these inputs right now. */
export function needsGrad(...inputs: Tensor[]): boolean {
  return isGradEnabled() && inputs.some((t) => t.requiresGrad);
}

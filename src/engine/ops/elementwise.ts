/**
 * @file Elementwise ops: unary activations and broadcasting binary arithmetic, each with its
 * derivative beside it. Binary ops follow NumPy broadcasting; their backward sums the gradient back
 * down to each input's shape (sumToShape).
 */
import { record } from "../autograd.js";
import { kernels } from "../kernels/index.js";
import { BinaryOp, UnaryOp } from "../kernels/types.js";
import { broadcastShapes, broadcastStrides, collapseDims, formatShape, shapesEqual, type Shape } from "../shape.js";
import { Tensor } from "../tensor.js";

function asTensor(x: Tensor | number): Tensor {
  return typeof x === "number" ? Tensor.scalar(x) : x;
}

function checkFloat(t: Tensor, opName: string): void {
  if (t.dtype !== "float32") throw new Error(`${opName}: expected a float32 tensor, got ${t.dtype}`);
}

/** Sums a broadcast gradient back down to `shape` (the adjoint of broadcasting). */
export function sumToShape(grad: Tensor, shape: Shape): Tensor {
  if (shapesEqual(grad.shape, shape)) return grad;
  const out = Tensor.zeros(shape);
  const { shape: dims, strides } = collapseDims(grad.shape, [broadcastStrides(shape, grad.shape)]);
  kernels.stridedAdd(dims, grad.f32, out.f32, 0, strides[0]);
  return out;
}

/** out = a op b with broadcasting, no autograd. */
function binaryRaw(op: BinaryOp, a: Tensor, b: Tensor, opName: string): Tensor {
  checkFloat(a, opName);
  checkFloat(b, opName);
  const shape = broadcastShapes(a.shape, b.shape, opName);
  const out = Tensor.empty(shape);
  const collapsed = collapseDims(shape, [broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape)]);
  kernels.binaryForward(op, collapsed.shape, a.f32, collapsed.strides[0], b.f32, collapsed.strides[1], out.f32);
  return out;
}

export function add(aIn: Tensor, bIn: Tensor | number): Tensor {
  const a = aIn, b = asTensor(bIn);
  const out = binaryRaw(BinaryOp.Add, a, b, "add");
  return record(out, [a, b], "add", (g) => [sumToShape(g, a.shape), sumToShape(g, b.shape)]);
}

export function sub(aIn: Tensor, bIn: Tensor | number): Tensor {
  const a = aIn, b = asTensor(bIn);
  const out = binaryRaw(BinaryOp.Sub, a, b, "sub");
  return record(out, [a, b], "sub", (g) => [
    sumToShape(g, a.shape),
    b.requiresGrad ? sumToShape(neg(g), b.shape) : null,
  ]);
}

export function mul(aIn: Tensor, bIn: Tensor | number): Tensor {
  const a = aIn, b = asTensor(bIn);
  const out = binaryRaw(BinaryOp.Mul, a, b, "mul");
  return record(out, [a, b], "mul", (g) => [
    a.requiresGrad ? sumToShape(binaryRaw(BinaryOp.Mul, g, b, "mul"), a.shape) : null,
    b.requiresGrad ? sumToShape(binaryRaw(BinaryOp.Mul, g, a, "mul"), b.shape) : null,
  ]);
}

export function div(aIn: Tensor, bIn: Tensor | number): Tensor {
  const a = aIn, b = asTensor(bIn);
  const out = binaryRaw(BinaryOp.Div, a, b, "div");
  return record(out, [a, b], "div", (g) => [
    a.requiresGrad ? sumToShape(binaryRaw(BinaryOp.Div, g, b, "div"), a.shape) : null,
    // d(a/b)/db = -a/b^2 = -out/b
    b.requiresGrad ? sumToShape(neg(binaryRaw(BinaryOp.Div, binaryRaw(BinaryOp.Mul, g, out, "div"), b, "div")), b.shape) : null,
  ]);
}

export function pow(aIn: Tensor, exponent: Tensor | number): Tensor {
  const a = aIn, b = asTensor(exponent);
  const out = binaryRaw(BinaryOp.Pow, a, b, "pow");
  return record(out, [a, b], "pow", (g) => [
    // d(a^b)/da = b * a^(b-1)
    a.requiresGrad ? sumToShape(mul(g, mul(b, pow(a, sub(b, 1)))), a.shape) : null,
    // d(a^b)/db = a^b * ln(a)
    b.requiresGrad ? sumToShape(mul(g, mul(out, log(a))), b.shape) : null,
  ]);
}

function minMax(op: BinaryOp.Maximum | BinaryOp.Minimum, aIn: Tensor, bIn: Tensor | number, name: string): Tensor {
  const a = aIn, b = asTensor(bIn);
  const out = binaryRaw(op, a, b, name);
  return record(out, [a, b], name, (g) => {
    // The winner takes the gradient; ties share it equally (as PyTorch does).
    const aWins = binaryRaw(op === BinaryOp.Maximum ? BinaryOp.Greater : BinaryOp.Less, a, b, name);
    const tie = binaryRaw(BinaryOp.Equal, a, b, name);
    const aShare = add(aWins, mul(tie, 0.5));
    const bShare = sub(Tensor.scalar(1), aShare);
    return [
      a.requiresGrad ? sumToShape(mul(g, aShare), a.shape) : null,
      b.requiresGrad ? sumToShape(mul(g, bShare), b.shape) : null,
    ];
  });
}

export function maximum(a: Tensor, b: Tensor | number): Tensor {
  return minMax(BinaryOp.Maximum, a, b, "maximum");
}

export function minimum(a: Tensor, b: Tensor | number): Tensor {
  return minMax(BinaryOp.Minimum, a, b, "minimum");
}

/** Comparisons give 1.0 / 0.0 and are not differentiable. */
export function gt(a: Tensor, b: Tensor | number): Tensor {
  return binaryRaw(BinaryOp.Greater, a, asTensor(b), "gt");
}
export function lt(a: Tensor, b: Tensor | number): Tensor {
  return binaryRaw(BinaryOp.Less, a, asTensor(b), "lt");
}
export function eq(a: Tensor, b: Tensor | number): Tensor {
  return binaryRaw(BinaryOp.Equal, a, asTensor(b), "eq");
}

function unary(op: UnaryOp, x: Tensor, name: string): Tensor {
  checkFloat(x, name);
  const out = Tensor.empty(x.shape);
  kernels.unaryForward(op, x.size, x.f32, out.f32);
  return record(out, [x], name, (g) => {
    const dx = Tensor.empty(x.shape);
    kernels.unaryBackward(op, x.size, x.f32, out.f32, g.f32, dx.f32);
    return [dx];
  });
}

export const neg = (x: Tensor): Tensor => unary(UnaryOp.Neg, x, "neg");
export const exp = (x: Tensor): Tensor => unary(UnaryOp.Exp, x, "exp");
export const log = (x: Tensor): Tensor => unary(UnaryOp.Log, x, "log");
export const sqrt = (x: Tensor): Tensor => unary(UnaryOp.Sqrt, x, "sqrt");
export const abs = (x: Tensor): Tensor => unary(UnaryOp.Abs, x, "abs");
export const square = (x: Tensor): Tensor => unary(UnaryOp.Square, x, "square");
export const sigmoid = (x: Tensor): Tensor => unary(UnaryOp.Sigmoid, x, "sigmoid");
export const tanh = (x: Tensor): Tensor => unary(UnaryOp.Tanh, x, "tanh");
export const relu = (x: Tensor): Tensor => unary(UnaryOp.Relu, x, "relu");
export const silu = (x: Tensor): Tensor => unary(UnaryOp.Silu, x, "silu");
export const reciprocal = (x: Tensor): Tensor => unary(UnaryOp.Reciprocal, x, "reciprocal");
export const sign = (x: Tensor): Tensor => unary(UnaryOp.Sign, x, "sign");

/** GELU, exact (erf) by default or with the tanh approximation. */
export function gelu(x: Tensor, approximate: "none" | "tanh" = "none"): Tensor {
  return approximate === "tanh" ? unary(UnaryOp.GeluTanh, x, "gelu_tanh") : unary(UnaryOp.GeluErf, x, "gelu");
}

export function clamp(x: Tensor, lo: number, hi: number): Tensor {
  checkFloat(x, "clamp");
  if (!(lo <= hi)) throw new Error(`clamp: lower bound ${lo} is above upper bound ${hi}`);
  const out = Tensor.empty(x.shape);
  kernels.clampForward(x.size, lo, hi, x.f32, out.f32);
  return record(out, [x], "clamp", (g) => {
    const dx = Tensor.empty(x.shape);
    kernels.clampBackward(x.size, lo, hi, x.f32, g.f32, dx.f32);
    return [dx];
  });
}

/** cond != 0 ? a : b, broadcasting all three; differentiable in a and b. */
export function where(cond: Tensor, aIn: Tensor | number, bIn: Tensor | number): Tensor {
  const a = asTensor(aIn), b = asTensor(bIn);
  const shape = broadcastShapes(broadcastShapes(cond.shape, a.shape, "where"), b.shape, "where");
  const full = (t: Tensor): Tensor => (shapesEqual(t.shape, shape) ? t : expandRaw(t, shape));
  const c = full(cond), af = full(a), bf = full(b);
  const out = Tensor.empty(shape);
  kernels.whereForward(out.size, c.f32, af.f32, bf.f32, out.f32);
  return record(out, [a, b], "where", (g) => {
    const zero = Tensor.zeros(shape);
    const ga = Tensor.empty(shape), gb = Tensor.empty(shape);
    kernels.whereForward(out.size, c.f32, g.f32, zero.f32, ga.f32);
    kernels.whereForward(out.size, c.f32, zero.f32, g.f32, gb.f32);
    return [sumToShape(ga, a.shape), sumToShape(gb, b.shape)];
  });
}

/** Materialises a broadcast (no autograd; layout.expand is the differentiable version). */
export function expandRaw(x: Tensor, shape: Shape): Tensor {
  const target = broadcastShapes(x.shape, shape, "expand");
  if (!shapesEqual(target, shape)) {
    throw new Error(`expand: cannot expand ${formatShape(x.shape)} to ${formatShape(shape)}`);
  }
  const out = Tensor.empty(shape);
  const { shape: dims, strides } = collapseDims(shape, [broadcastStrides(x.shape, shape)]);
  kernels.stridedCopy(dims, x.f32, 0, strides[0], out.f32);
  return out;
}

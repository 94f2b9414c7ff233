/**
 * @file 2-D convolution on channels-last images: x [N, H, W, C], weight [O, C, KH, KW] (PyTorch's
 * layout, so checkpoints load unchanged), bias [O], output [N, OH, OW, O].
 */
import { record } from "../autograd.js";
import { kernels } from "../kernels/index.js";
import type { Conv2dShape } from "../kernels/types.js";
import { formatShape } from "../shape.js";
import { Tensor } from "../tensor.js";

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
}

export function conv2dShape(x: Tensor, weight: Tensor, options: Conv2dOptions = {}): Conv2dShape {
  const stride = options.stride ?? 1, padding = options.padding ?? 0;
  if (x.rank !== 4) throw new Error(`conv2d: input must be [N, H, W, C], got ${formatShape(x.shape)}`);
  if (weight.rank !== 4) throw new Error(`conv2d: weight must be [O, C, KH, KW], got ${formatShape(weight.shape)}`);
  const [N, H, W, C] = x.shape;
  const [O, Cw, KH, KW] = weight.shape;
  if (C !== Cw) {
    throw new Error(`conv2d: input has ${C} channels (last axis of ${formatShape(x.shape)}) but weight ${formatShape(weight.shape)} expects ${Cw}`);
  }
  if (!(Number.isInteger(stride) && stride > 0 && Number.isInteger(padding) && padding >= 0)) {
    throw new Error(`conv2d: stride must be a positive integer and padding a non-negative integer (got ${stride}, ${padding})`);
  }
  const OH = Math.floor((H + 2 * padding - KH) / stride) + 1;
  const OW = Math.floor((W + 2 * padding - KW) / stride) + 1;
  if (OH <= 0 || OW <= 0) throw new Error(`conv2d: a ${KH}x${KW} kernel does not fit a ${H}x${W} input with padding ${padding}`);
  return { N, H, W, C, O, KH, KW, strideH: stride, strideW: stride, padH: padding, padW: padding, OH, OW };
}

export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, options: Conv2dOptions = {}): Tensor {
  const s = conv2dShape(x, weight, options);
  if (bias !== null && (bias.rank !== 1 || bias.shape[0] !== s.O)) {
    throw new Error(`conv2d: bias ${formatShape(bias.shape)} does not match ${s.O} output channels`);
  }
  const out = Tensor.empty([s.N, s.OH, s.OW, s.O]);
  kernels.conv2dForward(s, x.f32, weight.f32, bias === null ? null : bias.f32, out.f32);
  const inputs = bias === null ? [x, weight] : [x, weight, bias];
  return record(out, inputs, "conv2d", (g) => {
    let dx: Tensor | null = null, dw: Tensor | null = null, db: Tensor | null = null;
    if (x.requiresGrad) {
      dx = Tensor.empty(x.shape);
      kernels.conv2dBackwardInput(s, g.f32, weight.f32, dx.f32);
    }
    const wantBias = bias !== null && bias.requiresGrad;
    if (weight.requiresGrad || wantBias) {
      dw = Tensor.empty(weight.shape);
      db = wantBias ? Tensor.empty([s.O]) : null;
      kernels.conv2dBackwardWeight(s, g.f32, x.f32, dw.f32, db === null ? null : db.f32);
      if (!weight.requiresGrad) {
        dw.dispose();
        dw = null;
      }
    }
    return [dx, dw, db];
  });
}

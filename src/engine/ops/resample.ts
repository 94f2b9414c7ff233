/**
 * @file Spatial resampling of channels-last images: nearest-neighbour 2x upsampling (diffusers'
 * Upsample2D) and k x k average pooling.
 */
import { record } from "../autograd.js";
import { kernels } from "../kernels/index.js";
import { formatShape } from "../shape.js";
import { Tensor } from "../tensor.js";

function imageShape(x: Tensor, opName: string): [number, number, number, number] {
  if (x.rank !== 4) throw new Error(`${opName}: expected [N, H, W, C], got ${formatShape(x.shape)}`);
  return x.shape as unknown as [number, number, number, number];
}

export function upsampleNearest2x(x: Tensor): Tensor {
  const [N, H, W, C] = imageShape(x, "upsampleNearest2x");
  const out = Tensor.empty([N, 2 * H, 2 * W, C]);
  kernels.upsampleNearest2xForward(N, H, W, C, x.f32, out.f32);
  return record(out, [x], "upsampleNearest2x", (g) => {
    const dx = Tensor.empty(x.shape);
    kernels.upsampleNearest2xBackward(N, H, W, C, g.f32, dx.f32);
    return [dx];
  });
}

export function avgPool2d(x: Tensor, kernelSize = 2): Tensor {
  const [N, H, W, C] = imageShape(x, "avgPool2d");
  if (!Number.isInteger(kernelSize) || kernelSize <= 0 || H % kernelSize !== 0 || W % kernelSize !== 0) {
    throw new Error(`avgPool2d: a ${kernelSize}x${kernelSize} window does not tile a ${H}x${W} image`);
  }
  const out = Tensor.empty([N, H / kernelSize, W / kernelSize, C]);
  kernels.avgPool2dForward(N, H, W, C, kernelSize, x.f32, out.f32);
  return record(out, [x], "avgPool2d", (g) => {
    const dx = Tensor.empty(x.shape);
    kernels.avgPool2dBackward(N, H, W, C, kernelSize, g.f32, dx.f32);
    return [dx];
  });
}

/**
 * @file The engine's public surface: tensors, autograd scopes, memory ownership and every op.
 */
export { Tensor, needsGrad, type DType } from "./tensor.js";
export { noGrad, isGradEnabled, clearGrad, type GradNode } from "./autograd.js";
export { scope, keep, unkeep, liveBuffers, clearPool, withMetaTensors, isMetaAllocation } from "./memory.js";
export { Generator } from "./rng.js";
export * from "./shape.js";
export { kernels, nativeKernels, nativeLoadError, referenceKernels } from "./kernels/index.js";
export * from "./ops/elementwise.js";
export { sum, mean, max, argmax, variance } from "./ops/reduce.js";
export * from "./ops/layout.js";
export * from "./ops/linalg.js";
export * from "./ops/conv.js";
export * from "./ops/norm.js";
export * from "./ops/attention.js";
export * from "./ops/resample.js";
export * from "./ops/indexing.js";
export * from "./ops/loss.js";

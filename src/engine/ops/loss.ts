/**
 * @file Losses and dropout, composed from differentiable ops.
 */
import type { Generator } from "../rng.js";
import { formatShape, shapesEqual } from "../shape.js";
import { Tensor } from "../tensor.js";
import { oneHot } from "./indexing.js";
import { logSoftmax } from "./norm.js";

/** Mean squared error (torch.nn.functional.mse_loss with reduction "mean"). */
export function mseLoss(prediction: Tensor, target: Tensor): Tensor {
  if (!shapesEqual(prediction.shape, target.shape)) {
    throw new Error(`mseLoss: prediction ${formatShape(prediction.shape)} and target ${formatShape(target.shape)} differ`);
  }
  return prediction.sub(target).square().mean();
}

/** Cross-entropy of logits [N, classes] against int32 labels [N], averaged over N. */
export function crossEntropy(logits: Tensor, labels: Tensor): Tensor {
  if (logits.rank !== 2 || labels.rank !== 1 || labels.shape[0] !== logits.shape[0]) {
    throw new Error(`crossEntropy: expected logits [N, C] and labels [N], got ${formatShape(logits.shape)} and ${formatShape(labels.shape)}`);
  }
  const picked = logSoftmax(logits, -1).mul(oneHot(labels, logits.shape[1]));
  return picked.sum().mul(-1 / logits.shape[0]);
}

/** Inverted dropout: zeroes elements with probability p and scales the rest by 1/(1-p). */
export function dropout(x: Tensor, p: number, generator: Generator, training = true): Tensor {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
  if (!training || p === 0) return x;
  const u = generator.uniform(x.size);
  const scale = 1 / (1 - p);
  for (let i = 0; i < u.length; i++) u[i] = u[i] >= p ? scale : 0;
  return x.mul(Tensor.wrap(u, x.shape));
}

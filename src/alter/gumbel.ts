/**
 * @file Gumbel relaxations of ALTER's binary layer masks and one-hot expert routing
 * (Yang et al., "ALTER: All-in-One Layer Pruning and Temporal Expert Routing for Efficient
 * Diffusion Generation", NeurIPS 2025; official code Xiaomeng-Yang/ALTER, `hypernet.py`).
 *
 * Both relaxations add standard Gumbel noise g = -log(-log u) to the logits, shift them by an
 * offset b and divide by a temperature tau:
 *
 *   gumbelSigmoid:  y = sigmoid((L + g + b) / tau)          (one mask entry per logit)
 *   gumbelSoftmax:  y = softmax((L + g + b) / tau)  over the last axis
 *
 * Gumbel-Sigmoid noise. The textbook binary-concrete relaxation uses *logistic* noise, i.e. the
 * difference of two independent Gumbel draws (g1 - g2, mean 0), so that P(hard = 1) = sigmoid(L + b).
 * The official code draws a *single* Gumbel per entry (mean +0.577, so the effective offset is about
 * b + 0.58 and P(hard = 1) = 1 - exp(-e^(L+b))). We follow the official single draw: with b = 4 it
 * is what makes the freshly initialised hypernetwork keep every layer (spec section 2.5), and the
 * trained logits were calibrated against it.
 *
 * Modes (spec sections 2.3 and 8, "decisions a faithful port must make"):
 *  - "soft": the noisy relaxed sample, differentiable. This is what the official code trains the
 *    hypernetwork with (its train-mode forward has no rounding).
 *  - "straight-through": forward = the hard value of the same noisy sample (1[y >= 0.5] for the
 *    sigmoid, the one-hot argmax for the softmax), backward = the gradient of the soft sample
 *    (y_st = hard + (soft - soft.detach())). This is what the paper describes (ST-GS).
 *  - "hard": the noisy hard sample without gradient. The official code draws the UNet-step mask
 *    table this way (eval mode still adds Gumbel noise, so the table is a random draw).
 *  - "deterministic": no noise at all: 1[L + b >= 0] for the sigmoid, one-hot argmax(L) for the
 *    softmax (the offset shifts every entry equally there). The paper's deterministic eval masks.
 *
 * The hard value of the sigmoid is computed as 1[(L + g + b) >= 0], which is 1[y >= 0.5] up to
 * float rounding exactly at the threshold. The hard value of the softmax is the one-hot of the
 * argmax of the noisy logits (= the argmax of y; ties go to the first index). Noise is drawn from
 * the caller's Generator (required whenever a mode needs noise), one value per logit, in row-major
 * order, so a given seed reproduces the same sample in every noisy mode.
 */
import { noGrad } from "../engine/autograd.js";
import type { Generator } from "../engine/rng.js";
import { formatShape } from "../engine/shape.js";
import { Tensor } from "../engine/tensor.js";
import { softmax } from "../engine/ops/norm.js";

export type Relaxation = "soft" | "straight-through" | "hard" | "deterministic";

export const RELAXATIONS: readonly Relaxation[] = ["soft", "straight-through", "hard", "deterministic"];

export interface GumbelOptions {
  /** Temperature (> 0). ALTER: 0.4 for both the experts and the router. */
  tau: number;
  /** Added to the logits before the temperature. ALTER: 4 for expert masks, 0 for the router. */
  offset: number;
  mode: Relaxation;
  /** The noise source; required unless mode is "deterministic". */
  generator?: Generator;
  /**
   * Multiplies the Gumbel noise (default 1). Annealing it to 0 makes the noisy masks converge to the
   * deterministic ones; the same number of draws is taken at any scale, so the RNG stream is unchanged.
   */
  noiseScale?: number;
}

function checkOptions(o: GumbelOptions, who: string): void {
  if (!RELAXATIONS.includes(o.mode)) {
    throw new Error(`${who}: unknown mode ${JSON.stringify(o.mode)} (expected one of ${RELAXATIONS.join(", ")})`);
  }
  if (!(Number.isFinite(o.tau) && o.tau > 0)) throw new Error(`${who}: tau must be a positive number, got ${o.tau}`);
  if (!Number.isFinite(o.offset)) throw new Error(`${who}: offset must be a finite number, got ${o.offset}`);
  if (o.noiseScale !== undefined && !(Number.isFinite(o.noiseScale) && o.noiseScale >= 0)) throw new Error(`${who}: noiseScale must be a number >= 0, got ${o.noiseScale}`);
  if (o.mode !== "deterministic" && o.generator === undefined) {
    throw new Error(`${who}: mode "${o.mode}" adds Gumbel noise and needs a generator (pass { generator }), or use mode "deterministic"`);
  }
}

function checkLogits(logits: Tensor, who: string, minRank: number): void {
  if (logits.dtype !== "float32") throw new Error(`${who}: logits must be float32, got ${logits.dtype}`);
  if (logits.rank < minRank) throw new Error(`${who}: logits must have at least ${minRank} axis, got ${formatShape(logits.shape)}`);
}

/** (L + g + offset) as a plain array (no autograd): the noisy pre-activation that decides hard values. */
function noisyPreactivation(logits: Tensor, noise: Float32Array | null, offset: number): Float32Array {
  const l = logits.f32;
  const out = new Float32Array(l.length);
  for (let i = 0; i < l.length; i++) out[i] = l[i] + (noise === null ? 0 : noise[i]) + offset;
  return out;
}

/** One-hot of the first maximum of each row of the last axis. */
function oneHotArgmax(values: Float32Array, shape: readonly number[]): Tensor {
  const K = shape[shape.length - 1];
  const out = new Float32Array(values.length);
  for (let r = 0; r < values.length / K; r++) {
    let best = 0;
    for (let k = 1; k < K; k++) if (values[r * K + k] > values[r * K + best]) best = k;
    out[r * K + best] = 1;
  }
  return Tensor.wrap(out, shape);
}

function binarize(values: Float32Array, shape: readonly number[]): Tensor {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i] >= 0 ? 1 : 0;
  return Tensor.wrap(out, shape);
}

/** hard + (soft - soft.detach()): forward value exactly `hard`, gradient that of `soft`. */
function straightThrough(soft: Tensor, hard: Tensor): Tensor {
  return soft.sub(soft.detach()).add(hard);
}

function relax(logits: Tensor, o: GumbelOptions, who: string, kind: "sigmoid" | "softmax"): Tensor {
  checkOptions(o, who);
  checkLogits(logits, who, kind === "softmax" ? 1 : 0);
  if (kind === "softmax" && logits.shape[logits.rank - 1] === 0) throw new Error(`${who}: the last axis is empty`);
  const hardOf = (pre: Float32Array): Tensor => (kind === "sigmoid" ? binarize(pre, logits.shape) : oneHotArgmax(pre, logits.shape));

  if (o.mode === "deterministic") {
    // Softmax: the offset is the same for every class, so argmax(L + b) = argmax(L).
    return noGrad(() => hardOf(noisyPreactivation(logits, null, kind === "sigmoid" ? o.offset : 0)));
  }
  const noise = o.generator!.gumbel(logits.size);
  const scale = o.noiseScale ?? 1;
  if (scale !== 1) for (let i = 0; i < noise.length; i++) noise[i] *= scale;
  const pre = noisyPreactivation(logits, noise, o.offset);
  if (o.mode === "hard") return noGrad(() => hardOf(pre));

  const z = logits.add(Tensor.wrap(noise, logits.shape)).add(o.offset).mul(1 / o.tau);
  const soft = kind === "sigmoid" ? z.sigmoid() : softmax(z, -1);
  if (o.mode === "soft") return soft;
  return straightThrough(soft, hardOf(pre));
}

/**
 * Gumbel-Sigmoid relaxation of independent binary masks (one per logit, any shape).
 * See the file comment for the modes; "soft" and "straight-through" are differentiable.
 */
export function gumbelSigmoid(logits: Tensor, o: GumbelOptions): Tensor {
  return relax(logits, o, "gumbelSigmoid", "sigmoid");
}

/**
 * Gumbel-Softmax relaxation of a one-hot choice over the last axis of `logits` [..., K].
 * See the file comment for the modes; "soft" and "straight-through" are differentiable.
 */
export function gumbelSoftmax(logits: Tensor, o: GumbelOptions): Tensor {
  return relax(logits, o, "gumbelSoftmax", "softmax");
}

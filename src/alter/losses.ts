/**
 * @file ALTER's training losses (Yang et al., NeurIPS 2025; official `sd_prune.py`, `sd_step.py`,
 * `utils/loss_utils.py`; spec section 3) and the conversion between the user-facing MAC budget and
 * the fraction of prunable MACs the ratio loss targets.
 *
 *  - ratioLoss: log(max(S, p) / min(S, p)) with S the cost-weighted fraction of *prunable* MACs kept,
 *    averaged uniformly over every row of the mask table (the code's K / K*, where the total-UNet
 *    normaliser cancels).
 *  - balanceLoss: Switch-style N_e * sum_i F_i P_i over the T timesteps (not over the batch, as in
 *    the code), F from the argmax of the noisy routing sample (constant), P from the raw logits.
 *  - outputDistillation / featureDistillation / denoisingLoss: plain MSEs, teacher detached. The
 *    feature loss averages the per-block MSEs (the code's (1/9) sum_k over the 9 UNet blocks);
 *    an optional per-term normalisation is ours, off by default (the code has none). Optional
 *    per-sample weights (distillationWeights, ours) weigh each sample's error by its timestep.
 *  - budgetConversion: the CLI's `--ratio p` is a fraction of the WHOLE UNet's per-step MACs (what
 *    the paper reports); the official `--pruning_ratio` knob is a fraction of prunable MACs. We keep
 *    the loss in the code's units and convert (spec section 8: knob 0.45 ~ 0.54 of total MACs).
 */
import { formatShape, shapesEqual } from "../engine/shape.js";
import { Tensor } from "../engine/tensor.js";
import { mseLoss } from "../engine/ops/loss.js";
import { softmax } from "../engine/ops/norm.js";

/** The smallest kept fraction the ratio loss takes the log of (the code's `+ 1e-8`). */
const MIN_KEPT = 1e-8;

export interface RatioLossResult {
  loss: Tensor;
  /** S as a number: the cost-weighted fraction of prunable MACs kept by the table. */
  keptFraction: number;
}

/**
 * Sparsity loss. table [T, N_L] (any number of rows; every row weighs the same), costs [N_L] the
 * MACs of each prunable layer, target p in (0, 1] a fraction of prunable MACs.
 *
 * S = sum_l c_l * mean_t table[t, l] / sum_l c_l, loss = log(max(S, p) / min(S, p)).
 * Since log(max/min) = log max - log min = |log S - log p|, we compute the latter: the same value,
 * and autograd handles it with ordinary ops. It is differentiable everywhere except at S = p, where
 * the loss has its minimum 0 (abs's subgradient there is 0). S is clamped at 1e-8 before the log so
 * an all-zero table gives a large finite loss, as the code's `min + 1e-8` does.
 */
export function ratioLoss(table: Tensor, costs: Float32Array | ArrayLike<number>, target: number): RatioLossResult {
  if (table.rank !== 2) throw new Error(`ratioLoss: table must be [T, N_L], got ${formatShape(table.shape)}`);
  const L = table.shape[1];
  if (costs.length !== L) throw new Error(`ratioLoss: ${costs.length} layer costs for a table of ${L} layers`);
  if (!(target > 0 && target <= 1)) throw new Error(`ratioLoss: target p must be in (0, 1], got ${target}`);
  let total = 0;
  for (let l = 0; l < L; l++) {
    if (!(Number.isFinite(costs[l]) && costs[l] >= 0)) throw new Error(`ratioLoss: cost of layer ${l} is ${costs[l]} (must be finite and >= 0)`);
    total += costs[l];
  }
  if (!(total > 0)) throw new Error("ratioLoss: the layer costs sum to 0");
  const weights = new Float32Array(L);
  for (let l = 0; l < L; l++) weights[l] = costs[l] / total; // normalised in float64, then stored
  const kept = table.mean(0).mul(Tensor.wrap(weights, [L])).sum();
  const loss = kept.clamp(MIN_KEPT, Number.MAX_VALUE).log().sub(Math.log(target)).abs();
  return { loss, keptFraction: kept.item() };
}

/**
 * Router load-balancing loss (Switch Transformer style, over timesteps).
 * P_i = mean_t softmax(logits[t])_i (differentiable), F_i = mean_t 1[argmax_e sample[t, e] = i]
 * (a constant), loss = N_e * sum_i F_i P_i. Exactly uniform routing (F = P = 1/N_e) gives 1; when
 * F tracks P the loss is N_e * sum_i P_i^2 >= 1 (Cauchy-Schwarz), so 1 is the balanced optimum.
 */
export function balanceLoss(routingLogits: Tensor, routingSample: Tensor): Tensor {
  if (routingLogits.rank !== 2) throw new Error(`balanceLoss: routing logits must be [T, N_e], got ${formatShape(routingLogits.shape)}`);
  if (!shapesEqual(routingLogits.shape, routingSample.shape)) {
    throw new Error(`balanceLoss: logits ${formatShape(routingLogits.shape)} and sample ${formatShape(routingSample.shape)} differ`);
  }
  const [T, E] = routingLogits.shape;
  if (T < 1 || E < 1) throw new Error(`balanceLoss: empty routing ${formatShape(routingLogits.shape)}`);
  const s = routingSample.f32;
  const fractions = new Float32Array(E);
  for (let t = 0; t < T; t++) {
    let best = 0;
    for (let e = 1; e < E; e++) if (s[t * E + e] > s[t * E + best]) best = e;
    fractions[best] += 1;
  }
  for (let e = 0; e < E; e++) fractions[e] /= T;
  const P = softmax(routingLogits, -1).mean(0);
  return P.mul(Tensor.wrap(fractions, [E])).sum().mul(E);
}

export const DISTILL_WEIGHTINGS = ["uniform", "noise-variance"] as const;
export type DistillWeighting = (typeof DISTILL_WEIGHTINGS)[number];

/**
 * Weights of the distillation terms per training timestep, with mean 1 over the T timesteps (so the
 * loss keeps its scale); null for `uniform` (the paper: every sample counts the same).
 * `noise-variance`: w_t proportional to 1 - alpha_bar_t, the variance of the noise in x_t. Measured
 * on our teacher (scripts/step-sensitivity.ts, docs/alter.md section 4), a unit of noise-prediction
 * error moves the final 20-step sample 0.02-0.04 at t < 200 and 0.5-0.8 at t > 550, while the errors
 * themselves are 10-100 times larger at low t, so a plain MSE spends the model's effort where it
 * matters least. 1 - alpha_bar_t rises 10-fold over that range (the sensitivity about 35-fold): a
 * partial, schedule-only correction in the measured direction.
 */
export function distillationWeights(weighting: DistillWeighting, alphasCumprod: Float64Array): Float32Array | null {
  if (weighting === "uniform") return null;
  const raw = Array.from(alphasCumprod, (a) => 1 - a);
  const mean = raw.reduce((x, y) => x + y, 0) / raw.length;
  if (!(mean > 0)) throw new Error("distillationWeights: the schedule adds no noise (alpha_bar = 1 everywhere)");
  return Float32Array.from(raw, (v) => v / mean);
}

/** mean_b w_b * mean_i (a_bi - b_bi)^2 (plain MSE without weights), b detached. */
function weightedMse(a: Tensor, b: Tensor, sampleWeights: Float32Array | undefined): Tensor {
  if (sampleWeights === undefined) return mseLoss(a, b.detach());
  if (!shapesEqual(a.shape, b.shape)) throw new Error(`weightedMse: ${formatShape(a.shape)} and ${formatShape(b.shape)} differ`);
  const B = a.shape[0];
  if (sampleWeights.length !== B) throw new Error(`weightedMse: ${sampleWeights.length} sample weights for a batch of ${B}`);
  const diff = a.sub(b.detach());
  const perSample = Tensor.wrap(sampleWeights, [B, ...new Array<number>(a.rank - 1).fill(1)]);
  return diff.mul(diff).mul(perSample).mean();
}

/** Output knowledge distillation: MSE(student, teacher) over all elements, teacher detached. */
export function outputDistillation(student: Tensor, teacher: Tensor, sampleWeights?: Float32Array): Tensor {
  return weightedMse(student, teacher, sampleWeights);
}

/**
 * Feature knowledge distillation: (1/K) sum_k MSE(f_S^k, f_T^k), teacher detached (the code's
 * hooks on the 9 UNet block outputs). With `normalize`, each term is divided by the constant
 * mean(f_T^k ^ 2) + 1e-8 (a relative error, so blocks with large activations do not dominate);
 * this is our option, not the code's, and it is off by default.
 */
export function featureDistillation(studentFeatures: Tensor[], teacherFeatures: Tensor[], normalize = false, sampleWeights?: Float32Array): Tensor {
  if (studentFeatures.length !== teacherFeatures.length) {
    throw new Error(`featureDistillation: ${studentFeatures.length} student features but ${teacherFeatures.length} teacher features`);
  }
  if (studentFeatures.length === 0) throw new Error("featureDistillation: no features given");
  let total: Tensor | null = null;
  for (let k = 0; k < studentFeatures.length; k++) {
    const fs = studentFeatures[k], ft = teacherFeatures[k];
    if (!shapesEqual(fs.shape, ft.shape)) {
      throw new Error(`featureDistillation: feature ${k}: student ${formatShape(fs.shape)} and teacher ${formatShape(ft.shape)} differ`);
    }
    let term = weightedMse(fs, ft, sampleWeights);
    if (normalize) {
      const t = ft.f32;
      let power = 0;
      for (let i = 0; i < t.length; i++) power += t[i] * t[i];
      term = term.mul(1 / (power / Math.max(t.length, 1) + 1e-8));
    }
    total = total === null ? term : total.add(term);
  }
  return total!.mul(1 / studentFeatures.length);
}

/** Denoising loss: MSE(prediction, target), target = epsilon or v (not detached; it is data). */
export function denoisingLoss(prediction: Tensor, target: Tensor): Tensor {
  return mseLoss(prediction, target);
}

const BUDGET_SLACK = 1e-9;

function checkShare(prunableShare: number, who: string): void {
  if (!(prunableShare > 0 && prunableShare <= 1)) {
    throw new Error(`${who}: the prunable share of MACs must be in (0, 1], got ${prunableShare}`);
  }
}

/**
 * Converts a budget over the whole UNet's per-step MACs (the user's `--ratio p`) into the
 * fraction of prunable MACs to keep: p_prunable = (p_total - (1 - share)) / share, share =
 * prunable MACs / total MACs. Throws when p_total is below 1 - share (even pruning every prunable
 * layer keeps more than that) or above 1.
 */
export function budgetConversion(pTotal: number, prunableShare: number): number {
  checkShare(prunableShare, "budgetConversion");
  const floor = 1 - prunableShare;
  if (!Number.isFinite(pTotal) || pTotal > 1 + BUDGET_SLACK) {
    throw new Error(`budgetConversion: the MAC budget must be a fraction of the full model in (0, 1], got ${pTotal}`);
  }
  if (pTotal < floor - BUDGET_SLACK) {
    throw new Error(
      `budgetConversion: a budget of ${pTotal} of the full model's MACs is infeasible: the layers that cannot be ` +
        `pruned already cost ${floor.toFixed(4)} of them (prunable share ${prunableShare.toFixed(4)}), ` +
        `so even pruning every prunable layer keeps more. Use a budget >= ${floor.toFixed(4)}.`,
    );
  }
  return Math.min(1, Math.max(0, (pTotal - floor) / prunableShare));
}

/** The inverse: p_total = (1 - share) + share * p_prunable. */
export function inverseBudgetConversion(pPrunable: number, prunableShare: number): number {
  checkShare(prunableShare, "inverseBudgetConversion");
  if (!(pPrunable >= 0 && pPrunable <= 1)) {
    throw new Error(`inverseBudgetConversion: the prunable fraction must be in [0, 1], got ${pPrunable}`);
  }
  return 1 - prunableShare + prunableShare * pPrunable;
}

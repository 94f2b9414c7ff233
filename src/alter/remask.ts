/**
 * @file Re-choosing the expert masks by measured error when the plan freezes (ours; not in the paper).
 *
 * The hypernetwork learns its masks while the UNet adapts to them, and on our teacher it ends up
 * dropping, at some timesteps, layers whose single drop costs far more than layers it keeps
 * (scripts/mask-probe.ts: on the teacher's weights a mask chosen by measured error errs 2-20 times
 * less at no more MACs; docs/alter.md section 7). Remasking keeps the router and each expert's MAC
 * budget and re-chooses only which layers each expert keeps:
 *  1. for every expert the router uses, a few of its timesteps (evenly spread over the ones it
 *     serves) and a batch of training images noised there;
 *  2. each prunable layer's single-drop error increase on the student being fine-tuned: the output
 *     error against the teacher with that one layer skipped, minus the error with none skipped,
 *     averaged over those timesteps;
 *  3. a greedy knapsack: drop layers in ascending order of increase per MAC until the mask keeps no
 *     more prunable MACs than the expert's old mask, then restore the most costly drops that still fit.
 * Single drops ignore how drops interact, so the old and new masks' joint errors are measured too
 * and reported: the new mask is a measured choice, not a guaranteed better one.
 */
import { Generator, Tensor, noGrad, scope } from "../engine/index.js";
import type { ClassEmbedder } from "../models/embeddings.js";
import type { Dataset } from "../data/fashion-mnist.js";
import type { UNet2DConditionModel } from "../models/unet-2d-condition.js";
import type { Scheduler } from "../diffusion/scheduler.js";
import { meanSquare } from "./calibrate.js";
import { SkippingExecutor } from "./masked.js";
import { withRealisedRatios, type AlterPlan } from "./plan.js";

/**
 * The mask over layers (1 = keep) that keeps at most `budget` MACs and drops, by the greedy rule
 * above, the layers whose measured `increase` per MAC is smallest. Ties go to the earlier layer.
 */
export function greedyMask(increase: ArrayLike<number>, macs: ArrayLike<number>, budget: number): number[] {
  const L = macs.length;
  if (increase.length !== L) throw new Error(`greedyMask: ${increase.length} error increases for ${L} layers`);
  const mask = new Array<number>(L).fill(1);
  let kept = 0;
  for (let l = 0; l < L; l++) kept += macs[l];
  const byCostPerMac = Array.from({ length: L }, (_, l) => l).sort((a, b) => increase[a] / macs[a] - increase[b] / macs[b] || a - b);
  const dropped: number[] = [];
  for (const l of byCostPerMac) {
    if (kept <= budget) break;
    mask[l] = 0;
    kept -= macs[l];
    dropped.push(l);
  }
  // The last drop may have overshot: give back the drops that hurt most and still fit.
  for (const l of [...dropped].sort((a, b) => increase[b] - increase[a] || a - b)) {
    if (kept + macs[l] <= budget) {
      mask[l] = 1;
      kept += macs[l];
    }
  }
  return mask;
}

/** Up to `count` of `timesteps` (ascending), evenly spread: the midpoints of `count` equal shares. */
export function spreadTimesteps(timesteps: readonly number[], count: number): number[] {
  const n = timesteps.length;
  if (n <= count) return [...timesteps];
  return Array.from({ length: count }, (_, k) => timesteps[Math.floor(((k + 0.5) * n) / count)]);
}

export interface ExpertRemask {
  expert: number;
  /** The measured timesteps (a spread of the ones the router gives this expert). */
  timesteps: number[];
  /** The fraction of all training timesteps the router gives it. */
  share: number;
  /** Mean output error against the teacher with the old and the new mask, over those timesteps. */
  errorBefore: number;
  errorAfter: number;
  /** Mask entries that changed. */
  switched: number;
}

export interface Remask {
  plan: AlterPlan;
  experts: ExpertRemask[];
}

export function remaskByDropError(options: {
  teacher: UNet2DConditionModel;
  /** The model whose masks are chosen (alter prune: the student at T_end). */
  student: UNet2DConditionModel;
  embedder: ClassEmbedder;
  scheduler: Scheduler;
  plan: AlterPlan;
  /** Training images: the first `count` of them are used. */
  data: Dataset;
  count: number;
  /** Timesteps measured per expert. */
  perExpert: number;
  seed: number;
}): Remask {
  const { teacher, student, plan, data } = options;
  const L = plan.layers.length, macs = plan.layers.map((l) => l.macs);
  const index = new Map(plan.layers.map((l, i) => [l.name, i]));
  const B = Math.min(options.count, data.count);
  const gen = new Generator(options.seed);
  const experts = plan.experts.map((m) => [...m]);
  const report: ExpertRemask[] = [];
  scope(() => noGrad(() => {
    const images = Tensor.from(data.images.subarray(0, B * data.height * data.width * data.channels), [B, data.height, data.width, data.channels]);
    const context = options.embedder.forward(Tensor.int32(data.labels.subarray(0, B)));
    const error = (noisy: Tensor, batchT: number[], target: Tensor, mask: ArrayLike<number>): number =>
      scope(() => meanSquare(student.forward(noisy, batchT, context, { executor: new SkippingExecutor(index, mask) }), target));
    for (let e = 0; e < experts.length; e++) {
      const served = plan.router.flatMap((r, t) => (r === e ? [t] : []));
      if (served.length === 0) continue;
      const timesteps = spreadTimesteps(served, options.perExpert);
      scope(() => {
        /** Each measured timestep's noised inputs and the teacher's output there (freed with this expert's scope). */
        const points = timesteps.map((t) =>
          scope(() => {
            const batchT = new Array<number>(B).fill(t);
            const noisy = options.scheduler.addNoise(images, Tensor.randn(images.shape, gen), Int32Array.from(batchT));
            return { batchT, noisy, target: teacher.forward(noisy, batchT, context) };
          }),
        );
        const increase = new Array<number>(L).fill(0);
        let before = 0;
        for (const { batchT, noisy, target } of points) {
          const dense = error(noisy, batchT, target, new Array<number>(L).fill(1));
          for (let l = 0; l < L; l++) {
            const single = Array.from({ length: L }, (_, k) => (k === l ? 0 : 1));
            increase[l] += (error(noisy, batchT, target, single) - dense) / points.length;
          }
          before += error(noisy, batchT, target, experts[e]) / points.length;
        }
        const budget = experts[e].reduce((s, kept, l) => s + kept * macs[l], 0);
        const mask = greedyMask(increase, macs, budget);
        const after = points.reduce((s, { batchT, noisy, target }) => s + error(noisy, batchT, target, mask) / points.length, 0);
        report.push({ expert: e, timesteps, share: served.length / plan.router.length, errorBefore: before, errorAfter: after, switched: mask.filter((v, l) => v !== experts[e][l]).length });
        experts[e] = mask;
      });
    }
  }));
  const { realised_ratio: _r, realised_prunable_ratio: _p, ...rest } = plan;
  return { plan: withRealisedRatios({ ...rest, experts }), experts: report };
}

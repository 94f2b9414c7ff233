/**
 * @file Router calibration, an addition to the paper: re-routes a trained plan by measured error.
 *
 * The learned router fragments on our teacher (docs/alter.md section 6): neighbouring timesteps go
 * to different experts, and an expert trained mostly on one range of timesteps also serves lone
 * timesteps elsewhere, where it is several times worse than its neighbour's expert. Calibration
 * keeps the expert masks and the fine-tuned weights and only re-chooses the router:
 *  1. measure, on a grid of timesteps and a batch of training images, every expert's output error
 *     against the teacher (the output-distillation MSE, the loss the fine-tuning minimised);
 *  2. give every timestep the expert of its nearest grid point that minimises error + λ · MACs, with
 *     the smallest λ that keeps the plan's average MACs within the budget (a Lagrangian relaxation
 *     of the budgeted assignment: each λ gives the best plan for its own MAC total).
 * `relative` divides each grid point's errors by the teacher's own error against the true noise
 * there (its own distance from the training target), so that low-noise timesteps (large errors) do not outweigh high-noise ones.
 */
import { Generator, Tensor, noGrad, scope } from "../engine/index.js";
import type { ClassEmbedder } from "../models/embeddings.js";
import type { Dataset } from "../data/fashion-mnist.js";
import type { UNet2DConditionModel } from "../models/unet-2d-condition.js";
import type { PredictionType, Scheduler } from "../diffusion/scheduler.js";
import { expertExecutors } from "./inference.js";
import { keptFractions, withRealisedRatios, type AlterPlan } from "./plan.js";

export const CALIBRATION_OBJECTIVES = ["absolute", "relative"] as const;
export type CalibrationObjective = (typeof CALIBRATION_OBJECTIVES)[number];

export interface ExpertErrors {
  /** The measured timesteps, ascending. */
  grid: number[];
  /** error[g][e]: mean squared difference between expert e's and the teacher's output at grid[g]. */
  error: number[][];
  /** The teacher's mean squared error against its training target (the true noise, or v) at grid[g]. */
  teacherError: number[];
}

/** grid points every `step` timesteps, each in the middle of the `step` timesteps it stands for. */
export function calibrationGrid(T: number, step: number): number[] {
  if (!Number.isInteger(step) || step < 1 || step > T) throw new Error(`grid step ${step} must be an integer in [1, ${T}]`);
  return Array.from({ length: Math.ceil(T / step) }, (_, k) => Math.min(T - 1, k * step + Math.floor(step / 2)));
}

/** Mean squared difference of two same-sized tensors, as a number. */
export const meanSquare = (a: Tensor, b: Tensor): number => {
  let s = 0;
  for (let i = 0; i < a.size; i++) s += (a.f32[i] - b.f32[i]) ** 2;
  return s / a.size;
};

export function measureExpertErrors(options: {
  teacher: UNet2DConditionModel;
  student: UNet2DConditionModel;
  /** The class embedder both use (alter prune keeps the teacher's, frozen). */
  embedder: ClassEmbedder;
  scheduler: Scheduler;
  /** What the models predict (the teacher's error is taken against that target). */
  prediction: PredictionType;
  plan: AlterPlan;
  /** Training images: the first `count` of them are used. */
  data: Dataset;
  count: number;
  grid: number[];
  seed: number;
  onPoint?: () => void;
}): ExpertErrors {
  const { teacher, student, plan, data } = options;
  const B = Math.min(options.count, data.count);
  const images = Tensor.from(data.images.subarray(0, B * data.height * data.width * data.channels), [B, data.height, data.width, data.channels]);
  const context = noGrad(() => options.embedder.forward(Tensor.int32(data.labels.subarray(0, B))));
  const experts = expertExecutors(plan);
  const error: number[][] = [], teacherError: number[] = [];
  const gen = new Generator(options.seed);
  for (const t of options.grid) {
    scope(() =>
      noGrad(() => {
        const noise = Tensor.randn(images.shape, gen);
        const timesteps = new Array<number>(B).fill(t), t32 = Int32Array.from(timesteps);
        const noisy = options.scheduler.addNoise(images, noise, t32);
        const target = teacher.forward(noisy, timesteps, context);
        const truth = options.prediction === "v_prediction" ? options.scheduler.getVelocity(images, noise, t32) : options.prediction === "sample" ? images : noise;
        teacherError.push(meanSquare(target, truth));
        error.push(experts.map((executor) => meanSquare(student.forward(noisy, timesteps, context, { executor }), target)));
      }),
    );
    options.onPoint?.();
  }
  return { grid: [...options.grid], error, teacherError };
}

export interface Calibration {
  plan: AlterPlan;
  lambda: number;
  /** The objective summed over the grid with the old and the new router. */
  objectiveBefore: number;
  objectiveAfter: number;
}

/**
 * The router minimising the summed error within `budget` (average kept fraction of the whole UNet's
 * MACs over all training timesteps); throws when even the cheapest expert everywhere exceeds it.
 */
export function calibrateRouter(plan: AlterPlan, errors: ExpertErrors, objective: CalibrationObjective, budget = plan.realised_ratio): Calibration {
  const T = plan.router.length;
  const kept = plan.experts.map((keep) => keptFractions(keep, plan.layers, plan.total_macs).total);
  const cost = errors.error.map((row, g) => row.map((v) => (objective === "relative" ? v / errors.teacherError[g] : v)));
  // Each timestep takes its nearest grid point (ties to the earlier one).
  const point = Int32Array.from({ length: T }, (_, t) => {
    let best = 0;
    errors.grid.forEach((g, k) => { if (Math.abs(g - t) < Math.abs(errors.grid[best] - t)) best = k; });
    return best;
  });
  const route = (lambda: number): Int32Array => {
    const choice = cost.map((row) => row.reduce((best, v, e) => (v + lambda * kept[e] < row[best] + lambda * kept[best] ? e : best), 0));
    return Int32Array.from(point, (k) => choice[k]);
  };
  const meanKept = (router: Int32Array): number => router.reduce((s, e) => s + kept[e], 0) / T;
  const cheapest = Math.min(...kept);
  if (cheapest > budget + 1e-12) throw new Error(`budget ${budget.toFixed(4)} is below the cheapest expert's ${cheapest.toFixed(4)} of the MACs; give a budget of at least ${cheapest.toFixed(4)}`);
  let lo = 0, hi = 0;
  if (meanKept(route(0)) > budget) {
    hi = 1e-12;
    while (meanKept(route(hi)) > budget) hi *= 2;
    for (let i = 0; i < 100; i++) {
      const mid = (lo + hi) / 2;
      if (meanKept(route(mid)) > budget) lo = mid;
      else hi = mid;
    }
  }
  const router = route(hi);
  const summed = (r: ArrayLike<number>): number => errors.grid.reduce((s, t, k) => s + cost[k][r[t]], 0);
  const { realised_ratio: _r, realised_prunable_ratio: _p, ...rest } = plan;
  return { plan: withRealisedRatios({ ...rest, router: Array.from(router) }), lambda: hi, objectiveBefore: summed(plan.router), objectiveAfter: summed(router) };
}

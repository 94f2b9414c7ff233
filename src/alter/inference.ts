/**
 * @file Running an ALTER model: the plan's mask at the sampler's actual integer timestep selects the
 * expert, and the SkippingExecutor really skips that expert's pruned layers. Also the realised MACs
 * of a sampling run (sum over the steps taken of the kept layers plus the never-pruned parts).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { LayerExecutor } from "../models/layer-executor.js";
import type { UNet2DConditionModel } from "../models/unet-2d-condition.js";
import { prunableLayers } from "./layers.js";
import { SkippingExecutor } from "./masked.js";
import { checkPlanMatchesModel, keptFractions, maskAt, PLAN_FILE, readPlan, type AlterPlan } from "./plan.js";

/** Reads `alter_plan.json` from a model folder if there is one, checked against the model. */
export function loadPlanFor(modelDir: string, unet: UNet2DConditionModel): AlterPlan | null {
  const path = join(modelDir, PLAN_FILE);
  if (!existsSync(path)) return null;
  const plan = readPlan(path);
  const contextLength = Number(plan.settings.context_length ?? 77);
  const size = Number(plan.settings.resolution ?? unet.config.sample_size);
  checkPlanMatchesModel(plan, prunableLayers(unet, unet.countMacs(size, size, contextLength)), path);
  return plan;
}

/** One SkippingExecutor per expert of the plan, in expert order. */
export function expertExecutors(plan: AlterPlan): SkippingExecutor[] {
  const index = new Map(plan.layers.map((l, i) => [l.name, i]));
  return plan.experts.map((mask) => new SkippingExecutor(index, mask));
}

/** A per-timestep executor factory for the sampling pipeline (the routed expert's executor). */
export function planExecutors(plan: AlterPlan): (timestep: number) => LayerExecutor {
  const executors = expertExecutors(plan);
  return (t) => executors[plan.router[Math.round(t)]] ?? new SkippingExecutor(executors[0].index, maskAt(plan, t));
}

/** MACs of one UNet evaluation at each given timestep under the plan, and their sum. */
export function realisedMacs(plan: AlterPlan, timesteps: ArrayLike<number>): { perStep: number[]; total: number } {
  const perStep = Array.from(timesteps, (t) => keptFractions(maskAt(plan, t), plan.layers, plan.total_macs).total * plan.total_macs);
  return { perStep, total: perStep.reduce((a, b) => a + b, 0) };
}


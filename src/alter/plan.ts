/**
 * @file `alter_plan.json`: what ALTER leaves next to the fine-tuned weights, everything inference
 * needs without the hypernetwork: the prunable layers (names, MACs), the expert masks
 * [N_e x N_L], the router (the expert of every training timestep), the target and realised budgets
 * and the settings of the run. Validated on load: a malformed plan, or a plan made for another
 * model, is refused with a message naming the file and the problem.
 */
import { existsSync, readFileSync } from "node:fs";
import { writeJsonAtomic } from "../util/atomic.js";
import type { PrunableLayer } from "./layers.js";

export const PLAN_FILE = "alter_plan.json";
export const PLAN_VERSION = 1;

export interface PlanLayer {
  name: string;
  kind: "resnet" | "transformer";
  macs: number;
}

export interface AlterPlan {
  format: "alter-plan";
  version: number;
  num_train_timesteps: number;
  layers: PlanLayer[];
  /** MACs of one full UNet evaluation (same resolution and context as the layer MACs). */
  total_macs: number;
  /** experts[e][l] in {0, 1}: does expert e keep layer l. */
  experts: number[][];
  /** router[t]: the expert used at training timestep t. */
  router: number[];
  /** Requested fraction of the whole UNet's per-step MACs, and the same as a fraction of the prunable MACs. */
  target_ratio: number;
  target_prunable_ratio: number;
  /** Realised fractions, averaged uniformly over all training timesteps. */
  realised_ratio: number;
  realised_prunable_ratio: number;
  settings: Record<string, unknown>;
}

export class PlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PlanError";
  }
}

/** Kept fraction of prunable and of total MACs for one mask over the layers. */
export function keptFractions(keep: ArrayLike<number>, layers: readonly PlanLayer[], totalMacs: number): { prunable: number; total: number } {
  let kept = 0, prunable = 0;
  layers.forEach((l, i) => {
    prunable += l.macs;
    kept += keep[i] * l.macs;
  });
  return { prunable: prunable > 0 ? kept / prunable : 1, total: (totalMacs - prunable + kept) / totalMacs };
}

/** Fills in the realised ratios of a plan (uniform average over all training timesteps). */
export function withRealisedRatios(plan: Omit<AlterPlan, "realised_ratio" | "realised_prunable_ratio">): AlterPlan {
  let total = 0, prunable = 0;
  for (const e of plan.router) {
    const f = keptFractions(plan.experts[e], plan.layers, plan.total_macs);
    total += f.total;
    prunable += f.prunable;
  }
  const T = plan.router.length;
  return { ...plan, realised_ratio: total / T, realised_prunable_ratio: prunable / T };
}

/** A damaged plan cannot be repaired by hand reliably: the fix is a new one, or dense sampling. */
const PLAN_FIX = "re-run alter prune to write a new plan, or sample with --dense to ignore it";

function fail(source: string, problem: string): never {
  throw new PlanError(`${source}: ${problem}${problem.includes("re-run") ? "" : `; ${PLAN_FIX}`}`);
}

/** Checks every field of a parsed plan. */
export function validatePlan(raw: unknown, source = PLAN_FILE): AlterPlan {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) fail(source, "not a JSON object; expected an alter plan written by `alter prune`");
  const p = raw as Record<string, unknown>;
  if (p.format !== "alter-plan") fail(source, `"format" is ${JSON.stringify(p.format)}, not "alter-plan"`);
  if (p.version !== PLAN_VERSION) fail(source, `plan version ${JSON.stringify(p.version)} is not supported (this alter reads version ${PLAN_VERSION}); re-run alter prune`);
  const T = p.num_train_timesteps;
  if (typeof T !== "number" || !Number.isInteger(T) || T < 1) fail(source, `"num_train_timesteps" must be a positive integer`);
  if (!Array.isArray(p.layers) || p.layers.length === 0) fail(source, `"layers" must be a non-empty list`);
  p.layers.forEach((l: unknown, i: number) => {
    const layer = l as Record<string, unknown>;
    if (typeof layer?.name !== "string" || (layer.kind !== "resnet" && layer.kind !== "transformer") || typeof layer.macs !== "number" || !(layer.macs > 0)) {
      fail(source, `layer ${i} must be {name: string, kind: "resnet" | "transformer", macs: positive number}`);
    }
  });
  const NL = p.layers.length;
  if (typeof p.total_macs !== "number" || !(p.total_macs > 0)) fail(source, `"total_macs" must be a positive number`);
  if (!Array.isArray(p.experts) || p.experts.length === 0) fail(source, `"experts" must be a non-empty list of masks`);
  p.experts.forEach((mask: unknown, e: number) => {
    if (!Array.isArray(mask) || mask.length !== NL) fail(source, `expert ${e} has ${Array.isArray(mask) ? mask.length : "no"} mask entries but the plan has ${NL} layers`);
    mask.forEach((v: unknown, l: number) => {
      if (v !== 0 && v !== 1) fail(source, `expert ${e}, layer ${l}: mask value ${JSON.stringify(v)} is not 0 or 1`);
    });
  });
  const Ne = p.experts.length;
  if (!Array.isArray(p.router) || p.router.length !== T) fail(source, `"router" must list one expert per training timestep (${T}), got ${Array.isArray(p.router) ? p.router.length : "none"}`);
  p.router.forEach((e: unknown, t: number) => {
    if (typeof e !== "number" || !Number.isInteger(e) || e < 0 || e >= Ne) fail(source, `router entry for timestep ${t} is ${JSON.stringify(e)}, not an expert id in [0, ${Ne})`);
  });
  for (const key of ["target_ratio", "target_prunable_ratio", "realised_ratio", "realised_prunable_ratio"]) {
    const v = p[key];
    if (typeof v !== "number" || !(v >= 0 && v <= 1)) fail(source, `"${key}" must be a number in [0, 1]`);
  }
  if (p.settings === null || typeof p.settings !== "object" || Array.isArray(p.settings)) fail(source, `"settings" must be an object`);
  return p as unknown as AlterPlan;
}

export function readPlan(path: string): AlterPlan {
  if (!existsSync(path)) fail(path, "plan file not found");
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    fail(path, `not valid JSON (${(err as Error).message})`);
  }
  return validatePlan(raw, path);
}

export function writePlan(path: string, plan: AlterPlan): void {
  validatePlan(plan, path);
  writeJsonAtomic(path, plan);
}

/** Refuses a plan whose layers are not this model's prunable layers (a plan for another model). */
export function checkPlanMatchesModel(plan: AlterPlan, layers: readonly PrunableLayer[], source = PLAN_FILE): void {
  if (plan.layers.length !== layers.length) {
    fail(source, `the plan has ${plan.layers.length} layers but this model has ${layers.length} prunable layers; it was made for another model`);
  }
  plan.layers.forEach((l, i) => {
    if (l.name !== layers[i].name) fail(source, `layer ${i} is ${l.name} in the plan but ${layers[i].name} in this model; it was made for another model`);
  });
}

/** The hard mask at a training timestep (what inference uses for the sampler's actual timestep). */
export function maskAt(plan: AlterPlan, timestep: number): number[] {
  const t = Math.round(timestep);
  if (t < 0 || t >= plan.router.length) throw new PlanError(`timestep ${timestep} is outside the plan's 0..${plan.router.length - 1}`);
  return plan.experts[plan.router[t]];
}

/**
 * @file ALTER's single-stage co-optimisation (paper Algorithm 1; official sd_prune.py), and the
 * ablation baselines from the same loop.
 *
 * Per batch, while step < T_end (the "hyper steps"):
 *   1. UNet step: the student runs with the current hard mask table (rows m[t_b], one per sample),
 *      the hypernetwork frozen; L_U = l_den*MSE(student, target) + l_out*MSE(student, teacher)
 *      + l_feat*mean_k MSE(features_k); AdamW, clipping.
 *   2. Hypernetwork step: the UNet frozen, relaxed masks (straight-through in the `paper` variant,
 *      soft in the `reference` variant), fresh noise and timesteps on the same images;
 *      L_H = L_perf + l_ratio*log(max(S,p)/min(S,p)) + l_bal*N_e*sum_i F_i P_i; AdamW, clipping.
 *   3. Refresh the hard table: deterministic thresholds (`paper`) or a noisy hard draw (`reference`).
 * After T_end the table is frozen and only the UNet trains (the final fine-tuning, same run).
 *
 * Methods: `alter` (above), `static` (one expert for every timestep), `manual` (N_e experts on equal
 * fixed timestep intervals, no router), `two-stage` (the hypernetwork is trained first on the frozen
 * UNet for T_end steps, then the UNet is fine-tuned with the frozen plan for `steps` steps).
 * The teacher is a frozen copy of the starting UNet.
 */
import { join } from "node:path";
import { mkdirSync } from "node:fs";
import { Tensor } from "../engine/tensor.js";
import { Generator, type GeneratorState } from "../engine/rng.js";
import { keep, scope } from "../engine/memory.js";
import { noGrad } from "../engine/autograd.js";
import { gatherRows } from "../engine/ops/indexing.js";
import { AdamW, clipGradNorm } from "../nn/optim.js";
import { constantThenCosine, scheduleByName, SCHEDULE_NAMES, type ScheduleName } from "../nn/schedule.js";
import { EMA } from "../nn/ema.js";
import { cloneUNet, saveModelFolder, type ModelFolder } from "../models/pretrained.js";
import type { UNet2DConditionModel } from "../models/unet-2d-condition.js";
import { BatchLoader, type BatchLoaderState } from "../data/loader.js";
import { splitValidation, type Dataset } from "../data/fashion-mnist.js";
import { createScheduler, validateSchedulerConfig } from "../diffusion/scheduler.js";
import { samplerFor } from "../diffusion/samplers.js";
import { addPrefixed, loadCheckpoint, saveRunCheckpoint, withPrefix } from "../util/checkpoint.js";
import { JsonlLog } from "../util/jsonl.js";
import { ProgressBar } from "../util/progress.js";
import { InterruptFlag, yieldToEventLoop } from "../util/interrupt.js";
import { faults, injectGradientFault } from "../util/faults.js";
import { residentMiB } from "../util/progress.js";
import { HyperNetwork, expertIds } from "./hypernet.js";
import { fitMasksToBudget } from "./budget-fit.js";
import { remaskByDropError } from "./remask.js";
import { calibrateRouter, calibrationGrid, measureExpertErrors, type CalibrationObjective } from "./calibrate.js";
import { balanceLoss, budgetConversion, denoisingLoss, distillationWeights, featureDistillation, outputDistillation, ratioLoss, type DistillWeighting } from "./losses.js";
import { prunableLayers, prunableShare, type PrunableLayer } from "./layers.js";
import { layerIndex, MaskedExecutor, SubsetExecutor } from "./masked.js";
import { PLAN_FILE, PLAN_VERSION, withRealisedRatios, writePlan, type AlterPlan } from "./plan.js";

export type PruneMethod = "alter" | "static" | "manual" | "two-stage";
/** The UNet's rate schedules: the shared ones, and one that waits for the plan to freeze. */
export const UNET_SCHEDULE_NAMES = [...SCHEDULE_NAMES, "cosine-after-freeze"] as const;
export type UnetScheduleName = (typeof UNET_SCHEDULE_NAMES)[number];
export type PruneVariant = "paper" | "reference";

export interface PruneSettings {
  method: PruneMethod;
  variant: PruneVariant;
  /** Fraction of the whole UNet's per-step MACs to keep (the paper's p). */
  ratio: number;
  experts: number;
  /** UNet optimizer steps (for two-stage: the fine-tuning steps after the hypernetwork stage). */
  steps: number;
  /** T_end: steps with hypernetwork updates (the table is frozen afterwards). */
  hyperSteps: number;
  batchSize: number;
  lrUnet: number;
  /** The UNet's learning rate after warmup: constant (the official script), or a cosine decay to 0 at
   * the last UNet step, so the fine-tuned weights settle (docs/alter.md section 5), or
   * `cosine-after-freeze`: constant until the plan freezes at T_end, then the cosine decay (so the
   * hypernetwork phase, and with it the plan, is the constant rate's). */
  unetLrSchedule: UnetScheduleName;
  /** Decay of an exponential moving average of the student's weights, started when the plan freezes
   * (T_end); the saved model holds the average. 0: no average, the saved model is the last step's. */
  emaDecay: number;
  lrHyper: number;
  /** The hypernetwork's learning rate after warmup: constant (the official script, and our default by
   * measurement), or a cosine decay to 0 at T_end (docs/alter.md section 5). */
  hyperLrSchedule: ScheduleName;
  /** The fraction of T_end at its end over which the Gumbel noise of the hypernetwork step decays
   * linearly to 0 (0: never, the paper). The ratio loss then sees the deterministic plan that is
   * frozen, which otherwise keeps less than the noisy masks it holds at the budget (docs/alter.md §5). */
  noiseAnneal: number;
  /** The fraction of T_end at its end with no Gumbel noise at all (the anneal ends where it starts), so
   * the ratio loss acts on the very plan that freezes for that many steps (ours; docs/alter.md §5). */
  noiseFreeTail: number;
  /** Re-choose the router when the plan freezes from every expert's measured error against the
   * teacher, within the plan's MACs (`alter calibrate` at T_end, so the fine-tuning trains the
   * calibrated plan; not in the paper; alter and two-stage only). */
  calibrateAtFreeze: boolean;
  /** What the calibration at T_end minimises (src/alter/calibrate.ts): `relative` divides each
   * timestep's error by the teacher's own error there, which favours the high-noise timesteps;
   * `absolute` sums the raw output errors, which are largest at low noise, so the larger experts
   * move there. */
  calibrateObjective: CalibrationObjective;
  /** When the plan freezes, switch the mask entries nearest the threshold until the plan keeps the
   * budget (src/alter/budget-fit.ts; ours). Off: the deterministic plan as it is at T_end (the paper). */
  fitBudget: boolean;
  /** When the plan freezes (after any calibration and budget fit), re-choose each used expert's layers
   * by their measured single-drop error on the student, keeping the router and no more of each
   * expert's MACs (src/alter/remask.ts; ours). */
  remaskAtFreeze: boolean;
  warmupSteps: number;
  weightDecay: number;
  gradClip: number;
  lambdaDenoise: number;
  lambdaOutput: number;
  lambdaFeature: number;
  /** The feature distillation's weight once the plan has frozen, for the final fine-tuning (null: the
   * same as lambdaFeature, the paper). Ours: the normalised feature term is tens of times the output
   * term by then, so it, not the output the sampler sees, decides what the fine-tuning fits. */
  lambdaFeatureAfterFreeze: number | null;
  normalizeFeatures: boolean;
  /** Per-timestep weights of the output and feature distillation (losses.ts distillationWeights;
   * `uniform` is the paper's). */
  distillWeighting: DistillWeighting;
  /** Fine-tune for one sampler: after the plan freezes, this fraction of each batch's timesteps is drawn
   * from the `focusSteps`-step sampling grid (the scheduler's spacing) instead of all T; the rest stay
   * uniform. 0 steps: off (the paper). Ours: the sampler only ever calls those timesteps. */
  focusSteps: number;
  focusFraction: number;
  lambdaRatio: number;
  lambdaBalance: number;
  /** The model folder whose UNet the student starts from (null: the teacher's, the paper). Ours: prune in
   * stages, e.g. a model pruned and fine-tuned at 0.75 pruned again to 0.65; the teacher stays the dense one. */
  studentInit: string | null;
  labelDropout: number;
  seed: number;
  /** The last `holdout` images of the data are kept out of training (the validation split). */
  holdout: number;
  checkpointEvery: number;
  logEvery: number;
}

/** The Gumbel-noise multiplier at a hypernetwork step: 1, then a linear decay over an `anneal`
 * fraction of the T_end steps that reaches 0 where the noise-free `tail` fraction begins. */
export function noiseScale(hyperStep: number, hyperSteps: number, anneal: number, tail = 0): number {
  const noiseFree = hyperSteps * (1 - tail);
  const start = noiseFree - hyperSteps * anneal;
  if (hyperStep < start) return 1;
  if (hyperStep + 1 >= noiseFree) return 0;
  return 1 - (hyperStep + 1 - start) / (noiseFree - start);
}

export const DEFAULT_PRUNE_SETTINGS: PruneSettings = {
  method: "alter",
  variant: "paper",
  ratio: 0.65,
  experts: 10,
  steps: 2000,
  hyperSteps: 600,
  batchSize: 32,
  lrUnet: 1e-3,
  unetLrSchedule: "constant",
  emaDecay: 0,
  // Not the paper's rates (1e-5 / 5e-5 for SD-2.1's 32k steps): chosen on the validation split for our
  // teacher and step budgets, where the budget is reached within T_end (runs/repro/search/search.md).
  lrHyper: 2e-2,
  hyperLrSchedule: "constant",
  // Chosen on the validation split (docs/alter.md section 7): without it the frozen plan keeps less than
  // the budget (56 % for 0.65), with it the plan meets the budget and the Fréchet distance halves.
  noiseAnneal: 0.25,
  noiseFreeTail: 0,
  calibrateAtFreeze: false,
  calibrateObjective: "relative",
  // Measured on the 20,000-step table runs: without it the frozen plan missed the budget by up to 11 points.
  fitBudget: true,
  remaskAtFreeze: false,
  warmupSteps: 50,
  weightDecay: 0.01,
  gradClip: 1.0,
  lambdaDenoise: 1e-4,
  lambdaOutput: 1,
  lambdaFeature: 1,
  lambdaFeatureAfterFreeze: null,
  // Normalised feature distillation (our departure, docs/alter.md section 4): with plain MSE the
  // hypernetwork did not reach the budget in T_end on our teacher.
  normalizeFeatures: true,
  distillWeighting: "uniform",
  focusSteps: 0,
  focusFraction: 1,
  lambdaRatio: 5,
  lambdaBalance: 1,
  studentInit: null,
  labelDropout: 0.1,
  seed: 0,
  holdout: 0,
  checkpointEvery: 100,
  logEvery: 5,
};

export interface PruneRun {
  teacher: ModelFolder;
  data: Dataset;
  outDir: string;
  settings: PruneSettings;
  /** The folder named by settings.studentInit, loaded (its UNet must have the teacher's config). */
  studentInit?: ModelFolder;
  resume?: boolean;
  silent?: boolean;
}

export interface PruneResult {
  plan: AlterPlan;
  interrupted: boolean;
  step: number;
}

export class PruneError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TrainingError";
  }
}

interface PruneState {
  step: number;
  /** Hypernetwork steps done (two-stage runs them before the UNet steps). */
  hyperStep: number;
  rng: GeneratorState;
  loader: BatchLoaderState;
  settings: PruneSettings;
  frozen: boolean;
  /** UNet steps averaged into the EMA weights (absent in checkpoints from before the average). */
  emaSteps?: number;
  elapsedSeconds: number;
}

/** Hard routing for the baselines without a learned router. */
function fixedRouting(method: PruneMethod, experts: number, T: number): Int32Array | null {
  if (method === "static") return new Int32Array(T);
  if (method === "manual") return Int32Array.from({ length: T }, (_, t) => Math.min(experts - 1, Math.floor((t * experts) / T)));
  return null;
}

/** The timesteps an `n`-step DDIM sampler calls on a model's noise schedule (its timestep_spacing). */
export function samplingGrid(modelSchedulerConfig: Record<string, unknown>, n: number): Int32Array {
  const sampler = samplerFor(modelSchedulerConfig, "ddim");
  const T = sampler.config.num_train_timesteps ?? 1000;
  if (!Number.isInteger(n) || n < 1 || n > T) {
    throw new PruneError(`--focus-steps ${n}: must be a sampler step count in [1, ${T}] (0 turns the focus off)`);
  }
  sampler.setTimesteps(n);
  return sampler.timesteps.slice();
}

/** Replaces each timestep, with probability `fraction`, by a random point of `grid` (in place). */
export function focusTimesteps(timesteps: Int32Array, grid: Int32Array, fraction: number, rng: Generator): void {
  const pick = rng.uniform(timesteps.length), slot = rng.randint(timesteps.length, 0, grid.length);
  for (let i = 0; i < timesteps.length; i++) if (pick[i]! < fraction) timesteps[i] = grid[slot[i]!]!;
}

/** One-hot [T, N_e] from expert ids. */
function oneHotRouting(ids: Int32Array, experts: number): Tensor {
  const out = Tensor.zeros([ids.length, experts]);
  ids.forEach((e, t) => (out.f32[t * experts + e] = 1));
  return out;
}

/** The keys of either record whose values differ (compared as JSON). */
function differingKeys(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  return Object.keys({ ...a, ...b }).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}

/** The UNet the student is copied from: the teacher's, or settings.studentInit's (same architecture). */
function startingUNet(run: PruneRun, teacherUnet: UNet2DConditionModel): UNet2DConditionModel {
  const dir = run.settings.studentInit;
  if (dir === null) return teacherUnet;
  if (run.studentInit === undefined) throw new PruneError(`--student ${dir}: the folder was named but not loaded`);
  // A paused run leaves a loadable model behind; starting the next stage from it would silently prune a half-trained UNet.
  const training = run.studentInit.index.alter_training as { finished?: unknown; step?: unknown } | undefined;
  if (training?.finished === false) {
    throw new PruneError(`--student ${dir}: that run stopped at step ${String(training.step)} before its last step (model_index.json says finished: false); finish it first (its alter prune command again, plus --resume), then start this stage`);
  }
  const differ = differingKeys(teacherUnet.config as unknown as Record<string, unknown>, run.studentInit.unet.config as unknown as Record<string, unknown>);
  if (differ.length > 0) {
    throw new PruneError(`--student ${dir}: its UNet config differs from the teacher's in ${differ.join(", ")}; the student must be a copy of the teacher's architecture (e.g. a model alter prune made from this teacher)`);
  }
  return run.studentInit.unet;
}

export async function trainPruned(run: PruneRun): Promise<PruneResult> {
  const { teacher, outDir } = run;
  const s = run.settings;
  if (!Number.isInteger(s.holdout) || s.holdout < 0 || s.holdout >= run.data.count) {
    throw new PruneError(`--holdout ${s.holdout}: must be an integer in [0, ${run.data.count - 1}] (the data has ${run.data.count} images)`);
  }
  if (!(Number.isFinite(s.emaDecay) && s.emaDecay >= 0 && s.emaDecay < 1)) {
    throw new PruneError(`--ema-decay ${s.emaDecay}: must be in [0, 1) (0 turns the average off; 0.998 averages over ~500 steps)`);
  }
  if (!(Number.isFinite(s.noiseAnneal) && s.noiseAnneal >= 0 && s.noiseAnneal <= 1)) {
    throw new PruneError(`--noise-anneal ${s.noiseAnneal}: must be a fraction of T_end in [0, 1]`);
  }
  if (!(Number.isFinite(s.noiseFreeTail) && s.noiseFreeTail >= 0 && s.noiseAnneal + s.noiseFreeTail <= 1)) {
    throw new PruneError(`--noise-free-tail ${s.noiseFreeTail}: must be a fraction of T_end in [0, 1 - ${s.noiseAnneal}] (the anneal, --noise-anneal ${s.noiseAnneal}, comes before it)`);
  }
  if (!(Number.isFinite(s.focusFraction) && s.focusFraction > 0 && s.focusFraction <= 1)) {
    throw new PruneError(`--focus-fraction ${s.focusFraction}: must be in (0, 1] (the share of each batch drawn from the sampler's timesteps; 1: all of it)`);
  }
  const data = splitValidation(run.data, s.holdout).train;
  if (teacher.classEmbedder === null) throw new PruneError("the teacher folder has no class_embedder/; alter prune needs a class-conditional teacher");
  const embedder = teacher.classEmbedder;
  embedder.requiresGrad(false);
  const startFrom = startingUNet(run, teacher.unet); // checked before anything is written to outDir
  mkdirSync(outDir, { recursive: true });
  const checkpointPath = join(outDir, "checkpoint.safetensors");
  const log = new JsonlLog(join(outDir, "train_log.jsonl"));

  const schedulerConfig = validateSchedulerConfig(teacher.schedulerConfig, teacher.schedulerConfigPath);
  const noiseScheduler = createScheduler(schedulerConfig);
  const T = schedulerConfig.num_train_timesteps ?? 1000;
  const prediction = schedulerConfig.prediction_type ?? "epsilon";
  const timestepWeights = distillationWeights(s.distillWeighting, noiseScheduler.alphasCumprod);
  /** The sampling grid the fine-tuning focuses on (null: every timestep, the paper). */
  const focusGrid = s.focusSteps > 0 ? samplingGrid(teacher.schedulerConfig, s.focusSteps) : null;

  const teacherUnet = teacher.unet.requiresGrad(false).eval();
  const student: UNet2DConditionModel = cloneUNet(startFrom).train();
  const size = student.config.sample_size;
  const macs = student.countMacs(size, size, embedder.config.num_tokens);
  const layers: PrunableLayer[] = prunableLayers(student, macs);
  const { share, totalMacs } = prunableShare(layers, macs);
  const floor = 1 - share;
  if (s.ratio < floor - 1e-9) {
    throw new PruneError(
      `--ratio ${s.ratio} is infeasible for this model: the layers ALTER cannot prune already cost ${floor.toFixed(4)} of its MACs; ` +
        `use a ratio of at least ${(Math.ceil(floor * 1000) / 1000).toFixed(3)}`,
    );
  }
  const targetPrunable = budgetConversion(s.ratio, share);
  const costs = Float32Array.from(layers, (l) => l.macs);
  const index = layerIndex(layers);

  const experts = s.method === "static" ? 1 : s.experts;
  const fixed = fixedRouting(s.method, experts, T);
  if (s.calibrateAtFreeze && fixed !== null) {
    throw new PruneError(`--calibrate-at-freeze re-chooses a learned router; --method ${s.method} has fixed routing (use alter or two-stage)`);
  }
  if (s.calibrateObjective !== "relative" && !s.calibrateAtFreeze) {
    throw new PruneError(`--calibrate-objective ${s.calibrateObjective} acts on the calibration at T_end; add --calibrate-at-freeze, or drop it`);
  }
  const init = new Generator(s.seed);
  const hyper = new HyperNetwork({ numExperts: experts, numLayers: layers.length, timeTable: student.timeProjection(Array.from({ length: T }, (_, t) => t)), generator: init.fork(20) });
  const unetParams = student.parameters();
  const hyperParams = fixed === null ? hyper.parameters() : hyper.expert_generator.parameters();
  const unetOpt = new AdamW(unetParams, { lr: s.lrUnet, weightDecay: s.weightDecay });
  const hyperOpt = new AdamW(hyperParams, { lr: s.lrHyper, weightDecay: s.weightDecay });
  // Two-stage runs freeze the plan before their first UNet step.
  const unetSchedule = s.unetLrSchedule === "cosine-after-freeze"
    ? constantThenCosine(s.lrUnet, s.warmupSteps, s.method === "two-stage" ? 0 : s.hyperSteps, s.steps)
    : scheduleByName(s.unetLrSchedule, s.lrUnet, s.warmupSteps, s.steps);
  /** The average of the student's weights over the fine-tuning with the frozen plan (null: off). */
  const ema = s.emaDecay > 0 ? new EMA(student, s.emaDecay) : null;
  /** UNet steps since the plan froze: the average's own step count (its warmup starts at the freeze). */
  let emaSteps = 0;
  const hyperSchedule = scheduleByName(s.hyperLrSchedule, s.lrHyper, s.warmupSteps, s.hyperSteps);

  let rng = new Generator(s.seed + 1);
  let loader = new BatchLoader(data, s.batchSize, new Generator(s.seed + 2));
  let step = 0, hyperStep = 0, frozen = false, elapsedBefore = 0;
  /** The hard table [T, N_L] the UNet trains with (and, frozen, the final plan). */
  let expertMasks = keep(Tensor.ones([experts, layers.length]));
  let routerIds = fixed ?? new Int32Array(T);

  /** Draws the hard table from the hypernetwork (deterministic in the paper variant). */
  const refreshTable = (): void => {
    const mode = s.variant === "paper" ? "deterministic" : "hard";
    const out = hyper.forward(mode, rng, noiseScale(Math.max(0, hyperStep - 1), s.hyperSteps, s.noiseAnneal, s.noiseFreeTail));
    expertMasks.dispose();
    expertMasks = keep(out.expertMasks.clone());
    routerIds = fixed ?? expertIds(out.routing);
  };
  const hardTable = (): Tensor => oneHotRouting(routerIds, experts).matmul(expertMasks);

  let lastSavedStep: number | null = null;
  if (run.resume) {
    const ckpt = loadCheckpoint(checkpointPath);
    const state = ckpt.state as unknown as PruneState;
    // Checkpoints from before these settings existed ran constant learning rates, no noise annealing or noise-free tail, no average,
    // no calibration (and, where they calibrated, the relative objective), no budget fit, no remasking, unweighted distillation, no timestep focus,
    // one feature weight throughout and the teacher's weights as the student's start.
    const saved = Object.assign({}, s, { hyperLrSchedule: "constant", noiseAnneal: 0, noiseFreeTail: 0, unetLrSchedule: "constant", emaDecay: 0, calibrateAtFreeze: false, calibrateObjective: "relative", fitBudget: false, remaskAtFreeze: false, distillWeighting: "uniform", focusSteps: 0, focusFraction: 1, lambdaFeatureAfterFreeze: null, studentInit: null }, state.settings, { steps: 0 });
    const now: Record<string, unknown> = { ...s, steps: 0 }, then: Record<string, unknown> = saved;
    const differ = differingKeys(now, then);
    if (differ.length > 0) {
      const listed = differ.map((k) => `${k} ${JSON.stringify(then[k])} in the checkpoint, ${JSON.stringify(now[k])} now`).join("; ");
      throw new PruneError(`${ckpt.path}: the checkpoint was made with different settings (${listed}); resume with the original flags (only --steps may change) or use a new --out folder`);
    }
    student.loadStateDict(withPrefix(ckpt.tensors, "student"), { source: ckpt.path });
    hyper.loadStateDict(withPrefix(ckpt.tensors, "hyper"), { source: ckpt.path });
    unetOpt.loadStateDict({ step: state.step, buffers: withPrefix(ckpt.tensors, "optim_unet") });
    hyperOpt.loadStateDict({ step: state.hyperStep, buffers: withPrefix(ckpt.tensors, "optim_hyper") });
    expertMasks.dispose();
    expertMasks = keep(ckpt.tensors.get("table.experts")!.clone());
    routerIds = Int32Array.from(ckpt.tensors.get("table.router")!.data);
    rng = Generator.fromState(state.rng);
    loader = BatchLoader.fromState(data, state.loader);
    ({ step, hyperStep, frozen } = state);
    if (ema !== null) {
      emaSteps = state.emaSteps ?? 0;
      for (const [key, t] of withPrefix(ckpt.tensors, "ema")) ema.shadow.get(key)!.data.set(t.data);
    }
    elapsedBefore = state.elapsedSeconds;
    log.truncateAfter(step + (s.method === "two-stage" ? hyperStep : 0));
    lastSavedStep = step + (s.method === "two-stage" ? hyperStep : 0);
    if (!run.silent) process.stderr.write(`alter: resuming ${outDir} at UNet step ${step}, hypernetwork step ${hyperStep} (${ckpt.path})\n`);
  } else {
    log.truncateAfter(0); // a fresh run in an existing folder starts a fresh log
    refreshTable();
  }

  const startTime = Date.now();
  const elapsed = (): number => elapsedBefore + (Date.now() - startTime) / 1000;
  const writeCheckpoint = (): void => {
    const tensors = new Map<string, Tensor>();
    addPrefixed(tensors, "student", student.stateDict());
    addPrefixed(tensors, "hyper", hyper.stateDict());
    addPrefixed(tensors, "optim_unet", unetOpt.stateDict().buffers);
    addPrefixed(tensors, "optim_hyper", hyperOpt.stateDict().buffers);
    tensors.set("table.experts", expertMasks);
    tensors.set("table.router", Tensor.int32(routerIds));
    if (ema !== null) addPrefixed(tensors, "ema", ema.shadow);
    const state: PruneState = { step, hyperStep, rng: rng.state(), loader: loader.state(), settings: s, frozen, emaSteps, elapsedSeconds: elapsed() };
    saveRunCheckpoint(checkpointPath, { tensors, state: state as unknown as Record<string, unknown> }, lastSavedStep);
    lastSavedStep = step + (s.method === "two-stage" ? hyperStep : 0);
  };

  /** A noisy batch: images, labels (with dropout to the null label), timesteps, x_t, target, teacher outputs. */
  const makeBatch = (images: Tensor, labelsIn: Int32Array, focused = false) => {
    const B = images.shape[0];
    const timesteps = rng.randint(B, 0, T);
    if (focused && focusGrid !== null) focusTimesteps(timesteps, focusGrid, s.focusFraction, rng);
    const noise = Tensor.randn(images.shape, rng);
    const labels = labelsIn.slice();
    const drop = rng.uniform(B);
    for (let i = 0; i < B; i++) if (drop[i] < s.labelDropout) labels[i] = embedder.nullLabel;
    const noisy = noiseScheduler.addNoise(images, noise, timesteps);
    const target = prediction === "v_prediction" ? noiseScheduler.getVelocity(images, noise, timesteps) : noise;
    const context = noGrad(() => embedder.forward(Tensor.int32(labels)));
    const teacherFeatures: Tensor[] = [];
    const teacherOut = noGrad(() => teacherUnet.forward(noisy, timesteps, context, { features: teacherFeatures }));
    return { timesteps, noisy, target, context, teacherOut, teacherFeatures };
  };

  /**
   * The performance loss of the student with per-sample masks; returns its terms. The hypernetwork
   * step blends every layer (its masks need gradients); the UNet step's hard masks run each layer
   * only on the samples that keep it (exact, and a pruned layer costs nothing).
   */
  const performance = (batch: ReturnType<typeof makeBatch>, executor: MaskedExecutor | SubsetExecutor) => {
    const features: Tensor[] = [];
    const out = student.forward(batch.noisy, batch.timesteps, batch.context, { executor, features });
    const den = denoisingLoss(out, batch.target);
    const weights = timestepWeights === null ? undefined : Float32Array.from(batch.timesteps, (t) => timestepWeights[t]!);
    const outKd = outputDistillation(out, batch.teacherOut, weights);
    let featKd = featureDistillation(features, batch.teacherFeatures, s.normalizeFeatures, weights);
    if (faults.nanLossStep === step + 1) featKd = featKd.mul(NaN);
    const lambdaFeature = frozen && s.lambdaFeatureAfterFreeze !== null ? s.lambdaFeatureAfterFreeze : s.lambdaFeature;
    const loss = den.mul(s.lambdaDenoise).add(outKd.mul(s.lambdaOutput)).add(featKd.mul(lambdaFeature));
    return { loss, den: den.item(), out: outKd.item(), feat: featKd.item() };
  };

  /** Stops on a non-finite loss or gradient norm, naming the step, the bad terms and where to resume. */
  const checkFinite = (what: string, value: number, at: number, terms: Record<string, number> = {}): void => {
    if (Number.isFinite(value)) return;
    const bad = Object.entries(terms).filter(([, v]) => !Number.isFinite(v)).map(([k, v]) => `${k} = ${v}`);
    const resume = lastSavedStep === null
      ? "no checkpoint was written yet: start again with lower learning rates or --grad-clip"
      : `resume from ${checkpointPath} (step ${lastSavedStep}) with --resume and lower learning rates or --grad-clip`;
    throw new PruneError(`step ${at + 1}: ${what} is ${value}${bad.length ? ` (non-finite terms: ${bad.join(", ")})` : ""}; nothing was updated; ${resume}`);
  };

  const hyperUpdate = (images: Tensor, labels: Int32Array): Record<string, number> => {
    student.requiresGrad(false);
    student.eval();
    try {
      return scope(() => {
        hyperOpt.lr = hyperSchedule(hyperStep);
        hyperOpt.zeroGrad();
        const batch = makeBatch(images, labels);
        const noise = noiseScale(hyperStep, s.hyperSteps, s.noiseAnneal, s.noiseFreeTail);
        const relaxed = hyper.forward(s.variant === "paper" ? "straight-through" : "soft", rng, noise);
        const table = fixed === null ? relaxed.table : oneHotRouting(routerIds, experts).matmul(relaxed.expertMasks);
        const perf = performance(batch, new MaskedExecutor(index, gatherRows(table, Tensor.int32(batch.timesteps))));
        const ratio = ratioLoss(table, costs, targetPrunable);
        let loss = perf.loss.add(ratio.loss.mul(s.lambdaRatio));
        let bal = 0;
        if (fixed === null && s.lambdaBalance > 0) {
          const b = balanceLoss(relaxed.routingLogits, relaxed.routing);
          bal = b.item();
          loss = loss.add(b.mul(s.lambdaBalance));
        }
        const value = loss.item();
        checkFinite("the hypernetwork loss", value, step, { denoise: perf.den, output_kd: perf.out, feature_kd: perf.feat, ratio: ratio.loss.item(), balance: bal });
        loss.backward();
        const norm = clipGradNorm(hyperParams, s.gradClip);
        checkFinite("the hypernetwork gradient norm", norm, step);
        hyperOpt.step();
        return { hyper_loss: value, perf: perf.loss.item(), ratio_loss: ratio.loss.item(), kept_soft: ratio.keptFraction, balance: bal, noise_scale: noise };
      });
    } finally {
      student.requiresGrad(true);
      student.train();
    }
  };

  const unetUpdate = (images: Tensor, labels: Int32Array): Record<string, number> =>
    scope(() => {
      unetOpt.lr = unetSchedule(step);
      unetOpt.zeroGrad();
      // Only the fine-tuning focuses: the router must see every timestep while it is learned.
      const batch = makeBatch(images, labels, frozen);
      const perf = performance(batch, new SubsetExecutor(index, gatherRows(hardTable(), Tensor.int32(batch.timesteps))));
      const value = perf.loss.item();
      checkFinite("the UNet loss", value, step, { denoise: perf.den, output_kd: perf.out, feature_kd: perf.feat });
      perf.loss.backward();
      injectGradientFault(step + 1, unetParams);
      const norm = clipGradNorm(unetParams, s.gradClip);
      checkFinite("the UNet gradient norm", norm, step);
      unetOpt.step();
      return { unet_loss: value, denoise: perf.den, output_kd: perf.out, feature_kd: perf.feat };
    });

  const currentPlan = (): AlterPlan =>
    withRealisedRatios({
      format: "alter-plan", version: PLAN_VERSION, num_train_timesteps: T,
      layers: layers.map((l) => ({ name: l.name, kind: l.kind, macs: l.macs })), total_macs: totalMacs,
      experts: Array.from({ length: experts }, (_, e) => Array.from(expertMasks.f32.subarray(e * layers.length, (e + 1) * layers.length))),
      router: Array.from(routerIds), target_ratio: s.ratio, target_prunable_ratio: targetPrunable,
      settings: { ...s, prunable_share: share, context_length: embedder.config.num_tokens, resolution: size },
    });

  /** Re-chooses the router by measured error (src/alter/calibrate.ts) on fixed training images, with its own noise. */
  const calibrateAtFreeze = (): Record<string, number> => {
    const before = currentPlan();
    student.eval();
    const errors = scope(() =>
      measureExpertErrors({
        teacher: teacherUnet, student, embedder, scheduler: noiseScheduler, prediction, plan: before,
        data, count: 32, grid: calibrationGrid(T, 10), seed: s.seed + 1,
      }),
    );
    student.train();
    const calibrated = calibrateRouter(before, errors, s.calibrateObjective);
    routerIds = Int32Array.from(calibrated.plan.router);
    if (!run.silent) {
      process.stderr.write(
        `\nalter: router calibrated at T_end: summed ${s.calibrateObjective} error ${calibrated.objectiveBefore.toFixed(3)} -> ${calibrated.objectiveAfter.toFixed(3)}, ` +
          `MACs kept ${(100 * before.realised_ratio).toFixed(2)}% -> ${(100 * calibrated.plan.realised_ratio).toFixed(2)}%\n`,
      );
    }
    return { calibration_before: calibrated.objectiveBefore, calibration_after: calibrated.objectiveAfter };
  };

  /** Switches the mask entries nearest the threshold until the plan keeps the budget (src/alter/budget-fit.ts). */
  const fitBudgetAtFreeze = (): Record<string, number> => {
    const offset = hyper.offset;
    const margins = scope(() => noGrad(() => Float32Array.from(hyper.expert_generator.forward().f32, (v) => v + offset)));
    const before = currentPlan().realised_ratio;
    const fit = fitMasksToBudget(expertMasks.f32, margins, routerIds, costs, targetPrunable);
    expertMasks.dispose();
    expertMasks = keep(Tensor.wrap(fit.masks, [experts, layers.length]));
    if (!run.silent) {
      process.stderr.write(
        `\nalter: plan fitted to the budget at T_end: ${fit.switched} mask ${fit.switched === 1 ? "entry" : "entries"} switched, MACs kept ${(100 * before).toFixed(2)}% -> ` +
          `${(100 * currentPlan().realised_ratio).toFixed(2)}% (target ${(100 * s.ratio).toFixed(1)}%)\n`,
      );
    }
    return { budget_fit_switched: fit.switched, budget_fit_kept_before: before };
  };

  /** Re-chooses each used expert's layers by measured single-drop error on the student (src/alter/remask.ts). */
  const remaskAtFreeze = (): Record<string, number> => {
    const before = currentPlan();
    student.eval();
    const remask = remaskByDropError({ teacher: teacherUnet, student, embedder, scheduler: noiseScheduler, plan: before, data, count: 32, perExpert: 4, seed: s.seed + 3 });
    student.train();
    expertMasks.dispose();
    expertMasks = keep(Tensor.from(Float32Array.from(remask.plan.experts.flat()), [experts, layers.length]));
    // Each expert's error weighted by the share of timesteps it serves.
    const [errorBefore, errorAfter] = (["errorBefore", "errorAfter"] as const).map((key) => remask.experts.reduce((sum, x) => sum + x.share * x[key], 0));
    const switched = remask.experts.reduce((n, x) => n + x.switched, 0);
    if (!run.silent) {
      process.stderr.write(
        `\nalter: expert masks re-chosen by measured error at T_end: ${switched} mask ${switched === 1 ? "entry" : "entries"} switched, output error ${errorBefore.toExponential(3)} -> ` +
          `${errorAfter.toExponential(3)}, MACs kept ${(100 * before.realised_ratio).toFixed(2)}% -> ${(100 * remask.plan.realised_ratio).toFixed(2)}%\n`,
      );
    }
    return { remask_switched: switched, remask_error_before: errorBefore, remask_error_after: errorAfter, remask_kept_before: before.realised_ratio };
  };

  const interrupt = new InterruptFlag().install(() => {
    if (!run.silent) process.stderr.write("\nalter: interrupt received, writing a checkpoint at the end of this step (Ctrl-C again to quit without one)\n");
  });
  const twoStage = s.method === "two-stage";
  const totalTicks = s.steps + (twoStage ? s.hyperSteps : 0);
  const progress = new ProgressBar({ total: totalTicks, start: step + (twoStage ? hyperStep : 0), label: `prune ${s.method}`, unit: "img", itemsPerTick: s.batchSize, silent: run.silent });
  let interrupted = false;

  try {
    while (step < s.steps) {
      const record: Record<string, number> = {};
      let frozeNow = false;
      const batch = loader.next();
      const labels = batch.labels.i32;
      const hyperPhase = !frozen && (twoStage ? hyperStep < s.hyperSteps : step < s.hyperSteps);
      if (!(twoStage && hyperPhase)) Object.assign(record, unetUpdate(batch.images, labels));
      if (hyperPhase) {
        Object.assign(record, hyperUpdate(batch.images, labels));
        hyperStep++;
        refreshTable();
      } else if (!frozen) {
        frozen = true; // T_end reached: the table is the final plan from here on
        frozeNow = true;
        if (s.calibrateAtFreeze) Object.assign(record, calibrateAtFreeze());
        // After calibration, which may move timesteps to cheaper experts: the fit has the last word on the budget.
        if (s.fitBudget) Object.assign(record, fitBudgetAtFreeze());
        // Last, so each expert keeps no more MACs than the plan that the budget fit settled.
        if (s.remaskAtFreeze) Object.assign(record, remaskAtFreeze());
      }
      // The average follows the fine-tuning with the final plan only: it restarts from the weights of
      // the first frozen step, so weights trained for masks the plan no longer uses are not in it.
      if (ema !== null && frozen) {
        if (emaSteps === 0) for (const [key, t] of student.stateDict()) ema.shadow.get(key)!.data.set(t.data);
        else noGrad(() => ema.update(emaSteps - 1));
        emaSteps++;
      }
      batch.images.dispose();
      batch.labels.dispose();
      if (!(twoStage && hyperPhase)) step++;
      const plan = currentPlan();
      const histogram = new Array<number>(experts).fill(0);
      for (const e of routerIds) histogram[e]++;
      const tick = step + (twoStage ? hyperStep : 0);
      // The step the plan froze on is always logged: it carries what the calibration, the budget fit and the remasking did.
      if (tick % s.logEvery === 0 || step === s.steps || frozeNow) {
        log.append({ step: tick, unet_step: step, hyper_step: hyperStep, frozen, ...record, kept_ratio: plan.realised_ratio, kept_prunable: plan.realised_prunable_ratio, target_ratio: s.ratio, routing: histogram, lr_unet: unetOpt.lr, lr_hyper: hyperOpt.lr, elapsed_s: Number(elapsed().toFixed(1)), rss_mib: residentMiB() });
      }
      const fmt = (v: number | undefined): string => (v === undefined ? "-" : v.toFixed(4));
      progress.tick(1, {
        unet: fmt(record.unet_loss),
        hyper: fmt(record.hyper_loss),
        ratio: fmt(record.ratio_loss),
        bal: fmt(record.balance),
        kept: `${plan.realised_ratio.toFixed(3)}/${s.ratio}`,
        route: histogram.map((c) => Math.round((100 * c) / T)).join(":"),
      });
      if (tick % s.checkpointEvery === 0) writeCheckpoint();
      await yieldToEventLoop();
      if (interrupt.requested) {
        writeCheckpoint();
        interrupted = true;
        break;
      }
    }
    if (!interrupted) writeCheckpoint();
  } finally {
    progress.done();
    interrupt.release();
  }

  const plan = currentPlan();
  // The saved weights: the average when there is one and it has begun, else the last step's.
  let saved: UNet2DConditionModel = student;
  if (ema !== null && emaSteps > 0) {
    saved = cloneUNet(student);
    ema.copyTo(saved);
  }
  saveModelFolder(outDir, {
    unet: saved,
    classEmbedder: embedder,
    schedulerConfig: teacher.schedulerConfig,
    index: {
      ...(teacher.index.alter_defaults !== undefined ? { alter_defaults: teacher.index.alter_defaults } : {}),
      alter_plan: PLAN_FILE, alter_training: { kind: "alter", method: s.method, variant: s.variant, step, finished: step >= s.steps, weights: saved === student ? "last step" : `EMA ${s.emaDecay} over ${emaSteps} steps` },
    },
  });
  writePlan(join(outDir, PLAN_FILE), plan);
  return { plan, interrupted, step };
}

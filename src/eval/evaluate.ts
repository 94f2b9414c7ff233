/**
 * @file `alter eval`: one row per (model, step count) with per-image MACs, latency and speedup against
 * the dense model at 50 steps (measured in the same run), and quality measured with our in-domain
 * classifier's features (Fréchet distance and KID to the real test set, class accuracy of the
 * class-conditional samples) plus SSIM and PSNR against the dense 50-step samples of the same seeds
 * and labels.
 *
 * Sampling is batched with a fixed batch size and seed = base + batch index, so image i gets the
 * same initial noise and label in every row: SSIM/PSNR compare like with like.
 */
import { Generator } from "../engine/rng.js";
import { loadModelFolder, type ModelFolder } from "../models/pretrained.js";
import { sampleImages } from "../diffusion/pipeline.js";
import type { Scheduler } from "../diffusion/scheduler.js";
import { samplerFor } from "../diffusion/samplers.js";
import { loadPlanFor, planExecutors, realisedMacs } from "../alter/inference.js";
import type { AlterPlan } from "../alter/plan.js";
import { methodName } from "./tables.js";
import { DEFAULT_PRUNE_SETTINGS } from "../alter/train.js";
import { FashionClassifier, embedImages, predictLabels } from "../metrics/classifier.js";
import { frechetFromFeatures } from "../metrics/frechet.js";
import { kernelInceptionDistance } from "../metrics/kid.js";
import { ssim } from "../metrics/ssim.js";
import { psnr } from "../metrics/psnr.js";
import type { Dataset } from "../data/fashion-mnist.js";
import { measureLatency, median, timeMs } from "./latency.js";
import { EvalProgress, imagesChecksum, modelFingerprint } from "./progress.js";

/** A problem with what was asked to evaluate (printed as one line by the CLI). */
export class EvaluationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EvaluationError";
  }
}

export interface EvalOptions {
  models: string[];
  steps: number[];
  /** Step counts for ALTER models (those with a plan); default: `steps`. */
  alterSteps?: number[];
  /** Images per row. */
  n: number;
  sampler: string;
  guidance: number;
  seed: number;
  batch: number;
  classifier: FashionClassifier;
  /** Real images the Fréchet distance and KID compare against (the test split). */
  real: Dataset;
  /** Latency: repeats per measurement and the larger batch size. */
  latencyRepeats: number;
  latencyBatch: number;
  onProgress?: (done: number, total: number, label: string) => void;
  /** Store finished rows and the reference images here, and reuse those of an interrupted run. */
  progressDir?: string;
  /** Told how many rows an earlier, interrupted run had finished. */
  onResume?: (rows: number) => void;
}

export interface EvalRow {
  model: string;
  alter: boolean;
  /** For ALTER models, from alter_plan.json: how the plan was made (tables group rows by these). */
  method?: string;
  target_ratio?: number;
  experts?: number;
  variant?: string;
  /**
   * Whether the router was re-chosen by measured error (alter calibrate; not in the paper): after
   * training (a calibrated copy of a model) or at T_end (prune --calibrate-at-freeze; with
   * --calibrate-objective absolute, "at-freeze-absolute"). Absent: the learned router, as in the paper.
   */
  calibration?: "after-training" | "at-freeze" | "at-freeze-absolute";
  /** prune --distill-weighting when not the paper's `uniform` (ours; such rows stay out of the paper's tables). */
  distill_weighting?: string;
  /** The UNet loss weights that differ from alter prune's defaults, e.g. "feature 0.1" (such rows stay out of the paper's tables). */
  loss_weights?: string;
  /** prune --student: the model folder the student started from instead of the teacher (ours; such rows stay out of the paper's tables). */
  student_init?: string;
  steps: number;
  n: number;
  macs_per_image_g: number;
  macs_vs_dense50: number;
  latency_ms_b1: number;
  latency_ms_per_image_batch: number;
  speedup_vs_dense50: number;
  /** Dense latency at the same step count / this row's, timed in turns with it (layer skipping alone). */
  per_step_speedup?: number;
  frechet: number;
  kid: number;
  kid_std: number;
  class_accuracy: number;
  ssim: number | null;
  psnr: number | null;
}

interface LoadedModel {
  dir: string;
  folder: ModelFolder;
  plan: AlterPlan | null;
}

type Departures = Pick<EvalRow, "calibration" | "distill_weighting" | "loss_weights" | "student_init">;
/** The UNet loss weights prune takes, with the names rows give them. */
const LOSS_WEIGHTS = [["lambdaDenoise", "denoise"], ["lambdaOutput", "output"], ["lambdaFeature", "feature"]] as const;

/** Where a plan's training departed from the paper's method in ways the tables keep apart, from its settings. */
export function departuresOf(settings: Record<string, unknown> | undefined): Departures {
  const out: Departures = {};
  if (settings?.calibration !== undefined) out.calibration = "after-training";
  else if (settings?.calibrateAtFreeze === true) out.calibration = settings.calibrateObjective === "absolute" ? "at-freeze-absolute" : "at-freeze";
  if (settings?.distillWeighting !== undefined && settings.distillWeighting !== "uniform") out.distill_weighting = String(settings.distillWeighting);
  const weights = LOSS_WEIGHTS.filter(([key]) => typeof settings?.[key] === "number" && settings[key] !== DEFAULT_PRUNE_SETTINGS[key])
    .map(([key, name]) => `${name} ${settings![key]}`);
  if (weights.length > 0) out.loss_weights = weights.join(", ");
  if (typeof settings?.studentInit === "string") out.student_init = settings.studentInit;
  return out;
}

function schedulerFor(model: LoadedModel, sampler: string): Scheduler {
  return samplerFor(model.folder.schedulerConfig, sampler, model.folder.schedulerConfigPath);
}

/** n class-balanced images in fixed batches (same noise and label per index in every row). */
function generate(model: LoadedModel, steps: number, o: EvalOptions, labelsFor: (i: number) => number, tick: () => void): Float32Array {
  const { sample_size: size, in_channels: c } = model.folder.unet.config;
  const out = new Float32Array(o.n * size * size * c);
  for (let start = 0, b = 0; start < o.n; start += o.batch, b++) {
    const count = Math.min(o.batch, o.n - start);
    const labels = Array.from({ length: count }, (_, i) => labelsFor(start + i));
    const { images } = sampleImages(model.folder.unet, model.folder.classEmbedder!, schedulerFor(model, o.sampler), {
      labels, steps, guidance: o.guidance, seed: o.seed + b, executorFor: model.plan === null ? undefined : planExecutors(model.plan),
    });
    out.set(images.f32, start * size * size * c);
    images.dispose();
    tick();
  }
  return out;
}

function perImageMacs(model: LoadedModel, steps: number, sampler: string, guided: boolean): number {
  const scheduler = schedulerFor(model, sampler);
  scheduler.setTimesteps(steps);
  const calls = guided ? 2 : 1;
  if (model.plan !== null) return realisedMacs(model.plan, scheduler.timesteps).total * calls;
  const { sample_size: size } = model.folder.unet.config;
  const contextLength = model.folder.classEmbedder?.config.num_tokens ?? 77;
  return model.folder.unet.countMacs(size, size, contextLength).total() * scheduler.timesteps.length * calls;
}

function sampleOnce(model: LoadedModel, steps: number, o: EvalOptions, batch: number): void {
  const labels = Array.from({ length: batch }, (_, i) => i % 10);
  sampleImages(model.folder.unet, model.folder.classEmbedder!, schedulerFor(model, o.sampler), {
    labels, steps, guidance: o.guidance, seed: o.seed, executorFor: model.plan === null ? undefined : planExecutors(model.plan),
  }).images.dispose();
}

function latency(model: LoadedModel, steps: number, o: EvalOptions, batch: number): number {
  return measureLatency(() => sampleOnce(model, steps, o, batch), { warmup: 1, repeats: o.latencyRepeats }).medianMs / batch;
}

/**
 * Batch-1 latency of a model and of the dense model at 50 steps and at the same step count, timed
 * in turns (model, dense-50, dense-same, model, ...) so that a slow spell of a noisy machine hits
 * all three alike; speedups are ratios of the medians.
 */
function interleavedLatency(model: LoadedModel, dense: LoadedModel, steps: number, o: EvalOptions): { model: number; dense50: number; denseSame: number } {
  const runs: [LoadedModel, number][] = [[model, steps], [dense, 50], [dense, steps]];
  for (const [m, s] of runs) sampleOnce(m, s, o, 1); // warm-up
  const times: number[][] = [[], [], []];
  for (let r = 0; r < o.latencyRepeats; r++) {
    runs.forEach(([m, s], i) => times[i]!.push(timeMs(() => sampleOnce(m, s, o, 1))));
  }
  return { model: median(times[0]!), dense50: median(times[1]!), denseSame: median(times[2]!) };
}

export function evaluate(o: EvalOptions): EvalRow[] {
  const models: LoadedModel[] = o.models.map((dir) => {
    const folder = loadModelFolder(dir);
    if (folder.classEmbedder === null) throw new EvaluationError(`${dir}: no class_embedder/; eval needs class-conditional models (from alter train-teacher or alter prune)`);
    return { dir, folder, plan: loadPlanFor(dir, folder.unet) };
  });
  const dense = models.find((m) => m.plan === null);
  if (dense === undefined) throw new EvaluationError("--models: no dense model (a folder without alter_plan.json); add the teacher, the 50-step reference of every comparison");
  const classes = dense.folder.classEmbedder!.config.num_classes;
  const labelsFor = (i: number): number => i % classes;
  const guided = o.guidance !== 1;
  const { sample_size: size, in_channels: channels } = dense.folder.unet.config;
  const pixels = size * size * channels;

  const batches = Math.ceil(o.n / o.batch);
  const stepsFor = (m: LoadedModel): number[] => (m.plan !== null && o.alterSteps !== undefined ? o.alterSteps : o.steps);
  const total = batches * (1 + models.reduce((a, m) => a + stepsFor(m).length, 0));
  let done = 0;
  const tick = (label: string) => () => o.onProgress?.(++done, total, label);

  const realImages = o.real.images.subarray(0, o.real.count * pixels);
  const progress = o.progressDir === undefined ? null : new EvalProgress<EvalRow>(o.progressDir, {
    n: o.n, sampler: o.sampler, guidance: o.guidance, seed: o.seed, batch: o.batch, latencyRepeats: o.latencyRepeats,
    latencyBatch: o.latencyBatch, real: imagesChecksum(realImages, o.real.count),
  });
  if (progress !== null && progress.storedRows > 0) o.onResume?.(progress.storedRows);
  const fingerprints = new Map(models.map((m) => [m, modelFingerprint(m.dir)]));
  const storedRow = (m: LoadedModel, steps: number) => progress?.row(m.dir, steps, fingerprints.get(m)!);

  const realFeatures = embedImages(o.classifier, realImages);
  const dim = realFeatures.length / o.real.count;
  const needsReference = models.some((m) => stepsFor(m).some((steps) => storedRow(m, steps) === undefined));
  let reference = progress?.reference(fingerprints.get(dense)!, o.n * pixels);
  if (reference === undefined && needsReference) {
    reference = generate(dense, 50, o, labelsFor, tick("dense 50-step reference"));
    progress?.setReference(fingerprints.get(dense)!, reference);
  } else {
    for (let b = 0; b < batches; b++) tick("dense 50-step reference (stored)")();
  }
  const denseMacs50 = perImageMacs(dense, 50, o.sampler, guided);

  const rows: EvalRow[] = [];
  for (const model of models) {
    for (const steps of stepsFor(model)) {
      const stored = storedRow(model, steps);
      if (stored !== undefined) {
        for (let b = 0; b < batches; b++) tick(`${model.dir} ${steps} steps (stored)`)();
        rows.push(stored);
        continue;
      }
      const images = steps === 50 && model === dense ? reference! : generate(model, steps, o, labelsFor, tick(`${model.dir} ${steps} steps`));
      if (steps === 50 && model === dense) for (let b = 0; b < batches; b++) tick("reuse")();
      const features = embedImages(o.classifier, images);
      const predicted = predictLabels(o.classifier, images);
      let correct = 0;
      predicted.forEach((p, i) => (correct += p === labelsFor(i) ? 1 : 0));
      const kid = kernelInceptionDistance(features, realFeatures, o.n, o.real.count, dim, { rng: new Generator(o.seed + 7) });
      const same = model === dense && steps === 50;
      const macs = perImageMacs(model, steps, o.sampler, guided);
      const timed = interleavedLatency(model, dense, steps, o);
      const b1 = timed.model;
      const settings = model.plan?.settings;
      rows.push({
        model: model.dir,
        alter: model.plan !== null,
        ...(model.plan !== null
          ? { method: String(settings?.method ?? "alter"), target_ratio: model.plan.target_ratio, experts: model.plan.experts.length, variant: String(settings?.variant ?? "paper"), ...departuresOf(settings) }
          : {}),
        steps,
        n: o.n,
        macs_per_image_g: macs / 1e9,
        macs_vs_dense50: macs / denseMacs50,
        latency_ms_b1: b1,
        latency_ms_per_image_batch: latency(model, steps, o, o.latencyBatch),
        speedup_vs_dense50: timed.dense50 / b1,
        per_step_speedup: timed.denseSame / b1,
        frechet: frechetFromFeatures(features, realFeatures, o.n, o.real.count, dim),
        kid: kid.mean,
        kid_std: kid.std,
        class_accuracy: correct / o.n,
        ssim: same ? null : ssim(images, reference!, { n: o.n, h: size, w: size, c: channels }, { range: [-1, 1] }).mean,
        psnr: same ? null : psnr(images, reference!, { n: o.n, h: size, w: size, c: channels }, { range: [-1, 1] }).mean,
      });
      progress?.addRow(model.dir, steps, fingerprints.get(model)!, rows[rows.length - 1]!);
    }
  }
  return rows;
}

/** A Markdown table of eval rows. */
export function markdownTable(rows: readonly EvalRow[]): string {
  const f = (v: number | null, d: number): string => (v === null || !Number.isFinite(v) ? "-" : v.toFixed(d));
  const lines = [
    "| model | steps | GMACs/image | MACs vs dense-50 | latency b1 (ms) | ms/image (batch) | speedup vs dense-50 | per-step speedup | Fréchet (ours) | KID (ours) | class acc. | SSIM | PSNR |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of rows) {
    lines.push(`| ${r.model}${r.alter ? ` (${methodName(r.method)})` : ""} | ${r.steps} | ${f(r.macs_per_image_g, 2)} | ${f(r.macs_vs_dense50 * 100, 1)}% | ${f(r.latency_ms_b1, 0)} | ${f(r.latency_ms_per_image_batch, 0)} | ${f(r.speedup_vs_dense50, 2)}x | ${f(r.per_step_speedup ?? null, 2)}x | ${f(r.frechet, 2)} | ${f(r.kid, 4)} | ${f(r.class_accuracy * 100, 1)}% | ${f(r.ssim, 3)} | ${f(r.psnr, 2)} |`);
  }
  return lines.join("\n") + "\n";
}

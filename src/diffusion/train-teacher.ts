/**
 * @file Training a class-conditional denoiser from scratch (the teacher ALTER compresses), with
 * everything a long run needs: AdamW with warmup, gradient clipping, EMA weights, label dropout for
 * classifier-free guidance, a JSONL log, atomic checkpoints every N steps (model, EMA, optimizer,
 * RNG and data-loader state), exact resume, Ctrl-C checkpointing, and a stop with a clear message
 * on a non-finite loss or gradient. The result is a diffusers-style model folder holding the EMA
 * weights.
 *
 * Objective (DDPM, Ho et al. 2020, eq. 14): t ~ U{0..T-1}, eps ~ N(0, I),
 * x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, loss = || target - unet(x_t, t, c) ||^2 with
 * target eps (or v for v_prediction).
 */
import { join } from "node:path";
import { mkdirSync } from "node:fs";
import { Tensor } from "../engine/tensor.js";
import { Generator, type GeneratorState } from "../engine/rng.js";
import { scope } from "../engine/memory.js";
import { noGrad } from "../engine/autograd.js";
import { mseLoss } from "../engine/ops/loss.js";
import { AdamW, clipGradNorm } from "../nn/optim.js";
import { EMA } from "../nn/ema.js";
import { scheduleByName, type ScheduleName } from "../nn/schedule.js";
import type { Module } from "../nn/module.js";
import { ClassEmbedder } from "../models/embeddings.js";
import { UNet2DConditionModel } from "../models/unet-2d-condition.js";
import type { UNet2DConditionConfig } from "../models/config.js";
import { loadModelFolder, saveModelFolder } from "../models/pretrained.js";
import { BatchLoader, type BatchLoaderState } from "../data/loader.js";
import type { Dataset } from "../data/fashion-mnist.js";
import { createScheduler, validateSchedulerConfig, type SchedulerConfig } from "./scheduler.js";
import { addPrefixed, loadCheckpoint, saveRunCheckpoint, withPrefix } from "../util/checkpoint.js";
import { JsonlLog } from "../util/jsonl.js";
import { ProgressBar } from "../util/progress.js";
import { InterruptFlag, yieldToEventLoop } from "../util/interrupt.js";
import { faults, injectGradientFault, sleepSync } from "../util/faults.js";
import { OutputError } from "../util/atomic.js";
import { residentMiB } from "../util/progress.js";

/** The noise schedule our pixel-space teachers use (DDPM's linear betas). */
export const DEFAULT_TEACHER_SCHEDULER: SchedulerConfig = validateSchedulerConfig({
  _class_name: "DDPMScheduler",
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: "linear",
  prediction_type: "epsilon",
  timestep_spacing: "trailing",
  steps_offset: 0,
  clip_sample: true,
  clip_sample_range: 1.0,
});

export interface TeacherTrainingSettings {
  steps: number;
  batchSize: number;
  lr: number;
  warmupSteps: number;
  /** constant after warmup, or a half-cosine decay to 0 at `steps` (a cool-down at the end of training: models/fmnist-teacher/README.md). */
  lrSchedule: ScheduleName;
  weightDecay: number;
  gradClip: number;
  emaDecay: number;
  /** Probability of replacing a label with the null label (classifier-free guidance). */
  labelDropout: number;
  /** Context tokens per class label. */
  numTokens: number;
  seed: number;
  checkpointEvery: number;
  logEvery: number;
}

export const DEFAULT_TEACHER_SETTINGS: TeacherTrainingSettings = {
  steps: 20000,
  batchSize: 64,
  lr: 2e-3,
  warmupSteps: 500,
  lrSchedule: "constant",
  weightDecay: 0.0,
  gradClip: 1.0,
  emaDecay: 0.999,
  labelDropout: 0.1,
  numTokens: 4,
  seed: 0,
  checkpointEvery: 250,
  logEvery: 10,
};

export interface TeacherTrainingRun {
  config: UNet2DConditionConfig;
  data: Dataset;
  outDir: string;
  settings: TeacherTrainingSettings;
  schedulerConfig?: SchedulerConfig;
  resume?: boolean;
  /** Start from the weights of an existing model folder (a fresh optimizer; e.g. to continue a shipped teacher). */
  initFrom?: string;
  silent?: boolean;
}

export class TrainingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TrainingError";
  }
}

/** Model + embedder as one trainable unit (so one optimizer and one EMA cover both). */
class Denoiser {
  constructor(readonly unet: UNet2DConditionModel, readonly embedder: ClassEmbedder) {}
  parameters(): Tensor[] {
    return [...this.unet.parameters(), ...this.embedder.parameters()];
  }
  modules(): [string, Module][] {
    return [["unet", this.unet], ["class_embedder", this.embedder]];
  }
}

interface RunState {
  step: number;
  rng: GeneratorState;
  loader: BatchLoaderState;
  settings: TeacherTrainingSettings;
  config: UNet2DConditionConfig;
  elapsedSeconds: number;
}

export interface TeacherTrainingResult {
  step: number;
  interrupted: boolean;
  checkpoint: string;
}

/** Runs (or resumes) a teacher training run; returns when done or interrupted (checkpoint written). */
export async function trainTeacher(run: TeacherTrainingRun): Promise<TeacherTrainingResult> {
  const { config, data, outDir, settings } = run;
  mkdirSync(outDir, { recursive: true });
  const checkpointPath = join(outDir, "checkpoint.safetensors");
  const log = new JsonlLog(join(outDir, "train_log.jsonl"));
  const schedulerConfig = run.schedulerConfig ?? DEFAULT_TEACHER_SCHEDULER;
  const noiseScheduler = createScheduler(schedulerConfig);
  const T = schedulerConfig.num_train_timesteps ?? 1000;
  const prediction = schedulerConfig.prediction_type ?? "epsilon";
  if (config.in_channels !== data.channels) {
    throw new TrainingError(`the UNet config expects ${config.in_channels} input channels but the data has ${data.channels}`);
  }

  const init = new Generator(settings.seed);
  const model = new Denoiser(
    new UNet2DConditionModel(config, init.fork(10)),
    new ClassEmbedder({ _class_name: "ClassEmbedder", num_classes: data.classNames.length, num_tokens: settings.numTokens, cross_attention_dim: config.cross_attention_dim }, init.fork(11)),
  );
  const params = model.parameters();
  const optimizer = new AdamW(params, { lr: settings.lr, weightDecay: settings.weightDecay });
  const schedule = scheduleByName(settings.lrSchedule, settings.lr, settings.warmupSteps, settings.steps);
  const emas = model.modules().map(([name, m]) => [name, new EMA(m, settings.emaDecay)] as const);

  if (run.initFrom !== undefined && !run.resume) {
    const start = loadModelFolder(run.initFrom);
    if (JSON.stringify(start.unet.config) !== JSON.stringify(config) || start.classEmbedder === null) {
      throw new TrainingError(`${run.initFrom}: --init-from needs a model with the same UNet config and a class embedder`);
    }
    model.unet.loadStateDict(start.unet.stateDict(), { source: run.initFrom });
    model.embedder.loadStateDict(start.classEmbedder.stateDict(), { source: run.initFrom });
    for (const [name, ema] of emas) {
      const source = name === "unet" ? start.unet : start.classEmbedder;
      for (const [key, t] of source.stateDict()) ema.shadow.get(key)!.data.set(t.data);
    }
  }

  let rng = new Generator(settings.seed + 1);
  let loader = new BatchLoader(data, settings.batchSize, new Generator(settings.seed + 2));
  let step = 0;
  let elapsedBefore = 0;
  let lastSavedStep: number | null = null;

  if (run.resume) {
    const ckpt = loadCheckpoint(checkpointPath);
    const state = ckpt.state as unknown as RunState;
    if (JSON.stringify(state.config) !== JSON.stringify(config)) {
      throw new TrainingError(`${ckpt.path}: the checkpoint was trained with a different UNet config; resume with the original --config or start a new --out folder`);
    }
    for (const [name, module] of model.modules()) module.loadStateDict(withPrefix(ckpt.tensors, `model.${name}`), { source: ckpt.path });
    for (const [name, ema] of emas) {
      for (const [key, t] of withPrefix(ckpt.tensors, `ema.${name}`)) ema.shadow.get(key)!.data.set(t.data);
    }
    optimizer.loadStateDict({ step: state.step, buffers: withPrefix(ckpt.tensors, "optim") });
    rng = Generator.fromState(state.rng);
    loader = BatchLoader.fromState(data, state.loader);
    step = state.step;
    elapsedBefore = state.elapsedSeconds;
    log.truncateAfter(step);
    lastSavedStep = step;
    if (!run.silent) process.stderr.write(`alter: resuming ${outDir} from step ${step} (${ckpt.path})\n`);
  } else {
    log.truncateAfter(0); // a fresh run in an existing folder starts a fresh log
  }

  const writeCheckpoint = (elapsed: number): void => {
    const tensors = new Map<string, Tensor>();
    for (const [name, module] of model.modules()) addPrefixed(tensors, `model.${name}`, module.stateDict());
    for (const [name, ema] of emas) addPrefixed(tensors, `ema.${name}`, ema.shadow);
    addPrefixed(tensors, "optim", optimizer.stateDict().buffers);
    const state: RunState = { step, rng: rng.state(), loader: loader.state(), settings, config, elapsedSeconds: elapsed };
    saveRunCheckpoint(checkpointPath, { tensors, state: state as unknown as Record<string, unknown> }, lastSavedStep);
    lastSavedStep = step;
  };

  // The model folder always holds the EMA weights of the latest checkpoint, so a long run can be
  // used (sampled, compressed) while it continues.
  const exportModel = (): void => {
    const exportUnet = new UNet2DConditionModel(config);
    const exportEmbedder = new ClassEmbedder(model.embedder.config);
    emas[0][1].copyTo(exportUnet);
    emas[1][1].copyTo(exportEmbedder);
    try {
      saveModelFolder(outDir, {
        unet: exportUnet,
        classEmbedder: exportEmbedder,
        schedulerConfig: schedulerConfig as unknown as Record<string, unknown>,
        index: { alter_training: { kind: "teacher", step, settings, finished: step >= settings.steps, train_seconds: Math.round(elapsed()) } },
      });
    } catch (err) {
      if (!(err instanceof OutputError) || lastSavedStep === null) throw err;
      throw new OutputError(`${err.message}; the checkpoint of step ${lastSavedStep} (${checkpointPath}) is complete: fix the problem, then run the same command with --resume`, err.code);
    }
  };

  const interrupt = new InterruptFlag().install(() => {
    if (!run.silent) process.stderr.write("\nalter: interrupt received, writing a checkpoint at the end of this step (Ctrl-C again to quit without one)\n");
  });
  const progress = new ProgressBar({ total: settings.steps, start: step, label: "train-teacher", unit: "img", itemsPerTick: settings.batchSize, silent: run.silent });
  const startTime = Date.now();
  const elapsed = (): number => elapsedBefore + (Date.now() - startTime) / 1000;
  let interrupted = false;

  try {
    while (step < settings.steps) {
      optimizer.lr = schedule(step);
      const { loss, gradNorm } = scope(() => {
        const batch = loader.next();
        const B = batch.images.shape[0];
        const timesteps = rng.randint(B, 0, T);
        const noise = Tensor.randn(batch.images.shape, rng);
        const labels = batch.labels.i32.slice();
        const drop = rng.uniform(B);
        for (let i = 0; i < B; i++) if (drop[i] < settings.labelDropout) labels[i] = model.embedder.nullLabel;
        const noisy = noiseScheduler.addNoise(batch.images, noise, timesteps);
        const target = prediction === "v_prediction" ? noiseScheduler.getVelocity(batch.images, noise, timesteps) : noise;
        optimizer.zeroGrad();
        const context = model.embedder.forward(Tensor.int32(labels));
        let loss = mseLoss(model.unet.forward(noisy, timesteps, context), target);
        if (faults.nanLossStep === step + 1) loss = loss.mul(NaN);
        const lossValue = loss.item();
        if (!Number.isFinite(lossValue)) return { loss: lossValue, gradNorm: NaN };
        loss.backward();
        injectGradientFault(step + 1, params);
        const gradNorm = clipGradNorm(params, settings.gradClip);
        if (Number.isFinite(gradNorm)) optimizer.step();
        if (faults.slowStepMs > 0) sleepSync(faults.slowStepMs);
        return { loss: lossValue, gradNorm };
      });
      if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
        const what = !Number.isFinite(loss) ? `the loss is ${loss}` : `the gradient norm is ${gradNorm}`;
        throw new TrainingError(
          `step ${step + 1}: ${what} (denoising MSE); nothing was updated. ` +
            (lastSavedStep === null
              ? "No checkpoint was written yet: start again with a lower --lr or --grad-clip"
              : `Resume from the last checkpoint (${checkpointPath}, step ${lastSavedStep}) with --resume and a lower --lr or --grad-clip`),
        );
      }
      noGrad(() => emas.forEach(([, ema]) => ema.update(step)));
      step++;
      if (step % settings.logEvery === 0 || step === settings.steps) {
        log.append({ step, loss, grad_norm: gradNorm, lr: optimizer.lr, elapsed_s: Number(elapsed().toFixed(1)), rss_mib: residentMiB() });
      }
      progress.tick(1, { loss: loss.toFixed(4) });
      if (step % settings.checkpointEvery === 0 || step === settings.steps) {
        writeCheckpoint(elapsed());
        exportModel();
      }
      await yieldToEventLoop();
      if (interrupt.requested) {
        if (step % settings.checkpointEvery !== 0) writeCheckpoint(elapsed());
        interrupted = true;
        break;
      }
    }
  } finally {
    progress.done();
    interrupt.release();
  }

  exportModel();
  return { step, interrupted, checkpoint: checkpointPath };
}


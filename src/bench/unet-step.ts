/**
 * @file The UNet-step benchmark (`alter bench unet-step`): what layer skipping saves in training.
 * After the plan freezes, every `alter prune` step runs the student on a batch whose samples have
 * their own hard masks. The blend (MaskedExecutor) computes every layer for every sample and
 * multiplies pruned ones by 0; subset execution (SubsetExecutor) runs each layer only on the
 * samples that keep it. Both are timed here on the same model, batch and masks (forward, the
 * distillation losses and backward; median of repeats), next to the teacher's forward, which
 * every step also pays, and the share of the student's MACs the masks keep.
 */
import { kernels } from "../engine/kernels/index.js";
import { Generator, Tensor, noGrad } from "../engine/index.js";
import { layerIndex, MaskedExecutor, SubsetExecutor } from "../alter/masked.js";
import { prunableLayers, prunableShare } from "../alter/layers.js";
import { featureDistillation, outputDistillation } from "../alter/losses.js";
import { checkPlanMatchesModel, keptFractions, maskAt, readPlan } from "../alter/plan.js";
import { ConfigError } from "../models/config.js";
import { cloneUNet, loadModelFolder } from "../models/pretrained.js";
import { median, time } from "./timing.js";

export interface UNetStepOptions {
  /** A model folder with a class embedder (the shipped teacher). */
  model: string;
  /** An alter_plan.json whose experts and router give the masks; default: random masks. */
  plan?: string;
  batch?: number;
  repeats?: number;
  /** Without a plan: the chance that a sample keeps a prunable layer. */
  keep?: number;
  seed?: number;
}

export interface UNetStepResult {
  threads: number;
  batch: number;
  masks: string;
  /** Mean over the batch of the kept share of the student's MACs. */
  kept_macs: number;
  teacher_forward_ms: number;
  blend_ms: number;
  subset_ms: number;
  /** subset / blend. */
  ratio: number;
}

export function runUNetStepBenchmark(options: UNetStepOptions): UNetStepResult {
  const batch = options.batch ?? 16, repeats = options.repeats ?? 10, keep = options.keep ?? 0.55;
  const folder = loadModelFolder(options.model);
  if (folder.classEmbedder === null) throw new ConfigError(`${options.model}: no class_embedder/; the benchmark needs a class-conditional model such as models/fmnist-teacher`);
  const teacher = folder.unet.requiresGrad(false).eval();
  const student = cloneUNet(teacher).train();
  const size = student.config.sample_size, tokens = folder.classEmbedder.config.num_tokens;
  const macs = student.countMacs(size, size, tokens);
  const layers = prunableLayers(student, macs);
  const { totalMacs } = prunableShare(layers, macs);
  const index = layerIndex(layers);

  const gen = new Generator(options.seed ?? 0);
  const timesteps = Array.from(gen.randint(batch, 0, 1000));
  let rows: number[][];
  let masksLabel: string;
  if (options.plan !== undefined) {
    const plan = readPlan(options.plan);
    checkPlanMatchesModel(plan, layers, options.plan);
    rows = timesteps.map((t) => maskAt(plan, t));
    masksLabel = `${options.plan} at ${batch} random timesteps`;
  } else {
    rows = timesteps.map(() => Array.from(gen.uniform(layers.length), (u) => (u < keep ? 1 : 0)));
    masksLabel = `random, each layer kept with probability ${keep}`;
  }
  const keptMacs = rows.reduce((s, r) => s + keptFractions(r, layers, totalMacs).total, 0) / batch;
  const masks = Tensor.from(rows.flat(), [batch, layers.length]);

  const channels = student.config.in_channels;
  const x = Tensor.randn([batch, size, size, channels], gen);
  const labels = Tensor.int32(Array.from(gen.randint(batch, 0, 10)));
  const context = noGrad(() => folder.classEmbedder!.forward(labels));
  const teacherFeatures: Tensor[] = [];
  const teacherOut = noGrad(() => teacher.forward(x, timesteps, context, { features: teacherFeatures }));

  const teacherForward = time(() => void noGrad(() => teacher.forward(x, timesteps, context)), repeats, 1);
  // A new executor per step, as in training (SubsetExecutor caches each layer's rows for one step).
  const studentStep = (Executor: typeof MaskedExecutor | typeof SubsetExecutor) => () => {
    const executor = new Executor(index, masks);
    for (const p of student.parameters()) p.grad = null;
    const features: Tensor[] = [];
    const out = student.forward(x, timesteps, context, { executor, features });
    outputDistillation(out, teacherOut).add(featureDistillation(features, teacherFeatures, true)).backward();
  };
  // Alternated, so that a noisy machine slows both alike.
  const blend: number[] = [], subset: number[] = [];
  for (let i = 0; i < 3; i++) {
    blend.push(time(studentStep(MaskedExecutor), Math.ceil(repeats / 3), 1));
    subset.push(time(studentStep(SubsetExecutor), Math.ceil(repeats / 3), 1));
  }
  const blendMs = median(blend), subsetMs = median(subset);
  return { threads: kernels.numThreads(), batch, masks: masksLabel, kept_macs: keptMacs, teacher_forward_ms: teacherForward, blend_ms: blendMs, subset_ms: subsetMs, ratio: subsetMs / blendMs };
}

/**
 * @file The in-domain feature extractor for evaluation: a small CNN trained on Fashion-MNIST whose
 * penultimate layer (the 128-d output of `fc1`, before its ReLU) stands in for Inception's pool3 in
 * Fréchet distance and KID, and whose predictions give the class accuracy of class-conditional
 * samples. Inception and CLIP weights cannot be fetched on the project's machines; an in-domain
 * classifier (cf. the "Fréchet LeNet Distance") is trainable here in a few minutes.
 *
 * Architecture (channels-last input [N, 32, 32, 1] in [-1, 1], the layout of data/fashion-mnist.ts):
 *   (default widths c1, c2, c3 = 24, 48, 96: about 90k parameters, a few minutes per epoch on a shared CPU)
 *   conv1 3x3 1->c1, GN, ReLU        32x32
 *   conv2 3x3 c1->c1, GN, ReLU, avgpool2 -> 16x16
 *   conv3 3x3 c1->c2, GN, ReLU
 *   conv4 3x3 c2->c2, GN, ReLU, avgpool2 -> 8x8
 *   conv5 3x3 c2->c3, GN, ReLU, avgpool2 -> 4x4, flatten -> [N, 16*c3]
 *   fc1   Linear(16*c3 -> feature_dim)         <- features() (pre-activation)
 *   ReLU, dropout, fc2 Linear(feature_dim -> num_classes) <- logits()
 *
 * A model folder holds config.json and model.safetensors (and, for the shipped model, metrics.json).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { noGrad } from "../engine/autograd.js";
import { scope } from "../engine/memory.js";
import { Generator } from "../engine/rng.js";
import { Tensor } from "../engine/tensor.js";
import { crossEntropy } from "../engine/ops/loss.js";
import { avgPool2d } from "../engine/ops/resample.js";
import type { Dataset } from "../data/fashion-mnist.js";
import { BatchLoader } from "../data/loader.js";
import { Module } from "../nn/module.js";
import { Conv2d, Dropout, GroupNorm, Linear } from "../nn/layers.js";
import { AdamW, clipGradNorm } from "../nn/optim.js";
import { cosineWithWarmup } from "../nn/schedule.js";
import { loadWeights, saveWeights } from "../models/pretrained.js";
import { writeJsonAtomic } from "../util/atomic.js";
import { ProgressBar } from "../util/progress.js";

export const CLASSIFIER_CONFIG_NAME = "config.json";
export const CLASSIFIER_WEIGHTS_NAME = "model.safetensors";
export const CLASSIFIER_METRICS_NAME = "metrics.json";

export interface FashionClassifierConfig {
  _class_name: "FashionClassifier";
  /** Square input size (32 for padded Fashion-MNIST); must be divisible by 8. */
  image_size: number;
  in_channels: number;
  /** Widths of the three convolution stages [c1, c2, c3]. */
  channels: [number, number, number];
  /** GroupNorm groups (must divide every width). */
  norm_groups: number;
  /** Width of the penultimate layer: the embedding used by Fréchet distance and KID. */
  feature_dim: number;
  num_classes: number;
  dropout: number;
}

export const DEFAULT_CLASSIFIER_CONFIG: Readonly<FashionClassifierConfig> = Object.freeze({
  _class_name: "FashionClassifier",
  image_size: 32,
  in_channels: 1,
  channels: [24, 48, 96] as [number, number, number],
  norm_groups: 8,
  feature_dim: 128,
  num_classes: 10,
  dropout: 0.2,
});

export class ClassifierConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

function positiveInt(raw: Record<string, unknown>, key: string, source: string): number {
  const v = raw[key];
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
    throw new ClassifierConfigError(`${source}: field "${key}" must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** Validates a parsed config.json (throws ClassifierConfigError naming the bad field). */
export function parseClassifierConfig(raw: unknown, source = "classifier config"): FashionClassifierConfig {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new ClassifierConfigError(`${source}: expected a JSON object`);
  }
  const r = raw as Record<string, unknown>;
  if (r._class_name !== "FashionClassifier") {
    throw new ClassifierConfigError(`${source}: _class_name must be "FashionClassifier", got ${JSON.stringify(r._class_name)}`);
  }
  const ch = r.channels;
  if (!Array.isArray(ch) || ch.length !== 3 || !ch.every((c) => typeof c === "number" && Number.isInteger(c) && c >= 1)) {
    throw new ClassifierConfigError(`${source}: field "channels" must be three positive integers, got ${JSON.stringify(ch)}`);
  }
  const config: FashionClassifierConfig = {
    _class_name: "FashionClassifier",
    image_size: positiveInt(r, "image_size", source),
    in_channels: positiveInt(r, "in_channels", source),
    channels: [ch[0], ch[1], ch[2]] as [number, number, number],
    norm_groups: positiveInt(r, "norm_groups", source),
    feature_dim: positiveInt(r, "feature_dim", source),
    num_classes: positiveInt(r, "num_classes", source),
    dropout: typeof r.dropout === "number" ? r.dropout : NaN,
  };
  if (!(config.dropout >= 0 && config.dropout < 1)) {
    throw new ClassifierConfigError(`${source}: field "dropout" must be a number in [0, 1), got ${JSON.stringify(r.dropout)}`);
  }
  if (config.image_size % 8 !== 0) {
    throw new ClassifierConfigError(`${source}: image_size ${config.image_size} must be divisible by 8 (three 2x poolings)`);
  }
  for (const c of config.channels) {
    if (c % config.norm_groups !== 0) {
      throw new ClassifierConfigError(`${source}: norm_groups ${config.norm_groups} does not divide channel width ${c}`);
    }
  }
  return config;
}

/** conv 3x3 (padding 1) -> GroupNorm -> ReLU. */
class ConvBlock extends Module {
  conv: Conv2d;
  norm: GroupNorm;

  constructor(inChannels: number, outChannels: number, groups: number, generator: Generator) {
    super();
    this.conv = new Conv2d(inChannels, outChannels, 3, { padding: 1, generator });
    this.norm = new GroupNorm(groups, outChannels);
  }

  forward(x: Tensor): Tensor {
    return this.norm.forward(this.conv.forward(x)).relu();
  }
}

export class FashionClassifier extends Module {
  readonly #config: FashionClassifierConfig;
  block1: ConvBlock;
  block2: ConvBlock;
  block3: ConvBlock;
  block4: ConvBlock;
  block5: ConvBlock;
  fc1: Linear;
  fc2: Linear;
  drop: Dropout;

  constructor(config: Partial<FashionClassifierConfig> = {}, options: { seed?: number } = {}) {
    super();
    const c = parseClassifierConfig({ ...DEFAULT_CLASSIFIER_CONFIG, ...config });
    this.#config = c;
    const root = new Generator(options.seed ?? 0);
    const g = (i: number): Generator => root.fork(i);
    const [c1, c2, c3] = c.channels, G = c.norm_groups;
    this.block1 = new ConvBlock(c.in_channels, c1, G, g(1));
    this.block2 = new ConvBlock(c1, c1, G, g(2));
    this.block3 = new ConvBlock(c1, c2, G, g(3));
    this.block4 = new ConvBlock(c2, c2, G, g(4));
    this.block5 = new ConvBlock(c2, c3, G, g(5));
    const cells = (c.image_size / 8) ** 2;
    this.fc1 = new Linear(c3 * cells, c.feature_dim, { generator: g(6) });
    this.fc2 = new Linear(c.feature_dim, c.num_classes, { generator: g(7) });
    this.drop = new Dropout(c.dropout, g(8));
  }

  get config(): FashionClassifierConfig {
    return { ...this.#config, channels: [...this.#config.channels] as [number, number, number] };
  }

  #checkInput(x: Tensor): void {
    const c = this.#config;
    if (x.rank !== 4 || x.shape[1] !== c.image_size || x.shape[2] !== c.image_size || x.shape[3] !== c.in_channels) {
      throw new Error(
        `FashionClassifier: expected channels-last images [N, ${c.image_size}, ${c.image_size}, ${c.in_channels}] in [-1, 1], got [${x.shape.join(", ")}]`,
      );
    }
  }

  /** The penultimate embedding [N, feature_dim] (fc1 before its ReLU), used for Fréchet distance / KID. */
  features(x: Tensor): Tensor {
    this.#checkInput(x);
    let h = this.block1.forward(x);
    h = avgPool2d(this.block2.forward(h), 2);
    h = this.block3.forward(h);
    h = avgPool2d(this.block4.forward(h), 2);
    h = avgPool2d(this.block5.forward(h), 2);
    return this.fc1.forward(h.reshape([h.shape[0]!, -1]));
  }

  /** Class logits from features (ReLU, dropout in training mode, fc2). */
  head(features: Tensor): Tensor {
    return this.fc2.forward(this.drop.forward(features.relu()));
  }

  /** Class logits [N, num_classes]. */
  logits(x: Tensor): Tensor {
    return this.head(this.features(x));
  }

  forward(x: Tensor): Tensor {
    return this.logits(x);
  }

  /** Writes config.json and model.safetensors into dir (each atomically). */
  save(dir: string): void {
    writeJsonAtomic(join(dir, CLASSIFIER_CONFIG_NAME), this.config);
    saveWeights(this, join(dir, CLASSIFIER_WEIGHTS_NAME), { format: "pt", class_name: "FashionClassifier" });
  }

  /** Reads a folder written by save(); the model comes back in eval mode. */
  static load(dir: string): FashionClassifier {
    const configPath = join(dir, CLASSIFIER_CONFIG_NAME);
    if (!existsSync(configPath)) {
      throw new ClassifierConfigError(`${configPath}: classifier config not found; train one with \`alter train-classifier --out ${dir}\``);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(configPath, "utf8"));
    } catch (err) {
      throw new ClassifierConfigError(`${configPath}: not valid JSON (${(err as Error).message})`);
    }
    const model = new FashionClassifier(parseClassifierConfig(raw, configPath));
    loadWeights(model, join(dir, CLASSIFIER_WEIGHTS_NAME));
    return model.eval();
  }
}

// ---- batched inference -----------------------------------------------------------------------------

function imageCount(classifier: FashionClassifier, images: Float32Array): number {
  const c = classifier.config;
  const item = c.image_size * c.image_size * c.in_channels;
  if (images.length % item !== 0) {
    throw new Error(`embedImages: ${images.length} values are not a whole number of ${c.image_size}x${c.image_size}x${c.in_channels} images`);
  }
  return images.length / item;
}

/** Runs fn on each batch of images (eval mode, no gradients, memory released per batch). */
function forEachBatch(
  classifier: FashionClassifier,
  images: Float32Array,
  batch: number,
  fn: (x: Tensor, start: number, count: number) => void,
): number {
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`batch must be a positive integer, got ${batch}`);
  const c = classifier.config;
  const item = c.image_size * c.image_size * c.in_channels;
  const n = imageCount(classifier, images);
  const wasTraining = classifier.training;
  classifier.eval();
  try {
    noGrad(() => {
      for (let start = 0; start < n; start += batch) {
        const b = Math.min(batch, n - start);
        scope(() => {
          // A copy: the engine's pool may recycle the wrapped buffer when the tensor is disposed.
          const x = Tensor.wrap(images.slice(start * item, (start + b) * item), [b, c.image_size, c.image_size, c.in_channels]);
          fn(x, start, b);
        });
      }
    });
  } finally {
    classifier.train(wasTraining);
  }
  return n;
}

/** Penultimate features of images ([N, 32, 32, 1] in [-1, 1]) as a row-major Float32Array [N, feature_dim]. */
export function embedImages(classifier: FashionClassifier, images: Float32Array, batch = 256): Float32Array {
  const D = classifier.config.feature_dim;
  const out = new Float32Array(imageCount(classifier, images) * D);
  forEachBatch(classifier, images, batch, (x, start) => {
    out.set(classifier.features(x).f32, start * D);
  });
  return out;
}

/** Predicted class ids (argmax of the logits). */
export function predictLabels(classifier: FashionClassifier, images: Float32Array, batch = 256): Int32Array {
  const out = new Int32Array(imageCount(classifier, images));
  const K = classifier.config.num_classes;
  forEachBatch(classifier, images, batch, (x, start, b) => {
    const logits = classifier.logits(x).f32;
    for (let i = 0; i < b; i++) {
      let best = 0;
      for (let k = 1; k < K; k++) if (logits[i * K + k]! > logits[i * K + best]!) best = k;
      out[start + i] = best;
    }
  });
  return out;
}

/** Fraction of images whose predicted class equals the label. */
export function classifierAccuracy(classifier: FashionClassifier, images: Float32Array, labels: Int32Array, batch = 256): number {
  const predicted = predictLabels(classifier, images, batch);
  if (predicted.length !== labels.length) throw new Error(`accuracy: ${predicted.length} images but ${labels.length} labels`);
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) correct++;
  return labels.length === 0 ? 0 : correct / labels.length;
}

// ---- augmentation ----------------------------------------------------------------------------------

/**
 * Light augmentation in place on a batch [B, H, W, C]: a random horizontal flip (clothing is
 * left-right symmetric enough) and a random integer shift of up to `maxShift` pixels in each
 * direction, filling with the background value -1.
 */
export function augmentBatch(images: Float32Array, b: number, h: number, w: number, c: number, generator: Generator, maxShift = 2, flip = true): void {
  const shifts = generator.randint(b * 2, -maxShift, maxShift + 1);
  const flips = generator.randint(b, 0, 2);
  const item = h * w * c;
  const tmp = new Float32Array(item);
  for (let n = 0; n < b; n++) {
    const dy = shifts[2 * n]!, dx = shifts[2 * n + 1]!;
    const mirror = flip && flips[n] === 1;
    if (dy === 0 && dx === 0 && !mirror) continue;
    const base = n * item;
    tmp.set(images.subarray(base, base + item));
    for (let y = 0; y < h; y++) {
      const sy = y - dy;
      for (let x = 0; x < w; x++) {
        const sxShift = x - dx;
        const sx = mirror ? w - 1 - sxShift : sxShift;
        const d = base + (y * w + x) * c;
        if (sy < 0 || sy >= h || sxShift < 0 || sxShift >= w) {
          for (let k = 0; k < c; k++) images[d + k] = -1;
        } else {
          const s = (sy * w + sx) * c;
          for (let k = 0; k < c; k++) images[d + k] = tmp[s + k]!;
        }
      }
    }
  }
}

// ---- training --------------------------------------------------------------------------------------

export interface ClassifierTrainingOptions {
  train: Dataset;
  /** Evaluated after each epoch and at the end (optional: without it the result has no accuracy). */
  test?: Dataset;
  /** Where to save the model after each epoch and at the end (atomic writes); none when omitted. */
  outDir?: string;
  config?: Partial<FashionClassifierConfig>;
  epochs?: number;
  /** Overrides epochs: train exactly this many optimizer steps (smoke tests). */
  maxSteps?: number;
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  warmupSteps?: number;
  gradClip?: number;
  seed?: number;
  augment?: boolean;
  /** Silence the progress bar. */
  silent?: boolean;
  /** Called after each epoch (test accuracy is NaN without a test set). */
  onEpoch?: (info: { epoch: number; trainLoss: number; trainAccuracy: number; testAccuracy: number; seconds: number }) => void;
}

export interface ClassifierTrainingResult {
  model: FashionClassifier;
  /** Final test accuracy (NaN when no test set was given). */
  testAccuracy: number;
  steps: number;
  epochs: number;
  /** Wall-clock seconds of training and evaluation. */
  seconds: number;
  /** Mean loss of the last epoch (or of all steps with maxSteps). */
  finalLoss: number;
  losses: number[];
}

export const DEFAULT_CLASSIFIER_TRAINING = Object.freeze({
  epochs: 4,
  batchSize: 128,
  lr: 3e-3,
  weightDecay: 0.05,
  gradClip: 5,
  seed: 0,
});

/** Trains a FashionClassifier with AdamW, linear warmup + cosine decay and light augmentation. */
export function trainClassifier(options: ClassifierTrainingOptions): ClassifierTrainingResult {
  const d = DEFAULT_CLASSIFIER_TRAINING;
  const batchSize = options.batchSize ?? d.batchSize;
  const seed = options.seed ?? d.seed;
  const data = options.train;
  const model = new FashionClassifier(options.config ?? {}, { seed });
  const c = model.config;
  if (data.height !== c.image_size || data.width !== c.image_size || data.channels !== c.in_channels) {
    throw new Error(`trainClassifier: the data is ${data.height}x${data.width}x${data.channels}, the model expects ${c.image_size}x${c.image_size}x${c.in_channels}`);
  }
  const root = new Generator(seed);
  const loader = new BatchLoader(data, batchSize, root.fork(100), { dropLast: data.count >= batchSize });
  const augmentRng = root.fork(101);
  const perEpoch = loader.batchesPerEpoch;
  const totalSteps = options.maxSteps ?? perEpoch * (options.epochs ?? d.epochs);
  const epochs = options.maxSteps !== undefined ? Math.ceil(options.maxSteps / perEpoch) : (options.epochs ?? d.epochs);
  const warmup = options.warmupSteps ?? Math.min(200, Math.floor(totalSteps / 10));
  const schedule = cosineWithWarmup(options.lr ?? d.lr, warmup, totalSteps, 0);
  const params = model.parameters();
  const optimizer = new AdamW(params, { lr: options.lr ?? d.lr, weightDecay: options.weightDecay ?? d.weightDecay });
  const gradClip = options.gradClip ?? d.gradClip;
  const augment = options.augment ?? true;
  const started = Date.now();
  const bar = new ProgressBar({ total: totalSteps, label: "train-classifier", unit: "img", itemsPerTick: batchSize, silent: options.silent ?? false, logEverySeconds: 20 });
  const losses: number[] = [];
  let testAccuracy = NaN;
  let epochLoss = 0, epochCorrect = 0, epochSeen = 0, epochSteps = 0;
  model.train();
  for (let step = 0; step < totalSteps; step++) {
    optimizer.lr = schedule(step);
    const { loss, correct, count } = scope(() => {
      const batch = loader.next();
      const [b, h, w, ch] = batch.images.shape as [number, number, number, number];
      if (augment) augmentBatch(batch.images.f32, b, h, w, ch, augmentRng);
      optimizer.zeroGrad();
      const logits = model.logits(batch.images);
      const lossT = crossEntropy(logits, batch.labels);
      lossT.backward();
      clipGradNorm(params, gradClip);
      optimizer.step();
      const K = logits.shape[1]!, lv = logits.f32, labels = batch.labels.i32;
      let right = 0;
      for (let i = 0; i < b; i++) {
        let best = 0;
        for (let k = 1; k < K; k++) if (lv[i * K + k]! > lv[i * K + best]!) best = k;
        if (best === labels[i]) right++;
      }
      return { loss: lossT.item(), correct: right, count: b };
    });
    optimizer.zeroGrad();
    if (!Number.isFinite(loss)) {
      bar.done();
      const err = new Error(`trainClassifier: the loss became ${loss} at step ${step}; lower --lr`);
      err.name = "TrainingError";
      throw err;
    }
    losses.push(loss);
    epochLoss += loss;
    epochCorrect += correct;
    epochSeen += count;
    epochSteps++;
    bar.tick(1, { loss: loss.toFixed(4), lr: optimizer.lr.toExponential(2) });
    const endOfEpoch = (step + 1) % perEpoch === 0 || step + 1 === totalSteps;
    if (endOfEpoch) {
      const epoch = Math.ceil((step + 1) / perEpoch);
      if (options.test !== undefined) {
        testAccuracy = classifierAccuracy(model, options.test.images, options.test.labels);
        model.train();
      }
      if (options.outDir !== undefined) model.save(options.outDir);
      options.onEpoch?.({
        epoch,
        trainLoss: epochLoss / epochSteps,
        trainAccuracy: epochCorrect / epochSeen,
        testAccuracy,
        seconds: (Date.now() - started) / 1000,
      });
      if (step + 1 < totalSteps) {
        epochLoss = 0;
        epochCorrect = 0;
        epochSeen = 0;
        epochSteps = 0;
      }
    }
  }
  bar.done();
  model.eval();
  return {
    model,
    testAccuracy,
    steps: totalSteps,
    epochs,
    seconds: (Date.now() - started) / 1000,
    finalLoss: epochSteps > 0 ? epochLoss / epochSteps : NaN,
    losses,
  };
}

/** Writes metrics.json next to a saved classifier. */
export function writeClassifierMetrics(dir: string, metrics: Record<string, unknown>): void {
  writeJsonAtomic(join(dir, CLASSIFIER_METRICS_NAME), metrics);
}

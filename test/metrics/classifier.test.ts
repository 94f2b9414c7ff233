// The shipped Fashion-MNIST feature extractor (models/fmnist-classifier): shapes, accuracy on the
// committed test slice, determinism, a save/load round trip, and a tiny training smoke test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadFashionMnist, type Dataset } from "../../src/data/fashion-mnist.js";
import { Tensor } from "../../src/engine/tensor.js";
import { noGrad } from "../../src/engine/autograd.js";
import { Generator } from "../../src/engine/rng.js";
import {
  augmentBatch,
  classifierAccuracy,
  embedImages,
  FashionClassifier,
  parseClassifierConfig,
  predictLabels,
  trainClassifier,
} from "../../src/metrics/classifier.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const modelDir = join(root, "models", "fmnist-classifier");
const sliceDir = join(root, "data", "fashion-mnist-slice");
const IMAGE = 32 * 32;

const slice = loadFashionMnist(sliceDir, "test");
const classifier = FashionClassifier.load(modelDir);

test("the shipped classifier folder is complete and small", () => {
  for (const f of ["config.json", "model.safetensors", "metrics.json"]) assert.ok(existsSync(join(modelDir, f)), `${f} missing`);
  const metrics = JSON.parse(readFileSync(join(modelDir, "metrics.json"), "utf8")) as Record<string, unknown>;
  assert.equal(typeof metrics.test_accuracy, "number");
  assert.ok((metrics.test_accuracy as number) >= 0.92, `full-test accuracy ${String(metrics.test_accuracy)} < 0.92`);
  assert.equal(metrics.test_images, 10000);
  for (const key of ["train_seconds", "epochs", "command", "date"]) assert.ok(key in metrics, `metrics.json lacks ${key}`);
  assert.ok(classifier.numParameters() * 4 < 2 * 1024 * 1024, "weights must stay under 2 MB");
  assert.equal(classifier.config.feature_dim, 128);
  assert.equal(classifier.training, false, "load() returns an eval-mode model");
});

test("features are [N, 128] and finite; logits are [N, 10]", () => {
  const x = Tensor.wrap(slice.images.slice(0, 8 * IMAGE), [8, 32, 32, 1]);
  const { f, l } = noGrad(() => ({ f: classifier.features(x), l: classifier.logits(x) }));
  assert.deepEqual(f.shape, [8, 128]);
  assert.deepEqual(l.shape, [8, 10]);
  assert.ok(f.f32.every(Number.isFinite));
  const emb = embedImages(classifier, slice.images.subarray(0, 8 * IMAGE), 3);
  assert.equal(emb.length, 8 * 128);
  // Batched embedding agrees with one forward pass (batch size does not change the result).
  for (let i = 0; i < emb.length; i++) assert.ok(Math.abs(emb[i]! - f.f32[i]!) < 1e-4, `feature ${i} differs`);
});

test("accuracy on the committed 1000-image test slice is at least 90%", () => {
  const acc = classifierAccuracy(classifier, slice.images, slice.labels, 250);
  assert.ok(acc >= 0.9, `slice accuracy ${acc}`);
  const predicted = predictLabels(classifier, slice.images.subarray(0, 20 * IMAGE), 7);
  assert.equal(predicted.length, 20);
  assert.ok(predicted.every((p) => p >= 0 && p < 10));
});

test("features are deterministic and survive a save/load round trip", () => {
  const images = slice.images.subarray(0, 32 * IMAGE);
  const a = embedImages(classifier, images, 16);
  const b = embedImages(classifier, images, 16);
  assert.deepEqual(a, b);
  const dir = mkdtempSync(join(tmpdir(), "alter-classifier-"));
  try {
    classifier.save(dir);
    const c = embedImages(FashionClassifier.load(dir), images, 16);
    assert.deepEqual(c, a);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bad inputs and configs are refused with a clear message", () => {
  assert.throws(() => noGrad(() => classifier.features(Tensor.zeros([2, 28, 28, 1]))), /expected channels-last images \[N, 32, 32, 1\]/);
  assert.throws(() => embedImages(classifier, new Float32Array(1000)), /not a whole number/);
  assert.throws(() => parseClassifierConfig({ ...classifier.config, norm_groups: 5 }), /norm_groups/);
  assert.throws(() => parseClassifierConfig({ ...classifier.config, _class_name: "UNet" }), /_class_name/);
});

test("augmentation keeps shape and range, and is the identity at zero shift without flips", () => {
  const images = slice.images.slice(0, 4 * IMAGE);
  augmentBatch(images, 4, 32, 32, 1, new Generator(3));
  assert.ok(images.every((v) => v >= -1 && v <= 1));
  const same = slice.images.slice(0, 4 * IMAGE);
  augmentBatch(same, 4, 32, 32, 1, new Generator(3), 0, false);
  assert.deepEqual(same, slice.images.slice(0, 4 * IMAGE));
});

test("training smoke test: 2 steps on 64 images give a finite loss", () => {
  const n = 64;
  const tiny: Dataset = { ...slice, images: slice.images.slice(0, n * IMAGE), labels: slice.labels.slice(0, n), count: n };
  const result = trainClassifier({ train: tiny, maxSteps: 2, batchSize: 32, config: { channels: [8, 8, 16] }, silent: true });
  assert.equal(result.steps, 2);
  assert.equal(result.losses.length, 2);
  assert.ok(result.losses.every(Number.isFinite), `losses ${result.losses}`);
  assert.ok(Number.isNaN(result.testAccuracy));
  assert.deepEqual(embedImages(result.model, tiny.images.subarray(0, 2 * IMAGE)).length, 2 * 128);
});

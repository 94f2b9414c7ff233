/**
 * alter eval on tiny models: every column is filled, the dense 50-step row is its own reference, an
 * ALTER model reports fewer MACs than the dense model at the same steps, and the Markdown table has
 * a row per (model, steps).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseUNetConfig } from "../../src/models/config.js";
import { loadFashionMnist } from "../../src/data/fashion-mnist.js";
import { DEFAULT_TEACHER_SETTINGS, trainTeacher } from "../../src/diffusion/train-teacher.js";
import { loadModelFolder } from "../../src/models/pretrained.js";
import { DEFAULT_PRUNE_SETTINGS, trainPruned } from "../../src/alter/train.js";
import { FashionClassifier } from "../../src/metrics/classifier.js";
import { evaluate, markdownTable } from "../../src/eval/evaluate.js";

const ROOT = join(import.meta.dirname, "..", "..");
const data = loadFashionMnist(join(ROOT, "data", "fashion-mnist-slice"), "test");
const config = parseUNetConfig({
  sample_size: 32, in_channels: 1, out_channels: 1, down_block_types: ["DownBlock2D", "CrossAttnDownBlock2D"],
  up_block_types: ["CrossAttnUpBlock2D", "UpBlock2D"], block_out_channels: [8, 16], layers_per_block: 1,
  attention_head_dim: [1, 2], cross_attention_dim: 16, norm_num_groups: 4,
});
const dense = mkdtempSync(join(tmpdir(), "alter-eval-dense-"));
await trainTeacher({ config, data, outDir: dense, settings: { ...DEFAULT_TEACHER_SETTINGS, steps: 2, batchSize: 4, checkpointEvery: 2 }, silent: true });
const pruned = mkdtempSync(join(tmpdir(), "alter-eval-alter-"));
await trainPruned({ teacher: loadModelFolder(dense), data, outDir: pruned, settings: { ...DEFAULT_PRUNE_SETTINGS, ratio: 0.6, experts: 2, steps: 12, hyperSteps: 10, batchSize: 2, lrHyper: 0.05, warmupSteps: 1, checkpointEvery: 100 }, silent: true });

describe("alter eval", () => {
  test("rows for every (model, steps) with every metric filled", () => {
    const rows = evaluate({
      models: [dense, pruned], steps: [50, 10], n: 10, sampler: "ddim", guidance: 2, seed: 1, batch: 5,
      classifier: new FashionClassifier(), real: { ...data, count: 200 }, latencyRepeats: 1, latencyBatch: 2,
    });
    assert.equal(rows.length, 4);
    const [dense50, dense10, alter50, alter10] = rows;
    assert.equal(dense50.ssim, null, "the reference row has no SSIM against itself");
    assert.equal(dense50.macs_vs_dense50, 1);
    assert.ok(Math.abs(dense10.macs_vs_dense50 - 10 / 50) < 1e-9);
    assert.ok(alter50.alter && alter50.macs_per_image_g < dense50.macs_per_image_g);
    assert.ok(alter10.macs_per_image_g < dense10.macs_per_image_g);
    for (const r of rows) {
      for (const key of ["frechet", "kid", "class_accuracy", "latency_ms_b1", "latency_ms_per_image_batch", "speedup_vs_dense50", "per_step_speedup"] as const) {
        assert.ok(Number.isFinite(r[key]), `${key} of ${r.model} at ${r.steps}`);
      }
    }
    assert.ok(dense10.ssim! > -1 && dense10.ssim! <= 1 && Number.isFinite(dense10.psnr!));
    assert.equal(markdownTable(rows).trim().split("\n").length, 6);
  });
});

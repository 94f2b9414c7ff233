/**
 * alter eval on tiny models: every column is filled, the dense 50-step row is its own reference, an
 * ALTER model reports fewer MACs than the dense model at the same steps, and the Markdown table has
 * a row per (model, steps).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseUNetConfig } from "../../src/models/config.js";
import { loadFashionMnist } from "../../src/data/fashion-mnist.js";
import { DEFAULT_TEACHER_SETTINGS, trainTeacher } from "../../src/diffusion/train-teacher.js";
import { loadModelFolder } from "../../src/models/pretrained.js";
import { DEFAULT_PRUNE_SETTINGS, trainPruned } from "../../src/alter/train.js";
import { FashionClassifier } from "../../src/metrics/classifier.js";
import { evaluate, markdownTable, type EvalOptions, type EvalRow } from "../../src/eval/evaluate.js";
import { clearEvalProgress } from "../../src/eval/progress.js";

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

  test("an interrupted evaluation resumes: finished rows and the reference are reused, changed models are evaluated again", () => {
    const dir = mkdtempSync(join(tmpdir(), "alter-eval-progress-"));
    const base: EvalOptions = {
      models: [dense, pruned], steps: [50, 10], n: 6, sampler: "ddim", guidance: 1, seed: 3, batch: 3,
      classifier: new FashionClassifier(), real: { ...data, count: 100 }, latencyRepeats: 1, latencyBatch: 2, progressDir: dir,
    };
    // The first run stops (as if killed) once its third row has started sampling.
    let started = 0;
    assert.throws(() => evaluate({ ...base, onProgress: (_d, _t, label) => {
      if (label.startsWith(pruned) && label.endsWith("50 steps") && ++started === 2) throw new Error("killed");
    } }), /killed/);
    assert.ok(existsSync(join(dir, "eval-progress.json")) && existsSync(join(dir, "eval-reference.f32")));

    const labels: string[] = [];
    let resumed = -1;
    const rows = evaluate({ ...base, onProgress: (_d, _t, label) => labels.push(label), onResume: (n) => (resumed = n) });
    assert.equal(resumed, 2, "the dense model's two rows were finished");
    assert.ok(labels.some((l) => l === "dense 50-step reference (stored)"));
    assert.ok(!labels.some((l) => l === `${dense} 10 steps`), "the dense 10-step row was not sampled again");
    assert.ok(labels.some((l) => l === `${pruned} 50 steps`), "the unfinished rows were evaluated");
    const straight = evaluate({ ...base, progressDir: undefined });
    for (const key of ["frechet", "kid", "class_accuracy", "ssim", "psnr", "macs_per_image_g"] as const) {
      assert.deepEqual(rows.map((r) => r[key]), straight.map((r) => r[key]), `${key}: resumed equals uninterrupted`);
    }

    // A model whose weights changed is evaluated again; other settings reuse nothing.
    const weights = join(pruned, "unet", "diffusion_pytorch_model.safetensors");
    utimesSync(weights, new Date(), new Date(Date.now() + 5000));
    const again: string[] = [];
    evaluate({ ...base, onProgress: (_d, _t, label) => again.push(label) });
    assert.ok(again.includes(`${pruned} 10 steps`) && again.includes(`${dense} 10 steps (stored)`));
    let reused = 0;
    evaluate({ ...base, seed: 4, onResume: (n) => (reused = n) });
    assert.equal(reused, 0);
    // A finished evaluation whose progress was kept (alter eval --keep-progress) grows by a model without redoing the others.
    const grown = mkdtempSync(join(tmpdir(), "alter-eval-grow-"));
    evaluate({ ...base, models: [dense], progressDir: grown });
    const grownLabels: string[] = [];
    let kept = -1;
    const grownRows = evaluate({ ...base, progressDir: grown, onProgress: (_d, _t, label) => grownLabels.push(label), onResume: (n) => (kept = n) });
    assert.equal(kept, 2, "the dense rows of the first evaluation");
    assert.ok(grownLabels.includes(`${dense} 10 steps (stored)`) && grownLabels.includes(`${pruned} 10 steps`));
    assert.deepEqual(grownRows.map((r) => r.frechet), straight.map((r) => r.frechet), "grown equals evaluated at once");
    clearEvalProgress(dir);
    assert.ok(!existsSync(join(dir, "eval-progress.json")) && !existsSync(join(dir, "eval-reference.f32")));
  });

  test("the Markdown table names each pruned row's method, so a Static plan is not labelled ALTER", () => {
    const row = (model: string, method?: string): EvalRow => ({
      model, alter: method !== undefined, ...(method !== undefined ? { method, target_ratio: 0.65, experts: 1 } : {}),
      steps: 20, n: 10, macs_per_image_g: 1, macs_vs_dense50: 0.4, latency_ms_b1: 10, latency_ms_per_image_batch: 5,
      speedup_vs_dense50: 2.5, per_step_speedup: 1, frechet: 4, kid: 0.1, kid_std: 0.01, class_accuracy: 0.9, ssim: 0.9, psnr: 20,
    });
    const lines = markdownTable([row("dense"), row("s", "static"), row("t", "two-stage"), row("a", "alter")]).trim().split("\n").slice(2);
    assert.deepEqual(lines.map((l) => l.split(" | ")[0]), ["| dense", "| s (Static)", "| t (TwoStage)", "| a (ALTER)"]);
  });
});

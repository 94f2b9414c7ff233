/**
 * Teacher training end to end on a tiny UNet: the loss falls, an interrupted-and-resumed run gives
 * bitwise the same weights as an uninterrupted one, and the exported folder loads and samples.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseUNetConfig } from "../../src/models/config.js";
import { loadFashionMnist } from "../../src/data/fashion-mnist.js";
import { DEFAULT_TEACHER_SETTINGS, trainTeacher, type TeacherTrainingSettings } from "../../src/diffusion/train-teacher.js";
import { loadModelFolder } from "../../src/models/pretrained.js";
import { readSafetensors } from "../../src/nn/safetensors.js";
import { sampleImages } from "../../src/diffusion/pipeline.js";
import { createScheduler, validateSchedulerConfig } from "../../src/diffusion/scheduler.js";

const ROOT = join(import.meta.dirname, "..", "..");
const config = parseUNetConfig({
  sample_size: 32, in_channels: 1, out_channels: 1, down_block_types: ["DownBlock2D", "CrossAttnDownBlock2D"],
  up_block_types: ["CrossAttnUpBlock2D", "UpBlock2D"], block_out_channels: [8, 16], layers_per_block: 1,
  attention_head_dim: [1, 2], cross_attention_dim: 16, norm_num_groups: 4,
});
const data = loadFashionMnist(join(ROOT, "data", "fashion-mnist-slice"), "test");
const settings: TeacherTrainingSettings = { ...DEFAULT_TEACHER_SETTINGS, steps: 6, batchSize: 8, lr: 2e-3, warmupSteps: 2, checkpointEvery: 3, logEvery: 1 };

function weights(dir: string): Float32Array[] {
  return [...readSafetensors(join(dir, "unet", "diffusion_pytorch_model.safetensors")).tensors.values()].map((t) => t.data as Float32Array);
}

describe("train-teacher", () => {
  test("resume after an interruption reproduces the uninterrupted run bitwise", async () => {
    const straight = mkdtempSync(join(tmpdir(), "alter-straight-"));
    await trainTeacher({ config, data, outDir: straight, settings, silent: true });
    const resumed = mkdtempSync(join(tmpdir(), "alter-resumed-"));
    await trainTeacher({ config, data, outDir: resumed, settings: { ...settings, steps: 3 }, silent: true });
    await trainTeacher({ config, data, outDir: resumed, settings, resume: true, silent: true });
    const a = weights(straight), b = weights(resumed);
    assert.equal(a.length, b.length);
    a.forEach((t, i) => assert.deepEqual(b[i], t, `tensor ${i} differs`));
    const log = readFileSync(join(resumed, "train_log.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step: number });
    assert.deepEqual(log.map((r) => r.step), [1, 2, 3, 4, 5, 6]);
  });

  test("--lr-schedule cosine warms up, then decays the learning rate to 0 at the last step", async () => {
    const dir = mkdtempSync(join(tmpdir(), "alter-cosine-"));
    await trainTeacher({ config, data, outDir: dir, settings: { ...settings, lrSchedule: "cosine" }, silent: true });
    const lrs = readFileSync(join(dir, "train_log.jsonl"), "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { lr: number }).lr);
    // warmup 2 steps to 2e-3, then cos over the 4 remaining: the logged lr is the one each step used
    const expected = [1e-3, 2e-3, 2e-3, 1e-3 * (1 + Math.cos(Math.PI / 4)), 1e-3, 1e-3 * (1 + Math.cos((3 * Math.PI) / 4))];
    lrs.forEach((lr, i) => assert.ok(Math.abs(lr - expected[i]) < 1e-9, `step ${i + 1}: lr ${lr}, expected ${expected[i]}`));
  });

  test("the exported folder loads and samples with any scheduler", async () => {
    const dir = mkdtempSync(join(tmpdir(), "alter-export-"));
    await trainTeacher({ config, data, outDir: dir, settings: { ...settings, steps: 2 }, silent: true });
    const model = loadModelFolder(dir);
    assert.ok(model.classEmbedder !== null);
    for (const name of ["DDIMScheduler", "DPMSolverMultistepScheduler", "EulerDiscreteScheduler"]) {
      const scheduler = createScheduler(validateSchedulerConfig({ ...model.schedulerConfig, _class_name: name }));
      const { images, modelCalls } = sampleImages(model.unet, model.classEmbedder!, scheduler, { labels: [0, 7], steps: 3, guidance: 2, seed: 1 });
      assert.deepEqual(images.shape, [2, 32, 32, 1]);
      assert.equal(modelCalls, 6);
      assert.ok(images.f32.every(Number.isFinite));
    }
  });

  test("Ctrl-C writes a checkpoint and exits with status 130 and a message", async () => {
    const dir = mkdtempSync(join(tmpdir(), "alter-sigint-"));
    const configPath = join(dir, "config.json");
    writeFileSync(configPath, JSON.stringify(config));
    const out = join(dir, "run");
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src", "cli", "main.ts"), "train-teacher", "--config", configPath,
      "--data", join(ROOT, "data", "fashion-mnist-slice"), "--out", out, "--steps", "100000", "--batch", "4", "--checkpoint-every", "100000"], { cwd: ROOT });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    // Interrupt once training is under way (the log has a record).
    for (let i = 0; i < 200 && !existsSync(join(out, "train_log.jsonl")); i++) await new Promise((r) => setTimeout(r, 100));
    child.kill("SIGINT");
    const code = await exited;
    assert.equal(code, 130, stderr);
    assert.match(stderr, /interrupt received/);
    assert.match(stderr, /Continue with the same command plus --resume/);
    assert.ok(existsSync(join(out, "checkpoint.safetensors")));
    assert.ok(existsSync(join(out, "unet", "diffusion_pytorch_model.safetensors")));
  });
});

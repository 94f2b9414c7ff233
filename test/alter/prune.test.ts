/**
 * ALTER end to end on a tiny UNet: the budget loss drives the kept ratio from 1 to the target, the
 * router uses more than one expert, sampling with the plan really skips layers (fewer layer calls,
 * fewer MACs) and gives the same images as masked training-mode execution, and runs resume.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseUNetConfig } from "../../src/models/config.js";
import { loadFashionMnist } from "../../src/data/fashion-mnist.js";
import { DEFAULT_TEACHER_SETTINGS, trainTeacher } from "../../src/diffusion/train-teacher.js";
import { loadModelFolder } from "../../src/models/pretrained.js";
import { DEFAULT_PRUNE_SETTINGS, focusTimesteps, noiseScale, samplingGrid, trainPruned, type PruneSettings } from "../../src/alter/train.js";
import { loadPlanFor, planExecutors, realisedMacs } from "../../src/alter/inference.js";
import { readPlan, validatePlan, PlanError } from "../../src/alter/plan.js";
import { sampleImages } from "../../src/diffusion/pipeline.js";
import { createScheduler, validateSchedulerConfig } from "../../src/diffusion/scheduler.js";
import { ResnetBlock2D } from "../../src/models/resnet.js";
import { BasicTransformerBlock } from "../../src/models/transformer-2d.js";
import { readSafetensors } from "../../src/nn/safetensors.js";
import { loadCheckpoint } from "../../src/util/checkpoint.js";
import { Generator } from "../../src/engine/rng.js";

const ROOT = join(import.meta.dirname, "..", "..");
const data = loadFashionMnist(join(ROOT, "data", "fashion-mnist-slice"), "test");
const config = parseUNetConfig({
  sample_size: 32, in_channels: 1, out_channels: 1, down_block_types: ["DownBlock2D", "CrossAttnDownBlock2D"],
  up_block_types: ["CrossAttnUpBlock2D", "UpBlock2D"], block_out_channels: [8, 16], layers_per_block: 2,
  attention_head_dim: [1, 2], cross_attention_dim: 16, norm_num_groups: 4,
});
const teacherDir = mkdtempSync(join(tmpdir(), "alter-teacher-"));
await trainTeacher({ config, data, outDir: teacherDir, settings: { ...DEFAULT_TEACHER_SETTINGS, steps: 4, batchSize: 8, checkpointEvery: 4 }, silent: true });

const settings: PruneSettings = {
  ...DEFAULT_PRUNE_SETTINGS, ratio: 0.6, experts: 4, steps: 36, hyperSteps: 30, batchSize: 4, lrHyper: 0.05, hyperLrSchedule: "cosine", warmupSteps: 2,
  noiseAnneal: 0.5, emaDecay: 0.9, checkpointEvery: 12, logEvery: 1,
};

function countLayerCalls(fn: () => void): number {
  let calls = 0;
  const resnet = ResnetBlock2D.prototype.forward, transformer = BasicTransformerBlock.prototype.forward;
  ResnetBlock2D.prototype.forward = function (this: ResnetBlock2D, ...args: Parameters<typeof resnet>) { calls++; return resnet.apply(this, args); };
  BasicTransformerBlock.prototype.forward = function (this: BasicTransformerBlock, ...args: Parameters<typeof transformer>) { calls++; return transformer.apply(this, args); };
  try {
    fn();
  } finally {
    ResnetBlock2D.prototype.forward = resnet;
    BasicTransformerBlock.prototype.forward = transformer;
  }
  return calls;
}

const outDir = mkdtempSync(join(tmpdir(), "alter-prune-"));
const result = await trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir, settings, silent: true });

describe("alter prune (tiny end to end)", () => {
  test("scripts/mask-probe.ts: per-range single-drop errors, the plan's error, and a greedy mask that keeps no more MACs than the plan", () => {
    const out = join(mkdtempSync(join(tmpdir(), "alter-mask-probe-")), "probe.json");
    const run = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "scripts", "mask-probe.ts"), "--teacher", teacherDir, "--model", outDir, "--data", join(ROOT, "data", "fashion-mnist-slice"), "--n", "2", "--steps", "4", "--out", out], { encoding: "utf8", cwd: ROOT, env: { ...process.env, ALTER_NUM_THREADS: "1" } });
    assert.equal(run.status, 0, run.stderr);
    const probe = JSON.parse(readFileSync(out, "utf8")) as { ranges: { timesteps: number[]; plan_kept: number; plan_error: number; greedy_kept: number; greedy_error: number; greedy_mask: number[]; layers: { single_drop_error: number }[] }[] };
    // 4 DDIM steps on 1,000 timesteps: 999/749 (>= 700), 499 (300-699), 249 (< 300).
    assert.deepEqual(probe.ranges.map((r) => r.timesteps.length), [2, 1, 1]);
    for (const r of probe.ranges) {
      assert.ok(r.greedy_kept <= r.plan_kept + 1e-12, `greedy ${r.greedy_kept} > plan ${r.plan_kept}`);
      assert.ok(r.layers.every((l) => Number.isFinite(l.single_drop_error) && l.single_drop_error >= 0));
      assert.ok(r.layers.some((l) => l.single_drop_error > 0), "skipping a layer changed nothing");
      assert.ok(Number.isFinite(r.plan_error) && Number.isFinite(r.greedy_error));
      if (r.greedy_mask.every((k) => k === 1)) assert.equal(r.greedy_error, 0);
    }
  });

  test("--lr-hyper-schedule cosine decays the hypernetwork learning rate to 0 at T_end", () => {
    const log = readFileSync(join(outDir, "train_log.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { hyper_step: number; lr_hyper: number });
    const atStep = (k: number) => log.find((r) => r.hyper_step === k)!.lr_hyper;
    assert.equal(atStep(2), settings.lrHyper); // the last warmup step
    // the rate used by hypernetwork step k (1-based) is cos-decayed over the T_end - warmup steps after warmup
    const expected = (k: number) => 0.5 * settings.lrHyper * (1 + Math.cos((Math.PI * (k - 1 - settings.warmupSteps)) / (settings.hyperSteps - settings.warmupSteps)));
    for (const k of [10, 20, 30]) assert.ok(Math.abs(atStep(k) - expected(k)) < 1e-12, `hyper step ${k}: ${atStep(k)} vs ${expected(k)}`);
    assert.ok(atStep(30) < 0.01 * settings.lrHyper);
  });


  test("--noise-anneal: full noise, then a linear decay to none at the last hypernetwork step (or where --noise-free-tail starts); bad fractions refused", async () => {
    assert.equal(noiseScale(0, 30, 0.5), 1);
    assert.equal(noiseScale(14, 30, 0.5), 1);
    assert.ok(Math.abs(noiseScale(15, 30, 0.5) - 14 / 15) < 1e-12);
    assert.equal(noiseScale(29, 30, 0.5), 0);
    assert.equal(noiseScale(29, 30, 0), 1);
    // --noise-free-tail 0.2: the same decay, shifted to end where the last 6 steps (24..29) start
    assert.equal(noiseScale(8, 30, 0.5, 0.2), 1);
    assert.ok(Math.abs(noiseScale(9, 30, 0.5, 0.2) - 14 / 15) < 1e-12);
    assert.ok(noiseScale(22, 30, 0.5, 0.2) > 0);
    for (let k = 23; k < 30; k++) assert.equal(noiseScale(k, 30, 0.5, 0.2), 0, `step ${k}`);
    assert.equal(noiseScale(26, 30, 0, 0.1), 1); // no anneal: full noise, then none
    assert.equal(noiseScale(27, 30, 0, 0.1), 0);
    const log = readFileSync(join(outDir, "train_log.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { hyper_step: number; noise_scale?: number; frozen: boolean });
    const scales = log.filter((r) => !r.frozen && r.noise_scale !== undefined).map((r) => r.noise_scale!);
    assert.equal(scales[0], 1);
    assert.equal(scales.at(-1), 0);
    for (let i = 1; i < scales.length; i++) assert.ok(scales[i]! <= scales[i - 1]!, "never rises");
    await assert.rejects(trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: mkdtempSync(join(tmpdir(), "alter-prune-")), settings: { ...settings, noiseAnneal: 1.5 }, silent: true }), /--noise-anneal 1.5: must be a fraction/);
    await assert.rejects(trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: mkdtempSync(join(tmpdir(), "alter-prune-")), settings: { ...settings, noiseFreeTail: 0.6 }, silent: true }), /--noise-free-tail 0.6: must be a fraction of T_end in \[0, 1 - 0.5\]/);
  });

  test("--ema-decay: the saved model holds the average of the frozen-plan steps, the checkpoint both; --lr-unet-schedule cosine ends at 0", async () => {
    const saved = readSafetensors(join(outDir, "unet", "diffusion_pytorch_model.safetensors")).tensors;
    const ckpt = readSafetensors(join(outDir, "checkpoint.safetensors")).tensors;
    let differs = 0;
    for (const [k, t] of saved) {
      assert.deepEqual(ckpt.get(`ema.${k}`)!.data, t.data, `${k}: saved weights are not the average`);
      if (t.dtype === "float32" && !t.data.every((v, i) => v === ckpt.get(`student.${k}`)!.data[i])) differs++;
    }
    assert.ok(differs > 0, "the average equals the last step's weights: it did not average anything");
    const index = JSON.parse(readFileSync(join(outDir, "model_index.json"), "utf8")) as { alter_training: { weights: string } };
    assert.equal(index.alter_training.weights, `EMA 0.9 over ${settings.steps - settings.hyperSteps} steps`);

    const cosDir = mkdtempSync(join(tmpdir(), "alter-prune-cos-"));
    const cos = { ...settings, steps: 10, hyperSteps: 4, unetLrSchedule: "cosine" as const, emaDecay: 0 };
    await trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: cosDir, settings: cos, silent: true });
    const log = readFileSync(join(cosDir, "train_log.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { unet_step: number; lr_unet: number });
    const expected = (k: number) => 0.5 * cos.lrUnet * (1 + Math.cos((Math.PI * (k - 1 - cos.warmupSteps)) / (cos.steps - cos.warmupSteps)));
    for (const k of [3, 6, 10]) assert.ok(Math.abs(log.find((r) => r.unet_step === k)!.lr_unet - expected(k)) < 1e-12, `UNet step ${k}`);
    // cosine-after-freeze: the constant rate until T_end (so the plan is the constant rate's), then the decay.
    const afterDir = mkdtempSync(join(tmpdir(), "alter-prune-cosf-"));
    const constDir = mkdtempSync(join(tmpdir(), "alter-prune-const-"));
    const after = await trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: afterDir, settings: { ...cos, unetLrSchedule: "cosine-after-freeze" }, silent: true });
    const constant = await trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: constDir, settings: { ...cos, unetLrSchedule: "constant" }, silent: true });
    assert.deepEqual({ ...after.plan, settings: null }, { ...constant.plan, settings: null });
    const afterLog = readFileSync(join(afterDir, "train_log.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { unet_step: number; lr_unet: number });
    const start = Math.max(cos.warmupSteps, cos.hyperSteps);
    const expectedAfter = (k: number) => (k - 1 < start ? cos.lrUnet : 0.5 * cos.lrUnet * (1 + Math.cos((Math.PI * (k - 1 - start)) / (cos.steps - start))));
    for (const k of [3, 4, 5, 7, 10]) assert.ok(Math.abs(afterLog.find((r) => r.unet_step === k)!.lr_unet - expectedAfter(k)) < 1e-12, `cosine-after-freeze, UNet step ${k}`);
    const plain = JSON.parse(readFileSync(join(cosDir, "model_index.json"), "utf8")) as { alter_training: { weights: string } };
    assert.equal(plain.alter_training.weights, "last step");
    await assert.rejects(trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: cosDir, settings: { ...cos, emaDecay: 1 }, silent: true }), /--ema-decay 1: must be in \[0, 1\)/);
  });

  test("--calibrate-at-freeze re-chooses the router at T_end within the plan's MACs; the experts are the plain run's", async () => {
    const base = { ...settings, steps: 8, hyperSteps: 5, emaDecay: 0, checkpointEvery: 100, fitBudget: false };
    const plainDir = mkdtempSync(join(tmpdir(), "alter-prune-plain-"));
    const calDir = mkdtempSync(join(tmpdir(), "alter-prune-cal-"));
    const plain = await trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: plainDir, settings: base, silent: true });
    const cal = await trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: calDir, settings: { ...base, calibrateAtFreeze: true }, silent: true });
    assert.deepEqual(cal.plan.experts, plain.plan.experts, "the hypernetwork phase is the same");
    assert.ok(cal.plan.realised_ratio <= plain.plan.realised_ratio + 1e-12, `${cal.plan.realised_ratio} > ${plain.plan.realised_ratio}`);
    assert.notDeepEqual(cal.plan.router, plain.plan.router);
    // Every timestep takes its nearest grid point (5, 15, ...; ties to the earlier), so the router only changes at t = 11, 21, ...
    for (let t = 1; t < 1000; t++) if (t % 10 !== 1) assert.equal(cal.plan.router[t], cal.plan.router[t - 1], `t ${t}`);
    // The absolute objective weighs the low-noise timesteps' larger errors: the same experts, routed otherwise, within the same MACs.
    const absDir = mkdtempSync(join(tmpdir(), "alter-prune-cal-abs-"));
    const abs = await trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: absDir, settings: { ...base, calibrateAtFreeze: true, calibrateObjective: "absolute" }, silent: true });
    assert.deepEqual(abs.plan.experts, plain.plan.experts);
    assert.ok(abs.plan.realised_ratio <= plain.plan.realised_ratio + 1e-12, `${abs.plan.realised_ratio} > ${plain.plan.realised_ratio}`);
    assert.equal((abs.plan.settings as { calibrateObjective?: string }).calibrateObjective, "absolute");
    // Both runs measure the same errors at the freeze (same seeds) and sum them differently; each calibration lowers its own sum.
    const freezeRecord = (dir: string) =>
      readFileSync(join(dir, "train_log.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { calibration_before?: number; calibration_after?: number }).find((r) => r.calibration_after !== undefined)!;
    const [relRec, absRec] = [freezeRecord(calDir), freezeRecord(absDir)];
    for (const r of [relRec, absRec]) assert.ok(r.calibration_after! <= r.calibration_before! + 1e-12, JSON.stringify(r));
    assert.ok(Math.abs(absRec.calibration_before! - relRec.calibration_before!) > 1e-6 * relRec.calibration_before!, `the same sum under both objectives: ${JSON.stringify([relRec, absRec])}`);
    await assert.rejects(
      trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: mkdtempSync(join(tmpdir(), "alter-prune-")), settings: { ...base, calibrateObjective: "absolute" }, silent: true }),
      /--calibrate-objective absolute acts on the calibration at T_end; add --calibrate-at-freeze/,
    );
    await assert.rejects(
      trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: mkdtempSync(join(tmpdir(), "alter-prune-")), settings: { ...base, method: "manual", calibrateAtFreeze: true }, silent: true }),
      /--calibrate-at-freeze re-chooses a learned router; --method manual/,
    );
  });

  test("--remask-at-freeze re-chooses the used experts' layers at T_end: the plain run's router, no more MACs per expert, measured errors logged", async () => {
    const base = { ...settings, steps: 8, hyperSteps: 5, emaDecay: 0, checkpointEvery: 100 };
    const plainDir = mkdtempSync(join(tmpdir(), "alter-prune-plain-")), remaskDir = mkdtempSync(join(tmpdir(), "alter-prune-remask-"));
    const plain = await trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: plainDir, settings: base, silent: true });
    const remask = await trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: remaskDir, settings: { ...base, remaskAtFreeze: true }, silent: true });
    assert.deepEqual(remask.plan.router, plain.plan.router, "the hypernetwork phase and the router are the same");
    const kept = (mask: number[]) => mask.reduce((s, m, l) => s + m * plain.plan.layers[l].macs, 0);
    const used = new Set(plain.plan.router);
    for (let e = 0; e < plain.plan.experts.length; e++) {
      if (used.has(e)) assert.ok(kept(remask.plan.experts[e]) <= kept(plain.plan.experts[e]), `expert ${e} keeps more MACs`);
      else assert.deepEqual(remask.plan.experts[e], plain.plan.experts[e], `unused expert ${e} changed`);
    }
    assert.notDeepEqual(remask.plan.experts, plain.plan.experts, "no mask was re-chosen");
    assert.ok(remask.plan.realised_ratio <= plain.plan.realised_ratio + 1e-12);
    assert.equal((remask.plan.settings as { remaskAtFreeze?: boolean }).remaskAtFreeze, true);
    const record = readFileSync(join(remaskDir, "train_log.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>).find((r) => r.remask_switched !== undefined)!;
    assert.ok(record.remask_switched > 0 && record.remask_error_before > 0 && record.remask_error_after > 0, JSON.stringify(record));
    assert.equal(record.remask_kept_before, plain.plan.realised_ratio);
    // A run resumes only with the remasking as it was.
    await assert.rejects(
      trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: remaskDir, settings: { ...base, steps: 9 }, resume: true, silent: true }),
      /remaskAtFreeze true in the checkpoint, false now/,
    );
  });

  test("--focus-steps fine-tunes on the sampler's timesteps only after the freeze: the plan is the plain run's, the weights are not", async () => {
    const trailing = { _class_name: "DDPMScheduler", num_train_timesteps: 1000, timestep_spacing: "trailing" };
    assert.deepEqual(Array.from(samplingGrid(trailing, 20)), Array.from({ length: 20 }, (_, i) => 999 - 50 * i));
    const leading = { _class_name: "DDPMScheduler", num_train_timesteps: 1000, timestep_spacing: "leading" };
    assert.deepEqual(Array.from(samplingGrid(leading, 4)), [750, 500, 250, 0]);
    // All of a batch, or about the asked share of it, lands on the grid.
    const grid = samplingGrid(trailing, 20), onGrid = new Set(grid);
    const all = Int32Array.from({ length: 64 }, (_, i) => i * 7 + 1);
    focusTimesteps(all, grid, 1, new Generator(3));
    assert.ok(all.every((t) => onGrid.has(t)));
    const half = Int32Array.from({ length: 4000 }, (_, i) => (i % 50) * 20); // even: never on the odd grid
    focusTimesteps(half, grid, 0.5, new Generator(4));
    const share = half.filter((t) => onGrid.has(t)).length / half.length;
    assert.ok(Math.abs(share - 0.5) < 0.04, `share on the grid ${share}`);

    const base = { ...settings, steps: 10, hyperSteps: 5, emaDecay: 0, checkpointEvery: 100 };
    const plainDir = mkdtempSync(join(tmpdir(), "alter-prune-plain-")), focusDir = mkdtempSync(join(tmpdir(), "alter-prune-focus-"));
    const plain = await trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: plainDir, settings: base, silent: true });
    const focus = await trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: focusDir, settings: { ...base, focusSteps: 4 }, silent: true });
    assert.deepEqual({ ...focus.plan, settings: null }, { ...plain.plan, settings: null }, "the hypernetwork phase is the same");
    const weights = (dir: string) => readSafetensors(join(dir, "unet", "diffusion_pytorch_model.safetensors")).tensors.get("conv_in.weight")!.data;
    assert.notDeepEqual(weights(focusDir), weights(plainDir));
    await assert.rejects(trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: focusDir, settings: { ...base, focusSteps: 4, focusFraction: 0 }, silent: true }), /--focus-fraction 0: must be in \(0, 1\]/);
    await assert.rejects(trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: focusDir, settings: { ...base, focusSteps: 1001 }, silent: true }), /--focus-steps 1001: must be a sampler step count in \[1, 1000\]/);
  });

  test("scripts/fork-run.ts forks a checkpoint from before T_end with the focus changed, and the fork resumes to the focused run's weights", async () => {
    const base = { ...settings, steps: 10, hyperSteps: 5, emaDecay: 0, checkpointEvery: 5 };
    const prefixDir = mkdtempSync(join(tmpdir(), "alter-prune-prefix-")), forkDir = join(mkdtempSync(join(tmpdir(), "alter-prune-fork-")), "run");
    await trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: prefixDir, settings: { ...base, steps: 5 }, silent: true });
    const fork = (from: string, to: string, change = ["--focus-steps", "4"]) =>
      spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "scripts", "fork-run.ts"), "--from", from, "--to", to, ...change], { encoding: "utf8", cwd: ROOT });
    const forked = fork(prefixDir, forkDir);
    assert.equal(forked.status, 0, forked.stderr);
    const resumed = await trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: forkDir, settings: { ...base, focusSteps: 4 }, resume: true, silent: true });
    const directDir = mkdtempSync(join(tmpdir(), "alter-prune-direct-"));
    const direct = await trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: directDir, settings: { ...base, focusSteps: 4 }, silent: true });
    assert.deepEqual(resumed.plan.router, direct.plan.router);
    const weights = (dir: string) => readSafetensors(join(dir, "unet", "diffusion_pytorch_model.safetensors")).tensors.get("conv_in.weight")!.data;
    assert.deepEqual(weights(forkDir), weights(directDir));
    // A checkpoint after the freeze is refused, and nothing is written.
    const late = fork(directDir, join(forkDir, "late"));
    assert.equal(late.status, 2);
    assert.match(late.stderr, /the plan froze before step 10/);
    assert.equal(existsSync(join(forkDir, "late")), false);
    // A calibration objective is refused for a run that does not calibrate at T_end.
    const objective = fork(prefixDir, join(forkDir, "objective"), ["--calibrate-objective", "absolute"]);
    assert.equal(objective.status, 2);
    assert.match(objective.stderr, /does not calibrate at T_end \(--calibrate-at-freeze\)/);
    assert.equal(existsSync(join(forkDir, "objective")), false);
    // The remasking can be switched on at the fork.
    const remaskDir = join(forkDir, "remask"), remask = fork(prefixDir, remaskDir, ["--remask-at-freeze"]);
    assert.equal(remask.status, 0, remask.stderr);
    assert.equal((loadCheckpoint(join(remaskDir, "checkpoint.safetensors")).state.settings as { remaskAtFreeze?: boolean }).remaskAtFreeze, true);
  });

  test("the budget fit at T_end brings the frozen plan to the budget by switching mask entries; --no-fit-budget keeps it as it is", async () => {
    const base = { ...settings, steps: 8, hyperSteps: 5, emaDecay: 0, checkpointEvery: 100, logEvery: 4 }; // the freeze (step 6) is not a log step
    const rawDir = mkdtempSync(join(tmpdir(), "alter-prune-raw-")), fitDir = mkdtempSync(join(tmpdir(), "alter-prune-fit-"));
    const raw = (await trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: rawDir, settings: { ...base, fitBudget: false }, silent: true })).plan;
    const fit = (await trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: fitDir, settings: base, silent: true })).plan;
    assert.deepEqual(fit.router, raw.router, "the hypernetwork phase is the same");
    const gap = (p: typeof fit) => Math.abs(p.realised_prunable_ratio - p.target_prunable_ratio);
    assert.ok(gap(raw) > 0.02, `this tiny run freezes off the budget (gap ${gap(raw)})`);
    // Within half the largest single switch: one layer of the most used expert (measured: raw 0.41, fitted 0.002 of 0.065).
    const share = Math.max(...fit.experts.map((_, e) => fit.router.filter((x) => x === e).length / fit.router.length));
    const prunable = fit.layers.map((l) => l.macs);
    const largest = (share * Math.max(...prunable)) / prunable.reduce((a, b) => a + b, 0);
    assert.ok(gap(fit) <= largest / 2, `fitted gap ${gap(fit)} vs raw ${gap(raw)} (largest switch ${largest})`);
    const switched = fit.experts.flat().filter((v, i) => v !== raw.experts.flat()[i]).length;
    assert.ok(switched > 0);
    const log = readFileSync(join(fitDir, "train_log.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { budget_fit_switched?: number });
    assert.deepEqual(log.filter((r) => r.budget_fit_switched !== undefined).map((r) => r.budget_fit_switched), [switched], "logged once, at the freeze");
    // The freeze step is logged even when nothing acts at the freeze (no fit, no calibration, no remasking).
    const rawLog = readFileSync(join(rawDir, "train_log.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step: number; frozen: boolean });
    assert.deepEqual(rawLog.map((r) => r.step), [4, 6, 8]);
    assert.deepEqual(rawLog.map((r) => r.frozen), [false, true, true]);
  });

  test("--distill-weighting noise-variance weighs the distillation by timestep; a run resumes only with the same weighting", async () => {
    const base = { ...settings, steps: 4, hyperSteps: 2, emaDecay: 0, checkpointEvery: 2 };
    const read = (dir: string) => readFileSync(join(dir, "train_log.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step: number; output_kd?: number; feature_kd?: number });
    const uniformDir = mkdtempSync(join(tmpdir(), "alter-prune-uw-")), weightedDir = mkdtempSync(join(tmpdir(), "alter-prune-nv-"));
    await trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: uniformDir, settings: base, silent: true });
    const weighted = await trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: weightedDir, settings: { ...base, distillWeighting: "noise-variance" }, silent: true });
    assert.equal(weighted.plan.settings.distillWeighting, "noise-variance");
    // Same seed, data, noise and timesteps: the logs are bit-identical unless the weighting acts (the
    // student starts as the teacher, so step 1's distillation is 0 either way).
    const [u, w] = [read(uniformDir), read(weightedDir)];
    assert.equal(u.length, w.length);
    assert.equal(u[0]!.output_kd, 0);
    const last = u.length - 1;
    assert.ok(u[last]!.output_kd! > 0 && Math.abs(u[last]!.output_kd! - w[last]!.output_kd!) > 1e-3 * u[last]!.output_kd!, `${u[last]!.output_kd} vs ${w[last]!.output_kd}`);
    await assert.rejects(
      trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: weightedDir, settings: { ...base, steps: 6 }, resume: true, silent: true }),
      /different settings \(distillWeighting "noise-variance" in the checkpoint, "uniform" now\)/,
    );
  });

  test("--lambda-feature-after-freeze weighs the feature distillation of the fine-tuning only; a run resumes only with the same weight", async () => {
    const base = { ...settings, steps: 5, hyperSteps: 2, emaDecay: 0, checkpointEvery: 5 };
    type Rec = { step: number; frozen: boolean; unet_loss: number; denoise: number; output_kd: number; feature_kd: number };
    const read = (dir: string) => readFileSync(join(dir, "train_log.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Rec);
    const plainDir = mkdtempSync(join(tmpdir(), "alter-prune-lf-")), outputOnlyDir = mkdtempSync(join(tmpdir(), "alter-prune-lf0-"));
    const plain = await trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: plainDir, settings: base, silent: true });
    const outputOnly = await trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: outputOnlyDir, settings: { ...base, lambdaFeatureAfterFreeze: 0 }, silent: true });
    assert.deepEqual(outputOnly.plan.router, plain.plan.router);
    assert.deepEqual(outputOnly.plan.experts, plain.plan.experts);
    const [p, o] = [read(plainDir), read(outputOnlyDir)];
    const combined = (r: Rec, lambdaFeature: number) => base.lambdaDenoise * r.denoise + base.lambdaOutput * r.output_kd + lambdaFeature * r.feature_kd;
    const close = (a: number, b: number) => Math.abs(a - b) <= 1e-5 * Math.max(Math.abs(a), Math.abs(b));
    // Up to and including the step the plan freezes on, both runs are the same run.
    const losses = (r: Rec) => [r.step, r.unet_loss, r.denoise, r.output_kd, r.feature_kd];
    const shared = p.filter((r) => r.step <= 3);
    assert.ok(shared.length === 3 && shared[2]!.frozen);
    assert.deepEqual(o.slice(0, 3).map(losses), shared.map(losses));
    // From the next step on, the fine-tuning loss leaves the feature term out, though it is still measured.
    const after = o.filter((r) => r.step >= 4);
    assert.ok(after.length >= 2 && after.every((r) => r.frozen));
    for (const r of after) {
      assert.ok(r.feature_kd > 0, `feature term ${r.feature_kd}`);
      assert.ok(close(r.unet_loss, combined(r, 0)) && !close(r.unet_loss, combined(r, base.lambdaFeature)), `step ${r.step}: ${r.unet_loss}`);
    }
    for (const r of p.filter((r) => r.step >= 4)) assert.ok(close(r.unet_loss, combined(r, base.lambdaFeature)), `step ${r.step}: ${r.unet_loss}`);
    await assert.rejects(
      trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: outputOnlyDir, settings: { ...base, steps: 6 }, resume: true, silent: true }),
      /different settings \(lambdaFeatureAfterFreeze 0 in the checkpoint, null now\)/,
    );
  });

  test("--student starts the student from another model's UNet (pruning in stages); a resume must name it again; a paused stage and another architecture are refused", async () => {
    // Stage 2 prunes the stage-1 model (outDir) further, with a zero UNet rate so its weights stay where it started.
    const stage2Dir = mkdtempSync(join(tmpdir(), "alter-prune-stage2-"));
    const stage2 = { ...settings, ratio: 0.5, steps: 4, hyperSteps: 2, emaDecay: 0, lrUnet: 0, checkpointEvery: 4, studentInit: outDir };
    await trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: stage2Dir, settings: stage2, studentInit: loadModelFolder(outDir), silent: true });
    const weights = (dir: string) => readSafetensors(join(dir, "unet", "diffusion_pytorch_model.safetensors")).tensors;
    const [start, end, teacherWeights] = [weights(outDir), weights(stage2Dir), weights(teacherDir)];
    let unlikeTeacher = 0;
    for (const [k, t] of end) {
      assert.deepEqual(t.data, start.get(k)!.data, `${k}: not the stage-1 model's weights`);
      if (!t.data.every((v, i) => v === teacherWeights.get(k)!.data[i])) unlikeTeacher++;
    }
    assert.ok(unlikeTeacher > 0, "the stage-1 model equals the teacher: the test shows nothing");
    assert.equal(readPlan(join(stage2Dir, "alter_plan.json")).settings.studentInit, outDir);
    await assert.rejects(
      trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: stage2Dir, settings: { ...stage2, steps: 5, studentInit: null }, resume: true, silent: true }),
      /different settings \(studentInit ".*" in the checkpoint, null now\)/,
    );
    // scripts/plan-nesting.ts: kept(parent) - kept(child) = dropped - revived (to its 3 printed decimals); a plan
    // against itself revives and drops nothing.
    const nesting = (parentDir: string, childDir: string) => {
      const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "scripts", "plan-nesting.ts"), parentDir, childDir], { encoding: "utf8", cwd: ROOT });
      assert.equal(r.status, 0, r.stderr);
      const value = (label: string) => Number(new RegExp(`${label}[^0-9]*([0-9.]+)`).exec(r.stdout)?.[1]);
      return { parent: value("parent"), child: value("child"), revived: value("revived"), dropped: value("dropped") };
    };
    const staged = nesting(outDir, stage2Dir);
    assert.ok(Object.values(staged).every(Number.isFinite), JSON.stringify(staged));
    assert.ok(Math.abs(staged.parent - staged.child - (staged.dropped - staged.revived)) <= 0.0021, JSON.stringify(staged));
    const self = nesting(stage2Dir, stage2Dir);
    assert.deepEqual([self.revived, self.dropped, self.parent], [0, 0, self.child]);
    // A paused stage (model_index.json: finished false) is refused: the next stage would start from a half-trained UNet.
    const pausedDir = mkdtempSync(join(tmpdir(), "alter-paused-"));
    cpSync(outDir, pausedDir, { recursive: true });
    const index = JSON.parse(readFileSync(join(pausedDir, "model_index.json"), "utf8"));
    assert.equal(index.alter_training.finished, true, "the stage-1 run did not record finishing: the test shows nothing");
    writeFileSync(join(pausedDir, "model_index.json"), JSON.stringify({ ...index, alter_training: { ...index.alter_training, step: 2, finished: false } }));
    const refusedOut = join(mkdtempSync(join(tmpdir(), "alter-prune-")), "out");
    await assert.rejects(
      trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: refusedOut, settings: { ...stage2, studentInit: pausedDir }, studentInit: loadModelFolder(pausedDir), silent: true }),
      /--student .*: that run stopped at step 2 before its last step .*plus --resume/,
    );
    assert.equal(existsSync(refusedOut), false, "the refused run created its --out folder");
    const otherDir = mkdtempSync(join(tmpdir(), "alter-other-"));
    await trainTeacher({ config: { ...config, block_out_channels: [8, 8] }, data, outDir: otherDir, settings: { ...DEFAULT_TEACHER_SETTINGS, steps: 1, batchSize: 2, checkpointEvery: 1 }, silent: true });
    await assert.rejects(
      trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: mkdtempSync(join(tmpdir(), "alter-prune-")), settings: { ...stage2, studentInit: otherDir }, studentInit: loadModelFolder(otherDir), silent: true }),
      /--student .*: its UNet config differs from the teacher's in block_out_channels/,
    );
  });

  test("the budget loss drives the kept ratio from 1 towards the target; several experts are used", () => {
    const plan = result.plan;
    assert.ok(Math.abs(plan.realised_ratio - settings.ratio) < 0.12, `realised ${plan.realised_ratio} vs target ${settings.ratio}`);
    assert.ok(new Set(plan.router).size > 1, `router uses ${new Set(plan.router).size} expert(s)`);
    assert.deepEqual(readPlan(join(outDir, "alter_plan.json")), plan);
  });

  test("sampling with the plan skips layers, costs fewer MACs and matches training-mode execution", () => {
    const model = loadModelFolder(outDir);
    const plan = loadPlanFor(outDir, model.unet)!;
    const scheduler = () => createScheduler(validateSchedulerConfig({ ...model.schedulerConfig, _class_name: "DDIMScheduler" }));
    const options = { labels: [1, 8], steps: 6, guidance: 1, seed: 3 };
    let dense = 0, pruned = 0;
    const denseCalls = countLayerCalls(() => void (dense = sampleImages(model.unet, model.classEmbedder!, scheduler(), options).images.f32[0]));
    const prunedCalls = countLayerCalls(() => void (pruned = sampleImages(model.unet, model.classEmbedder!, scheduler(), { ...options, executorFor: planExecutors(plan) }).images.f32[0]));
    assert.ok(prunedCalls < denseCalls, `layer calls: pruned ${prunedCalls}, dense ${denseCalls}`);
    const s = scheduler();
    s.setTimesteps(6);
    const macs = realisedMacs(plan, s.timesteps);
    assert.ok(macs.total < plan.total_macs * 6);
    assert.ok(Number.isFinite(dense) && Number.isFinite(pruned));
  });

  test("a run interrupted at a checkpoint resumes to the same weights", async () => {
    const again = mkdtempSync(join(tmpdir(), "alter-prune-resume-"));
    await trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: again, settings: { ...settings, steps: 12 }, silent: true });
    await trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: again, settings: { ...settings, steps: 33 }, resume: true, silent: true });
    await trainPruned({ teacher: loadModelFolder(teacherDir), data, outDir: again, settings, resume: true, silent: true });
    const a = readSafetensors(join(outDir, "unet", "diffusion_pytorch_model.safetensors")).tensors;
    const b = readSafetensors(join(again, "unet", "diffusion_pytorch_model.safetensors")).tensors;
    for (const [k, t] of a) assert.deepEqual(b.get(k)!.data, t.data, `${k} differs after resume`);
    // stops before T_end and in the middle of the average: it starts at the freeze and resumes with its step count
    const ca = readSafetensors(join(outDir, "checkpoint.safetensors")).tensors;
    const cb = readSafetensors(join(again, "checkpoint.safetensors")).tensors;
    for (const [k, t] of ca) if (k.startsWith("ema.")) assert.deepEqual(cb.get(k)!.data, t.data, `${k} differs after resume`);
    assert.deepEqual(readPlan(join(again, "alter_plan.json")).router, result.plan.router);
  });

  test("plan validation refuses malformed plans", () => {
    const good = result.plan;
    const cases: [string, unknown, RegExp][] = [
      ["layer count", { ...good, experts: [good.experts[0].slice(1)] }, /mask entries but the plan has/],
      ["router length", { ...good, router: good.router.slice(1) }, /one expert per training timestep/],
      ["non-binary", { ...good, experts: good.experts.map((m, e) => (e === 0 ? m.map(() => 0.5) : m)) }, /is not 0 or 1/],
      ["router id", { ...good, router: good.router.map(() => 99) }, /not an expert id/],
      ["version", { ...good, version: 7 }, /version 7 is not supported/],
    ];
    for (const [name, plan, message] of cases) {
      assert.throws(() => validatePlan(plan, "p.json"), (e: unknown) => e instanceof PlanError && message.test(e.message), name);
    }
  });
});

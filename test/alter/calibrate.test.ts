/**
 * Router calibration: the budgeted assignment on hand-made error tables (where the answer is known),
 * and `alter calibrate` end to end on a tiny pruned model.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { calibrateRouter, calibrationGrid, type ExpertErrors } from "../../src/alter/calibrate.js";
import { readPlan, withRealisedRatios, writePlan, type AlterPlan } from "../../src/alter/plan.js";
import { main } from "../../src/cli/main.js";

/** Two prunable layers of 40 MACs each in a 100-MAC UNet; expert 0 keeps both (100 %), expert 1 none (20 %). */
function twoExpertPlan(T: number, router: number[]): AlterPlan {
  return withRealisedRatios({
    format: "alter-plan", version: 1, num_train_timesteps: T,
    layers: [{ name: "a", kind: "resnet", macs: 40 }, { name: "b", kind: "resnet", macs: 40 }], total_macs: 100,
    experts: [[1, 1], [0, 0]], router, target_ratio: 0.6, target_prunable_ratio: 0.5, settings: {},
  });
}

describe("calibrateRouter", () => {
  const T = 8;
  const grid = calibrationGrid(T, 1);
  // Expert 0 is better everywhere; its advantage grows with t.
  const errors: ExpertErrors = { grid, error: grid.map((t) => [1, 1 + t]), teacherError: grid.map(() => 1) };

  test("the budget goes to the timesteps where the larger expert gains most", () => {
    const plan = twoExpertPlan(T, [0, 1, 0, 1, 0, 1, 0, 1]); // fragmented, 60 % of the MACs
    const { plan: out, objectiveBefore, objectiveAfter, lambda } = calibrateRouter(plan, errors, "absolute");
    assert.deepEqual(out.router, [1, 1, 1, 1, 0, 0, 0, 0]);
    assert.ok(Math.abs(out.realised_ratio - plan.realised_ratio) < 1e-12 && lambda > 0);
    assert.ok(objectiveAfter < objectiveBefore, `${objectiveAfter} vs ${objectiveBefore}`);
  });

  test("relative errors reweigh the timesteps, and a loose budget needs no trade-off", () => {
    // Divided by a teacher error of (1 + t)^2 the gain at t is t / (1 + t)^2, largest at t = 1..4.
    const scaled: ExpertErrors = { ...errors, teacherError: grid.map((t) => (1 + t) ** 2) };
    const plan = twoExpertPlan(T, [0, 1, 0, 1, 0, 1, 0, 1]);
    assert.deepEqual(calibrateRouter(plan, scaled, "relative").plan.router, [1, 0, 0, 0, 0, 1, 1, 1]);
    const loose = calibrateRouter(plan, errors, "absolute", 1);
    assert.deepEqual(loose.plan.router, [0, 0, 0, 0, 0, 0, 0, 0]);
    assert.equal(loose.lambda, 0);
  });

  test("a coarse grid: each timestep takes its nearest measured point; an impossible budget is refused", () => {
    assert.deepEqual(calibrationGrid(1000, 10).slice(0, 3), [5, 15, 25]);
    assert.deepEqual(calibrationGrid(8, 3), [1, 4, 7]);
    const coarse: ExpertErrors = { grid: [1, 4, 7], error: [[1, 1], [1, 5], [1, 9]], teacherError: [1, 1, 1] };
    const plan = twoExpertPlan(T, [1, 1, 1, 1, 0, 0, 0, 0]);
    // Timesteps 0-2 take point 1 (gain 0), 3-5 point 4 (gain 4), 6-7 point 7 (gain 8). The budget (60 %) would
    // allow four large-expert timesteps, but point 4's three move together: the Lagrangian stops at two.
    const out = calibrateRouter(plan, coarse, "absolute").plan;
    assert.deepEqual(out.router, [1, 1, 1, 1, 1, 1, 0, 0]);
    assert.ok(out.realised_ratio < plan.realised_ratio);
    assert.throws(() => calibrateRouter(plan, coarse, "absolute", 0.1), /below the cheapest expert/);
  });
});

describe("alter calibrate", () => {
  const ROOT = join(import.meta.dirname, "..", "..");
  const source = join(ROOT, "test", "inputs", "base", "model");
  const data = join(ROOT, "data", "fashion-mnist-slice");

  test("writes a new model folder whose plan has lower measured error within the same MAC budget", async () => {
    // The model as its own teacher with two experts, everything kept and nothing kept: the first has no error.
    const dir = mkdtempSync(join(tmpdir(), "alter-calibrate-"));
    const model = join(dir, "model");
    cpSync(source, model, { recursive: true });
    const base = readPlan(join(model, "alter_plan.json"));
    const { realised_ratio: _r, realised_prunable_ratio: _p, ...rest } = base;
    const router = Array.from({ length: 1000 }, (_, t) => (t % 3 === 0 ? 0 : 1));
    writePlan(join(model, "alter_plan.json"), withRealisedRatios({ ...rest, experts: [base.layers.map(() => 1), base.layers.map(() => 0)], router }));
    const before = readPlan(join(model, "alter_plan.json"));
    const out = join(dir, "calibrated");
    const args = ["calibrate", "--teacher", model, "--model", model, "--out", out, "--data", data, "--images", "4", "--grid-step", "100", "--objective", "absolute"];
    assert.equal(await main(args), 0);
    const after = readPlan(join(out, "alter_plan.json"));
    const record = JSON.parse(readFileSync(join(out, "calibration.json"), "utf8"));
    assert.ok(after.realised_ratio <= before.realised_ratio + 1e-12, `${after.realised_ratio} > ${before.realised_ratio}`);
    assert.ok(record.objective_after < record.objective_before);
    assert.ok(record.error.every((row: number[]) => row[0] === 0 && row[1] > 0), "the all-kept expert is the teacher itself");
    assert.deepEqual(after.experts, before.experts);
    assert.ok(existsSync(join(out, "unet")) && !existsSync(join(out, "checkpoint.safetensors")));
    assert.equal(await main(args), 2, "an existing --out is refused");
    const noPlan = join(dir, "no-plan");
    cpSync(model, noPlan, { recursive: true });
    rmSync(join(noPlan, "alter_plan.json"));
    assert.equal(await main(["calibrate", "--teacher", model, "--model", noPlan, "--out", join(dir, "other"), "--data", data]), 2, "a folder without a plan is refused");
    assert.ok(!existsSync(join(dir, "other")));
  });
});

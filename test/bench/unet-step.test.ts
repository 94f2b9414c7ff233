/**
 * The UNet-step benchmark runs on a small model folder with its plan and reports the kept share of
 * MACs its masks really keep (no timing is asserted: speed lives in the benchmark's output).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { runUNetStepBenchmark } from "../../src/bench/unet-step.js";
import { keptFractions, readPlan } from "../../src/alter/plan.js";

const MODEL = join(import.meta.dirname, "..", "inputs", "base", "model");

test("bench unet-step: both executors run and the reported kept MACs come from the plan's experts", () => {
  const planPath = join(MODEL, "alter_plan.json");
  const plan = readPlan(planPath);
  const r = runUNetStepBenchmark({ model: MODEL, plan: planPath, batch: 3, repeats: 3 });
  const shares = plan.experts.map((e) => keptFractions(e, plan.layers, plan.total_macs).total);
  assert.ok(r.kept_macs >= Math.min(...shares) - 1e-9 && r.kept_macs <= Math.max(...shares) + 1e-9, `kept ${r.kept_macs} outside the experts' ${shares}`);
  assert.ok(r.blend_ms > 0 && r.subset_ms > 0 && r.teacher_forward_ms > 0);
  assert.equal(r.ratio, r.subset_ms / r.blend_ms);
  const random = runUNetStepBenchmark({ model: MODEL, batch: 3, repeats: 3, keep: 0 });
  const floor = keptFractions(plan.experts[0].map(() => 0), plan.layers, plan.total_macs).total;
  assert.ok(Math.abs(random.kept_macs - floor) < 1e-9, "keep 0 leaves only the layers ALTER cannot prune");
});

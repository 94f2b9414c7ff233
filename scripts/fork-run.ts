/**
 * `node --import tsx scripts/fork-run.ts --from DIR --to DIR [--focus-steps N] [--focus-fraction F] [--calibrate-objective NAME] [--remask-at-freeze]`
 *
 * Copies an `alter prune` run's checkpoint into a new run folder with settings that act from the
 * plan's freeze on changed: the fine-tuning's timestep focus, what the calibration at T_end
 * minimises, or whether the expert masks are re-chosen by measured error there. Two runs then share
 * their hypernetwork phase exactly and differ in one thing: an A/B with one source of difference. The checkpoint must be from before the freeze; resume the copy with
 * `alter prune ... --resume` and the copy's flags.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { loadCheckpoint, saveCheckpoint } from "../src/util/checkpoint.js";
import { option } from "./teacher-and-pruned.js";
import { CALIBRATION_OBJECTIVES } from "../src/alter/calibrate.js";

function fail(message: string): never {
  process.stderr.write(`fork-run: ${message}\n`);
  process.exit(2);
}

const from = option("--from"), to = option("--to");
if (from === undefined || to === undefined) fail("usage: --from RUN_DIR --to NEW_DIR [--focus-steps N] [--focus-fraction F] [--calibrate-objective relative|absolute] [--remask-at-freeze]");
if (existsSync(join(to, "checkpoint.safetensors"))) fail(`${to} already holds a checkpoint; choose a new folder`);
const ckpt = loadCheckpoint(join(from, "checkpoint.safetensors"));
const state = ckpt.state as { frozen?: boolean; step?: number; settings?: Record<string, unknown> };
if (state.settings === undefined) fail(`${ckpt.path}: no settings in the checkpoint (not an alter prune run)`);
if (state.frozen !== false) fail(`${ckpt.path}: the plan froze before step ${state.step}; these settings would change a run already fine-tuning (fork at a checkpoint before T_end)`);

const settings = { ...state.settings };
const steps = option("--focus-steps"), fraction = option("--focus-fraction");
if (steps !== undefined) {
  const n = Number(steps);
  if (!Number.isInteger(n) || n < 0) fail(`--focus-steps must be a whole number >= 0, got "${steps}"`);
  settings.focusSteps = n;
}
if (fraction !== undefined) {
  const f = Number(fraction);
  if (!(f > 0 && f <= 1)) fail(`--focus-fraction must be in (0, 1], got "${fraction}"`);
  settings.focusFraction = f;
}
const objective = option("--calibrate-objective");
if (objective !== undefined) {
  if (!(CALIBRATION_OBJECTIVES as readonly string[]).includes(objective)) fail(`--calibrate-objective must be one of ${CALIBRATION_OBJECTIVES.join(", ")}, got "${objective}"`);
  if (settings.calibrateAtFreeze !== true) fail(`${ckpt.path}: the run does not calibrate at T_end (--calibrate-at-freeze), so --calibrate-objective would change nothing`);
  settings.calibrateObjective = objective;
}
if (process.argv.includes("--remask-at-freeze")) settings.remaskAtFreeze = true;
mkdirSync(to, { recursive: true });
saveCheckpoint(join(to, "checkpoint.safetensors"), { tensors: ckpt.tensors, state: { ...ckpt.state, settings } });
process.stderr.write(`fork-run: ${ckpt.path} (step ${state.step}) -> ${to} with focusSteps ${String(settings.focusSteps ?? 0)}, focusFraction ${String(settings.focusFraction ?? 1)}, calibrateObjective ${String(settings.calibrateObjective ?? "relative")}, remaskAtFreeze ${String(settings.remaskAtFreeze ?? false)}\n`);

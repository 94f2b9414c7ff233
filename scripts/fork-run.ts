/**
 * `node --import tsx scripts/fork-run.ts --from DIR --to DIR [--focus-steps N] [--focus-fraction F]`
 *
 * Copies an `alter prune` run's checkpoint into a new run folder with the fine-tuning's timestep focus
 * changed, so that two runs share everything up to the plan's freeze (the hypernetwork phase, and the
 * calibration and budget fit that follow from it) and differ only in how they fine-tune: an A/B with
 * one source of difference. The focus acts only on UNet steps after the freeze, so the checkpoint must
 * be from before it; resume the copy with `alter prune ... --resume` and the copy's flags.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { loadCheckpoint, saveCheckpoint } from "../src/util/checkpoint.js";
import { option } from "./teacher-and-pruned.js";

function fail(message: string): never {
  process.stderr.write(`fork-run: ${message}\n`);
  process.exit(2);
}

const from = option("--from"), to = option("--to");
if (from === undefined || to === undefined) fail("usage: --from RUN_DIR --to NEW_DIR [--focus-steps N] [--focus-fraction F]");
if (existsSync(join(to, "checkpoint.safetensors"))) fail(`${to} already holds a checkpoint; choose a new folder`);
const ckpt = loadCheckpoint(join(from, "checkpoint.safetensors"));
const state = ckpt.state as { frozen?: boolean; step?: number; settings?: Record<string, unknown> };
if (state.settings === undefined) fail(`${ckpt.path}: no settings in the checkpoint (not an alter prune run)`);
if (state.frozen !== false) fail(`${ckpt.path}: the plan froze before step ${state.step}; the focus would change a run already fine-tuning (fork at a checkpoint before T_end)`);

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
mkdirSync(to, { recursive: true });
saveCheckpoint(join(to, "checkpoint.safetensors"), { tensors: ckpt.tensors, state: { ...ckpt.state, settings } });
process.stderr.write(`fork-run: ${ckpt.path} (step ${state.step}) -> ${to} with focusSteps ${String(settings.focusSteps ?? 0)}, focusFraction ${String(settings.focusFraction ?? 1)}\n`);

/**
 * @file Fault injection for `npm run test:faults` (scripts/test-faults.mjs); unset in normal use.
 * ALTER_FAULTS is a comma-separated list:
 *   slow-write=MS   every atomic file write pauses MS milliseconds halfway through its temporary
 *                   file, so a test can kill the process while a checkpoint is being written
 *   nan-loss=STEP   the loss of training step STEP (1-based) becomes NaN: the denoising MSE in
 *                   train-teacher, the feature-distillation term in prune
 *   inf-grad=STEP   after the backward pass of step STEP one gradient entry becomes +Infinity
 *   slow-step=MS    every training step of train-teacher takes MS milliseconds longer, so that two
 *                   Ctrl-C sent a few milliseconds apart both land inside one step, as with a real model
 */
export interface Faults {
  slowWriteMs: number;
  nanLossStep: number;
  infGradStep: number;
  slowStepMs: number;
}

function parseFaults(spec: string | undefined): Faults {
  const faults: Faults = { slowWriteMs: 0, nanLossStep: -1, infGradStep: -1, slowStepMs: 0 };
  for (const item of (spec ?? "").split(",").filter((s) => s.trim() !== "")) {
    const [key, value] = item.split("=").map((s) => s.trim());
    const n = Number(value);
    if (!Number.isFinite(n)) throw new Error(`ALTER_FAULTS: "${item}" needs a number, e.g. slow-write=300`);
    if (key === "slow-write") faults.slowWriteMs = n;
    else if (key === "nan-loss") faults.nanLossStep = n;
    else if (key === "inf-grad") faults.infGradStep = n;
    else if (key === "slow-step") faults.slowStepMs = n;
    else throw new Error(`ALTER_FAULTS: unknown fault "${key}" (known: slow-write, nan-loss, inf-grad, slow-step)`);
  }
  return faults;
}

export const faults: Faults = parseFaults(process.env.ALTER_FAULTS);

/** Blocks the thread (a write in progress must really be in progress when the test kills it). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Applies the inf-grad fault at `step` (1-based) to the first parameter that has a gradient. */
export function injectGradientFault(step: number, params: readonly { grad: { f32: Float32Array } | null }[]): void {
  if (faults.infGradStep !== step) return;
  const p = params.find((q) => q.grad !== null);
  if (p) p.grad!.f32[0] = Infinity;
}

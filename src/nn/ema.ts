/**
 * @file Exponential moving average of weights (the EMA model diffusion training samples from):
 * shadow = d * shadow + (1 - d) * param after every optimizer step, with the warmup diffusers'
 * EMAModel uses, d_t = min(decay, (1 + t) / (10 + t)), so the average forgets the random
 * initialisation within the first few hundred steps instead of a few thousand.
 */
import { kernels } from "../engine/kernels/index.js";
import { keep } from "../engine/memory.js";
import { noGrad } from "../engine/autograd.js";
import { Tensor } from "../engine/tensor.js";
import type { Module } from "./module.js";

export class EMA {
  readonly shadow = new Map<string, Tensor>();

  constructor(readonly model: Module, readonly decay = 0.999) {
    if (!(decay >= 0 && decay <= 1)) throw new Error(`EMA: decay must be in [0, 1], got ${decay}`);
    for (const [name, t] of model.stateDict()) this.shadow.set(name, keep(noGrad(() => t.clone())));
  }

  /** The decay applied at optimizer step `step` (0-based). */
  decayAt(step: number): number {
    return Math.min(this.decay, (1 + step) / (10 + step));
  }

  /** Blends the model's current weights into the average after optimizer step `step`. */
  update(step: number): void {
    const d = this.decayAt(step);
    for (const [name, t] of this.model.stateDict()) {
      const s = this.shadow.get(name)!;
      if (t.dtype === "float32") kernels.axpby(t.size, 1 - d, t.f32, d, s.f32);
      else s.data.set(t.data);
    }
  }

  /** Writes the averaged weights into a module with the same structure (e.g. for sampling). */
  copyTo(target: Module): void {
    target.loadStateDict(this.shadow);
  }
}

/**
 * @file Exponential moving average of weights (the EMA model diffusion training samples from):
 * shadow = decay * shadow + (1 - decay) * param after every optimizer step.
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

  /** Blends the model's current weights into the average. */
  update(): void {
    for (const [name, t] of this.model.stateDict()) {
      const s = this.shadow.get(name)!;
      if (t.dtype === "float32") kernels.axpby(t.size, 1 - this.decay, t.f32, this.decay, s.f32);
      else s.data.set(t.data);
    }
  }

  /** Writes the averaged weights into a module with the same structure (e.g. for sampling). */
  copyTo(target: Module): void {
    target.loadStateDict(this.shadow);
  }
}

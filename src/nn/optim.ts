/**
 * @file Optimizers, in order of increasing complexity: SGD (with momentum) and AdamW (decoupled
 * weight decay). Both share one loop (Optimizer.step) and differ in `updateParameter`. Their state
 * is a flat map of named tensors plus the step count, so a checkpoint can save and restore it.
 * Also here: gradient-norm clipping, which the training loops apply before each step.
 */
import { kernels } from "../engine/kernels/index.js";
import { keep } from "../engine/memory.js";
import { Tensor } from "../engine/tensor.js";
import { clearGrad } from "../engine/autograd.js";

export interface OptimizerState {
  step: number;
  /** Per-parameter buffers keyed "<param index>.<buffer name>". */
  buffers: Map<string, Tensor>;
}

export abstract class Optimizer {
  /** Learning rate; schedules overwrite it before each step. */
  lr: number;
  stepCount = 0;
  protected readonly buffers = new Map<string, Tensor>();

  constructor(readonly params: readonly Tensor[], lr: number) {
    if (!(lr >= 0)) throw new Error(`optimizer: learning rate must be >= 0, got ${lr}`);
    this.lr = lr;
  }

  /** A per-parameter buffer, created as zeros on first use (kept alive across scopes). */
  protected buffer(index: number, name: string): Tensor {
    const key = `${index}.${name}`;
    let b = this.buffers.get(key);
    if (b === undefined) {
      b = keep(Tensor.zeros(this.params[index].shape));
      this.buffers.set(key, b);
    }
    return b;
  }

  /** Applies one update to every parameter that has a gradient. */
  step(): void {
    this.stepCount++;
    this.params.forEach((p, i) => {
      if (p.grad !== null) this.updateParameter(i, p, p.grad);
    });
  }

  protected abstract updateParameter(index: number, p: Tensor, grad: Tensor): void;

  /** Releases every gradient (call before each backward). */
  zeroGrad(): void {
    for (const p of this.params) clearGrad(p);
  }

  stateDict(): OptimizerState {
    return { step: this.stepCount, buffers: new Map(this.buffers) };
  }

  loadStateDict(state: OptimizerState): void {
    this.stepCount = state.step;
    for (const [key, value] of state.buffers) {
      const index = Number(key.split(".")[0]);
      const p = this.params[index];
      if (p === undefined || p.size !== value.size) {
        throw new Error(`optimizer state: buffer ${key} does not match the parameters (different model or optimizer?)`);
      }
      const name = key.slice(key.indexOf(".") + 1);
      this.buffer(index, name).data.set(value.data);
    }
  }
}

export interface SGDOptions {
  lr: number;
  momentum?: number;
  weightDecay?: number;
}

/** SGD with momentum (torch.optim.SGD semantics: buf = m*buf + g; p -= lr*buf). */
export class SGD extends Optimizer {
  readonly momentum: number;
  readonly weightDecay: number;

  constructor(params: readonly Tensor[], options: SGDOptions) {
    super(params, options.lr);
    this.momentum = options.momentum ?? 0;
    this.weightDecay = options.weightDecay ?? 0;
  }

  protected updateParameter(index: number, p: Tensor, grad: Tensor): void {
    let g = grad;
    if (this.weightDecay !== 0) {
      g = grad.clone();
      kernels.axpby(p.size, this.weightDecay, p.f32, 1, g.f32);
    }
    if (this.momentum !== 0) {
      const buf = this.buffer(index, "momentum_buffer");
      // First step initialises the buffer to g, as torch does.
      kernels.axpby(p.size, 1, g.f32, this.stepCount === 1 ? 0 : this.momentum, buf.f32);
      g = buf;
    }
    kernels.axpby(p.size, -this.lr, g.f32, 1, p.f32);
    if (g !== grad && g !== this.buffers.get(`${index}.momentum_buffer`)) g.dispose();
  }
}

export interface AdamWOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/** AdamW (Loshchilov & Hutter 2019), numerically identical to torch.optim.AdamW. */
export class AdamW extends Optimizer {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;

  constructor(params: readonly Tensor[], options: AdamWOptions) {
    super(params, options.lr);
    [this.beta1, this.beta2] = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
  }

  protected updateParameter(index: number, p: Tensor, grad: Tensor): void {
    const m = this.buffer(index, "exp_avg"), v = this.buffer(index, "exp_avg_sq");
    const bc1 = 1 - this.beta1 ** this.stepCount, bc2 = 1 - this.beta2 ** this.stepCount;
    kernels.adamwStep(p.size, p.f32, grad.f32, m.f32, v.f32, this.lr, this.beta1, this.beta2, this.eps, this.weightDecay, bc1, bc2);
  }
}

/**
 * Scales all gradients so their global L2 norm is at most maxNorm (torch.nn.utils.clip_grad_norm_).
 * Returns the norm before clipping; a non-finite norm is returned as is and nothing is scaled, so
 * the caller can report it.
 */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): number {
  let total = 0;
  for (const p of params) if (p.grad !== null) total += kernels.sumSquares(p.grad.size, p.grad.f32);
  const norm = Math.sqrt(total);
  if (!Number.isFinite(norm)) return norm;
  const scale = maxNorm / (norm + 1e-6);
  if (scale < 1) {
    for (const p of params) if (p.grad !== null) kernels.axpby(p.grad.size, 0, p.grad.f32, scale, p.grad.f32);
  }
  return norm;
}

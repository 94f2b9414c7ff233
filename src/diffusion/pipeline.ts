/**
 * @file The sampling loop (diffusers' StableDiffusionPipeline without the VAE and text encoder):
 *   x_T ~ N(0, I) * init_noise_sigma
 *   for t in scheduler.timesteps:
 *     eps_u, eps_c = unet([x_t, x_t], t, [null, label] context)        (one batched call)
 *     eps = eps_u + g * (eps_c - eps_u)                                  (classifier-free guidance)
 *     x_{t-1} = scheduler.step(eps, t, x_t)
 * Each step runs in a memory scope, so sampling holds a flat amount of memory. A LayerExecutor can
 * be supplied per timestep: ALTER uses it to skip the layers its plan prunes at that timestep.
 */
import { Tensor } from "../engine/tensor.js";
import { Generator } from "../engine/rng.js";
import { noGrad } from "../engine/autograd.js";
import { keep, scope } from "../engine/memory.js";
import { concat } from "../engine/ops/layout.js";
import type { ClassEmbedder } from "../models/embeddings.js";
import type { UNet2DConditionModel } from "../models/unet-2d-condition.js";
import type { LayerExecutor } from "../models/layer-executor.js";
import type { Scheduler } from "./scheduler.js";

export interface SampleOptions {
  /** Class labels, one per image. */
  labels: ArrayLike<number>;
  steps: number;
  /** Classifier-free guidance scale; 1 disables guidance (one model call per step). */
  guidance: number;
  seed: number;
  /** Per-timestep layer executor (ALTER's plan); dense when absent. */
  executorFor?: (timestep: number) => LayerExecutor | undefined;
  /** Called after every step (progress bars). */
  onStep?: (index: number, timestep: number) => void;
  /** Noise of stochastic samplers; defaults to a generator forked from the seed. */
  generator?: Generator;
}

export interface SampleResult {
  /** [N, H, W, C] in the model's data range ([-1, 1] for our teachers). */
  images: Tensor;
  /** Number of UNet evaluations per image (steps, doubled under guidance). */
  modelCalls: number;
}

export function sampleImages(unet: UNet2DConditionModel, embedder: ClassEmbedder, scheduler: Scheduler, options: SampleOptions): SampleResult {
  const n = options.labels.length;
  const { sample_size: size, in_channels: channels } = unet.config;
  const seedGen = new Generator(options.seed);
  const noiseGen = options.generator ?? seedGen.fork(1);
  const guided = options.guidance !== 1;
  scheduler.setTimesteps(options.steps);

  return noGrad(() => {
    const labels = Tensor.int32(Array.from(options.labels));
    const nullLabels = Tensor.int32(new Array<number>(n).fill(embedder.nullLabel));
    const context = keep(guided ? concat([embedder.forward(nullLabels), embedder.forward(labels)], 0) : embedder.forward(labels));
    let x = keep(Tensor.randn([n, size, size, channels], seedGen).mul(scheduler.initNoiseSigma));
    scheduler.timesteps.forEach((t, index) => {
      const next = scope(() => {
        const input = scheduler.scaleModelInput(x, t);
        const executor = options.executorFor?.(t);
        let eps: Tensor;
        if (guided) {
          const both = unet.forward(concat([input, input], 0), t, context, { executor });
          const [uncond, cond] = both.chunk(2, 0);
          eps = uncond.add(cond.sub(uncond).mul(options.guidance));
        } else {
          eps = unet.forward(input, t, context, { executor });
        }
        return scheduler.step(eps, t, x, { generator: noiseGen }).prevSample;
      });
      x.dispose();
      x = keep(next);
      options.onStep?.(index, t);
    });
    context.dispose();
    return { images: x, modelCalls: scheduler.timesteps.length * (guided ? 2 : 1) };
  });
}

/** [-1, 1] floats -> uint8 pixels (rounded, clamped), same layout. */
export function toUint8(images: Tensor): Uint8Array {
  const src = images.f32;
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = Math.max(0, Math.min(255, Math.round((src[i] + 1) * 127.5)));
  return out;
}

/** Guidance when neither the user nor the model folder gives one (Stable Diffusion-like models). */
export const DEFAULT_GUIDANCE = 3;

/**
 * A model folder's own guidance scale: `model_index.json` may hold `"alter_defaults": {"guidance": g}`,
 * chosen by measurement for that model (small pixel-space models want far less than SD's 7.5).
 */
export function modelGuidance(index: Record<string, unknown>): number {
  const g = (index.alter_defaults as { guidance?: unknown } | undefined)?.guidance;
  return typeof g === "number" && Number.isFinite(g) && g >= 0 ? g : DEFAULT_GUIDANCE;
}

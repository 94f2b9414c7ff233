/**
 * @file Timestep embeddings (diffusers embeddings.py): the sinusoidal projection of integer
 * timesteps (DDPM's positional encoding) and the two-layer MLP that maps it to the width the
 * ResNet blocks add to their features. Also the class-label embedder that turns a label into
 * context tokens for cross-attention (our stand-in for Stable Diffusion's text encoder).
 */
import { Tensor } from "../engine/tensor.js";
import type { Generator } from "../engine/rng.js";
import { gatherRows } from "../engine/ops/indexing.js";
import { Module, parameter } from "../nn/module.js";
import { Linear } from "../nn/layers.js";
import { joinName, type MacCounter } from "../nn/macs.js";

/**
 * Sinusoidal embedding of timesteps (diffusers get_timestep_embedding): half the channels are
 * sin(t * f_i), half cos(t * f_i), f_i = exp(-ln(maxPeriod) * i / (half - freqShift)); cos first
 * when flipSinToCos. Returns [timesteps.length, dim].
 */
export function timestepEmbedding(
  timesteps: ArrayLike<number>,
  dim: number,
  flipSinToCos: boolean,
  freqShift: number,
  maxPeriod = 10000,
): Tensor {
  const half = Math.floor(dim / 2);
  const out = Tensor.zeros([timesteps.length, dim]);
  const data = out.f32;
  for (let n = 0; n < timesteps.length; n++) {
    for (let i = 0; i < half; i++) {
      const freq = Math.exp((-Math.log(maxPeriod) * i) / (half - freqShift));
      const angle = timesteps[n] * freq;
      const [first, second] = flipSinToCos ? [Math.cos(angle), Math.sin(angle)] : [Math.sin(angle), Math.cos(angle)];
      data[n * dim + i] = first;
      data[n * dim + half + i] = second;
    }
  }
  return out;
}

/** linear_1 -> SiLU -> linear_2 (diffusers TimestepEmbedding). */
export class TimestepEmbedding extends Module {
  linear_1: Linear;
  linear_2: Linear;

  constructor(inChannels: number, timeEmbedDim: number, generator?: Generator) {
    super();
    this.linear_1 = new Linear(inChannels, timeEmbedDim, { generator });
    this.linear_2 = new Linear(timeEmbedDim, timeEmbedDim, { generator });
  }

  forward(x: Tensor): Tensor {
    return this.linear_2.forward(this.linear_1.forward(x).silu());
  }

  countMacs(counter: MacCounter, name: string): void {
    this.linear_1.countMacs(counter, joinName(name, "linear_1"), 1);
    this.linear_2.countMacs(counter, joinName(name, "linear_2"), 1);
  }
}

export interface ClassEmbedderConfig {
  _class_name: "ClassEmbedder";
  /** Number of real classes; label `num_classes` is the null label (unconditional, for CFG). */
  num_classes: number;
  /** Context tokens per label. */
  num_tokens: number;
  /** Token width = the UNet's cross_attention_dim. */
  cross_attention_dim: number;
}

/**
 * Label -> `num_tokens` learned context vectors, fed to the UNet's cross-attention exactly where
 * Stable Diffusion feeds text-encoder states. Row `num_classes` of the table is the null label used
 * for classifier-free guidance (and substituted for real labels by label dropout in training).
 */
export class ClassEmbedder extends Module {
  embedding: Tensor;

  constructor(readonly config: ClassEmbedderConfig, generator?: Generator) {
    super();
    const { num_classes, num_tokens, cross_attention_dim } = config;
    const g = generator;
    this.embedding = parameter(
      g ? Tensor.randn([num_classes + 1, num_tokens * cross_attention_dim], g, 0.02) : Tensor.zeros([num_classes + 1, num_tokens * cross_attention_dim]),
    );
  }

  get nullLabel(): number {
    return this.config.num_classes;
  }

  /** labels int32 [B] (0..num_classes, the last being null) -> context [B, num_tokens, dim]. */
  forward(labels: Tensor): Tensor {
    const { num_tokens, cross_attention_dim } = this.config;
    return gatherRows(this.embedding, labels).reshape([labels.size, num_tokens, cross_attention_dim]);
  }
}

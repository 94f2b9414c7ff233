/**
 * @file diffusers' UNet2DConditionModel (unet_2d_condition.py), channels-last:
 *   emb = time_embedding(time_proj(t))
 *   h = conv_in(x); encoder blocks push skip features; mid block; decoder blocks pop them
 *   out = conv_out(silu(conv_norm_out(h)))
 * Built from a validated diffusers config; parameter names equal diffusers' state-dict keys, so
 * `diffusion_pytorch_model.safetensors` loads directly. Inputs and outputs are [B, H, W, C].
 */
import type { Generator } from "../engine/rng.js";
import { Tensor } from "../engine/tensor.js";
import { Module } from "../nn/module.js";
import { Conv2d, GroupNorm } from "../nn/layers.js";
import { joinName, MacCounter } from "../nn/macs.js";
import { formatShape } from "../engine/shape.js";
import type { UNet2DConditionConfig } from "./config.js";
import { TimestepEmbedding, timestepEmbedding } from "./embeddings.js";
import { denseExecutor, type LayerExecutor } from "./layer-executor.js";
import {
  DOWN_BLOCKS, UP_BLOCKS, UNetMidBlock2DCrossAttn, type BlockContext, type BlockOptions, type CrossAttnDownBlock2D,
  type CrossAttnUpBlock2D,
} from "./unet-2d-blocks/index.js";

export interface UNetForwardOptions {
  /** Runs (or masks, or skips) the prunable layers; the dense executor by default. */
  executor?: LayerExecutor;
  /** When given, receives the output of every down block, the mid block and every up block (no copies). */
  features?: Tensor[];
}

export class UNet2DConditionModel extends Module {
  conv_in: Conv2d;
  time_embedding: TimestepEmbedding;
  down_blocks: CrossAttnDownBlock2D[];
  mid_block: UNetMidBlock2DCrossAttn;
  up_blocks: CrossAttnUpBlock2D[];
  conv_norm_out: GroupNorm;
  conv_out: Conv2d;

  constructor(readonly config: UNet2DConditionConfig, generator?: Generator) {
    super();
    const c = config;
    const boc = c.block_out_channels;
    const timeEmbedDim = boc[0] * 4;
    this.conv_in = new Conv2d(c.in_channels, boc[0], 3, { padding: 1, generator });
    this.time_embedding = new TimestepEmbedding(boc[0], timeEmbedDim, generator);
    const common = (i: number): Omit<BlockOptions, "numLayers" | "inChannels" | "outChannels"> => ({
      tembChannels: timeEmbedDim, eps: c.norm_eps, groups: c.norm_num_groups, dropout: c.dropout,
      heads: c.num_attention_heads[i], crossAttentionDim: c.cross_attention_dim,
      transformerLayers: c.transformer_layers_per_block[i], useLinearProjection: c.use_linear_projection,
      onlyCrossAttention: c.only_cross_attention, downsamplePadding: c.downsample_padding, generator,
    });

    const last = boc.length - 1;
    let outChannels = boc[0];
    this.down_blocks = c.down_block_types.map((type, i) => {
      const inChannels = outChannels;
      outChannels = boc[i];
      return DOWN_BLOCKS[type]({ ...common(i), numLayers: c.layers_per_block[i], inChannels, outChannels }, i !== last);
    });
    this.mid_block = new UNetMidBlock2DCrossAttn({ ...common(last), numLayers: 1, inChannels: boc[last], outChannels: boc[last] }, c.mid_block_scale_factor);

    const reversed = [...boc].reverse();
    const reversedLayers = [...c.layers_per_block].reverse();
    outChannels = reversed[0];
    this.up_blocks = c.up_block_types.map((type, i) => {
      const prevOutputChannels = outChannels;
      outChannels = reversed[i];
      const inChannels = reversed[Math.min(i + 1, last)];
      const blockIndex = last - i; // per-block settings are listed in encoder order
      return UP_BLOCKS[type]({ ...common(blockIndex), numLayers: reversedLayers[i] + 1, inChannels, outChannels, prevOutputChannels }, i !== last);
    });
    this.conv_norm_out = new GroupNorm(c.norm_num_groups, boc[0], c.norm_eps);
    this.conv_out = new Conv2d(boc[0], c.out_channels, 3, { padding: 1, generator });
  }

  /** The sinusoidal projection of timesteps (diffusers' time_proj), [B, block_out_channels[0]]. */
  timeProjection(timesteps: ArrayLike<number>): Tensor {
    return timestepEmbedding(timesteps, this.config.block_out_channels[0], this.config.flip_sin_to_cos, this.config.freq_shift);
  }

  /**
   * Predicts the model output for noisy samples [B, H, W, in_channels] at integer timesteps (one per
   * sample, or one for all) given cross-attention context [B, L, cross_attention_dim].
   */
  forward(sample: Tensor, timesteps: ArrayLike<number> | number, context: Tensor | null, options: UNetForwardOptions = {}): Tensor {
    const [B, H, W, C] = sample.shape;
    if (sample.rank !== 4 || C !== this.config.in_channels) {
      throw new Error(`UNet2DConditionModel: sample must be [B, H, W, ${this.config.in_channels}] (channels last), got ${formatShape(sample.shape)}`);
    }
    const factor = 2 ** (this.config.block_out_channels.length - 1);
    if (H % factor !== 0 || W % factor !== 0) {
      throw new Error(`UNet2DConditionModel: height and width must be multiples of ${factor}, got ${H}x${W}`);
    }
    if (context !== null && (context.rank !== 3 || context.shape[0] !== B || context.shape[2] !== this.config.cross_attention_dim)) {
      throw new Error(`UNet2DConditionModel: context must be [${B}, L, ${this.config.cross_attention_dim}], got ${formatShape(context.shape)}`);
    }
    const steps = typeof timesteps === "number" ? new Array<number>(B).fill(timesteps) : timesteps;
    if (steps.length !== B) throw new Error(`UNet2DConditionModel: ${steps.length} timesteps for a batch of ${B}`);

    const temb = this.time_embedding.forward(this.timeProjection(steps));
    const ctx: BlockContext = { temb, context, executor: options.executor ?? denseExecutor };
    const features = options.features;

    let h = this.conv_in.forward(sample);
    const skips: Tensor[] = [h];
    this.down_blocks.forEach((block, i) => {
      const out = block.forward(`down_blocks.${i}`, h, ctx);
      h = out.hidden;
      skips.push(...out.skips);
      features?.push(h);
    });
    h = this.mid_block.forward("mid_block", h, ctx);
    features?.push(h);
    this.up_blocks.forEach((block, i) => {
      h = block.forward(`up_blocks.${i}`, h, skips, ctx);
      features?.push(h);
    });
    return this.conv_out.forward(this.conv_norm_out.forward(h).silu());
  }

  /** Per-layer MACs for one image of height x width with a context of the given length. */
  countMacs(height = this.config.sample_size, width = this.config.sample_size, contextLength = 77): MacCounter {
    const counter = new MacCounter();
    this.conv_in.countMacs(counter, "conv_in", height, width);
    this.time_embedding.countMacs(counter, "time_embedding");
    let size: [number, number] = [height, width];
    this.down_blocks.forEach((b, i) => (size = b.countMacs(counter, joinName("down_blocks", String(i)), size[0], size[1], contextLength)));
    this.mid_block.countMacs(counter, "mid_block", size[0], size[1], contextLength);
    this.up_blocks.forEach((b, i) => (size = b.countMacs(counter, joinName("up_blocks", String(i)), size[0], size[1], contextLength)));
    this.conv_out.countMacs(counter, "conv_out", height, width);
    return counter;
  }
}

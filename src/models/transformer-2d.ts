/**
 * @file diffusers' Transformer2DModel with BasicTransformerBlock (attention.py,
 * transformer_2d.py), the spatial transformer of Stable Diffusion's UNet:
 *   h = proj_in(norm(x)) as tokens [B, H*W, inner]
 *   each block: h += attn1(norm1(h)); h += attn2(norm2(h), context); h += ff(norm3(h))
 *   out = proj_out(h) + x
 * Channels-last images are already token-major, so flattening H, W is a free reshape. proj_in is a
 * Linear (use_linear_projection) or a 1x1 Conv2d; both are per-pixel linear maps.
 */
import type { Generator } from "../engine/rng.js";
import type { Tensor } from "../engine/tensor.js";
import { Module } from "../nn/module.js";
import { Conv2d, GroupNorm, LayerNorm, Linear } from "../nn/layers.js";
import { joinName, type MacCounter } from "../nn/macs.js";
import { Attention, FeedForward } from "./attention.js";

export interface TransformerOptions {
  heads: number;
  headDim: number;
  crossAttentionDim: number | null;
  onlyCrossAttention?: boolean;
  generator?: Generator;
}

export class BasicTransformerBlock extends Module {
  norm1: LayerNorm;
  attn1: Attention;
  norm2: LayerNorm | null;
  attn2: Attention | null;
  norm3: LayerNorm;
  ff: FeedForward;
  readonly onlyCrossAttention: boolean;

  constructor(readonly dim: number, options: TransformerOptions) {
    super();
    const { heads, headDim, crossAttentionDim, generator } = options;
    this.onlyCrossAttention = options.onlyCrossAttention ?? false;
    this.norm1 = new LayerNorm(dim);
    this.attn1 = new Attention({ queryDim: dim, heads, dimHead: headDim, crossAttentionDim: this.onlyCrossAttention ? crossAttentionDim : null, generator });
    const hasCross = crossAttentionDim !== null;
    this.norm2 = hasCross ? new LayerNorm(dim) : null;
    this.attn2 = hasCross ? new Attention({ queryDim: dim, heads, dimHead: headDim, crossAttentionDim, generator }) : null;
    this.norm3 = new LayerNorm(dim);
    this.ff = new FeedForward(dim, { generator });
  }

  /** h [B, L, dim], context [B, Lc, crossAttentionDim] or null. */
  forward(h: Tensor, context: Tensor | null): Tensor {
    let x = h.add(this.attn1.forward(this.norm1.forward(h), this.onlyCrossAttention ? context : null));
    if (this.attn2 !== null && this.norm2 !== null) x = x.add(this.attn2.forward(this.norm2.forward(x), context));
    return x.add(this.ff.forward(this.norm3.forward(x)));
  }

  countMacs(counter: MacCounter, name: string, tokens: number, contextLength: number): void {
    this.attn1.countMacs(counter, joinName(name, "attn1"), tokens, this.onlyCrossAttention ? contextLength : tokens);
    this.attn2?.countMacs(counter, joinName(name, "attn2"), tokens, contextLength);
    this.ff.countMacs(counter, joinName(name, "ff"), tokens);
  }
}

export interface Transformer2DOptions extends TransformerOptions {
  inChannels: number;
  numLayers: number;
  normNumGroups: number;
  useLinearProjection: boolean;
}

export class Transformer2DModel extends Module {
  norm: GroupNorm;
  proj_in: Linear | Conv2d;
  transformer_blocks: BasicTransformerBlock[];
  proj_out: Linear | Conv2d;

  constructor(readonly options: Transformer2DOptions) {
    super();
    const { inChannels, heads, headDim, numLayers, generator } = options;
    const inner = heads * headDim;
    this.norm = new GroupNorm(options.normNumGroups, inChannels, 1e-6);
    const project = (a: number, b: number): Linear | Conv2d =>
      options.useLinearProjection ? new Linear(a, b, { generator }) : new Conv2d(a, b, 1, { generator });
    this.proj_in = project(inChannels, inner);
    this.transformer_blocks = Array.from({ length: numLayers }, () => new BasicTransformerBlock(inner, options));
    this.proj_out = project(inner, inChannels);
  }

  /** x [B, H, W, C]; context [B, Lc, D]. Runs every transformer block (ALTER's masking wraps this). */
  forward(x: Tensor, context: Tensor | null, runBlock?: (index: number, block: BasicTransformerBlock, h: Tensor) => Tensor): Tensor {
    const [B, H, W, C] = x.shape;
    const inner = this.options.heads * this.options.headDim;
    let h = this.norm.forward(x);
    h = this.#project(this.proj_in, h).reshape([B, H * W, inner]);
    this.transformer_blocks.forEach((block, i) => {
      h = runBlock ? runBlock(i, block, h) : block.forward(h, context);
    });
    h = this.#project(this.proj_out, h.reshape([B, H, W, inner]));
    return h.reshape([B, H, W, C]).add(x);
  }

  #project(layer: Linear | Conv2d, h: Tensor): Tensor {
    return layer.forward(h);
  }

  countMacs(counter: MacCounter, name: string, height: number, width: number, contextLength: number): void {
    const tokens = height * width;
    const countProjection = (layer: Linear | Conv2d, child: string): void => {
      if (layer instanceof Linear) layer.countMacs(counter, joinName(name, child), tokens);
      else layer.countMacs(counter, joinName(name, child), height, width);
    };
    countProjection(this.proj_in, "proj_in");
    this.transformer_blocks.forEach((b, i) => b.countMacs(counter, joinName(name, `transformer_blocks.${i}`), tokens, contextLength));
    countProjection(this.proj_out, "proj_out");
  }
}

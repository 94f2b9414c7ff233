/**
 * @file What every UNet block needs to know to build itself (diffusers' get_down_block/get_up_block
 * arguments), and the per-call context passed down the forward.
 */
import type { Generator } from "../../engine/rng.js";
import type { Tensor } from "../../engine/tensor.js";
import type { LayerExecutor } from "../layer-executor.js";
import { Transformer2DModel } from "../transformer-2d.js";

export interface BlockOptions {
  numLayers: number;
  inChannels: number;
  outChannels: number;
  tembChannels: number;
  eps: number;
  groups: number;
  dropout: number;
  heads: number;
  crossAttentionDim: number;
  transformerLayers: number;
  useLinearProjection: boolean;
  onlyCrossAttention: boolean;
  downsamplePadding: number;
  generator?: Generator;
}

export interface BlockContext {
  temb: Tensor;
  context: Tensor | null;
  executor: LayerExecutor;
}

export function makeTransformer(channels: number, o: BlockOptions): Transformer2DModel {
  return new Transformer2DModel({
    inChannels: channels,
    heads: o.heads,
    headDim: channels / o.heads,
    numLayers: o.transformerLayers,
    normNumGroups: o.groups,
    useLinearProjection: o.useLinearProjection,
    crossAttentionDim: o.crossAttentionDim,
    onlyCrossAttention: o.onlyCrossAttention,
    generator: o.generator,
  });
}

/** Runs a Transformer2DModel with each of its transformer blocks routed through the executor. */
export function runTransformer(name: string, t: Transformer2DModel, h: Tensor, ctx: BlockContext): Tensor {
  return t.forward(h, ctx.context, (i, block, tokens) => ctx.executor.transformerBlock(`${name}.transformer_blocks.${i}`, block, tokens, ctx.context));
}

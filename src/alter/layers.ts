/**
 * @file The prunable layers of a UNet and their flat mask order (ALTER section 3.1; official code
 * `p_structures`). A layer is either
 *  - a whole ResnetBlock2D whose hidden-stream input has as many channels as its output, so that
 *    skipping it keeps the shape (a decoder resnet's concatenated skip feature does not count: a
 *    skipped decoder resnet passes its stream on and drops the skip feature), or
 *  - one BasicTransformerBlock inside a Transformer2DModel (the wrapper's GroupNorm, proj_in and
 *    proj_out are never pruned).
 *
 * Flat order (as the official code, so masks are comparable with the paper's): the encoder blocks,
 * then the decoder blocks, then the mid block last; inside a block, every transformer block (by
 * attention index, then transformer index) before the block's prunable resnets (by resnet index).
 * Each layer carries its diffusers module path and its own MACs for one image from the MAC counter
 * (not the official approximation that charges every resnet of a block like its last one).
 */
import type { MacCounter } from "../nn/macs.js";
import type { UNet2DConditionModel } from "../models/unet-2d-condition.js";
import type { ResnetBlock2D } from "../models/resnet.js";
import type { Transformer2DModel } from "../models/transformer-2d.js";

export type PrunableKind = "resnet" | "transformer";

export interface PrunableLayer {
  /** Position in the flat mask vector. */
  index: number;
  /** diffusers module path, e.g. "up_blocks.1.resnets.2" or "mid_block.attentions.0.transformer_blocks.0". */
  name: string;
  kind: PrunableKind;
  /** The block it belongs to ("down_blocks.0", "mid_block", ...). */
  block: string;
  /** Multiply-accumulates of one evaluation of this layer for one image. */
  macs: number;
}

interface BlockLike {
  resnets: ResnetBlock2D[];
  attentions: Transformer2DModel[];
}

function blockLayers(prefix: string, block: BlockLike, streamChannels: (resnetIndex: number) => number): Omit<PrunableLayer, "index" | "macs">[] {
  const layers: Omit<PrunableLayer, "index" | "macs">[] = [];
  block.attentions.forEach((attention, a) => {
    attention.transformer_blocks.forEach((_, t) => {
      layers.push({ name: `${prefix}.attentions.${a}.transformer_blocks.${t}`, kind: "transformer", block: prefix });
    });
  });
  block.resnets.forEach((resnet, r) => {
    if (streamChannels(r) === resnet.outChannels) layers.push({ name: `${prefix}.resnets.${r}`, kind: "resnet", block: prefix });
  });
  return layers;
}

/**
 * The prunable layers of a UNet in flat mask order. `macs` must come from `unet.countMacs(...)` at the
 * resolution and context length the costs should reflect.
 */
export function prunableLayers(unet: UNet2DConditionModel, macs: MacCounter): PrunableLayer[] {
  const described: Omit<PrunableLayer, "index" | "macs">[] = [];
  unet.down_blocks.forEach((block, i) => {
    described.push(...blockLayers(`down_blocks.${i}`, block, (r) => block.resnets[r].inChannels));
  });
  unet.up_blocks.forEach((block, i) => {
    const prev = block.options.prevOutputChannels, out = block.options.outChannels;
    described.push(...blockLayers(`up_blocks.${i}`, block, (r) => (r === 0 ? prev : out)));
  });
  const mid = unet.mid_block;
  described.push(...blockLayers("mid_block", mid, (r) => mid.resnets[r].inChannels));
  return described.map((layer, index) => {
    const cost = macs.under(layer.name);
    if (cost <= 0) throw new Error(`alter: no MACs recorded for prunable layer ${layer.name}`);
    return { ...layer, index, macs: cost };
  });
}

/** Total MACs of the prunable layers and their share of the whole UNet. */
export function prunableShare(layers: readonly PrunableLayer[], macs: MacCounter): { prunableMacs: number; totalMacs: number; share: number } {
  const prunableMacs = layers.reduce((s, l) => s + l.macs, 0);
  const totalMacs = macs.total();
  return { prunableMacs, totalMacs, share: prunableMacs / totalMacs };
}

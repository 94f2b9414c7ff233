/**
 * @file Decoder blocks (diffusers CrossAttnUpBlock2D and UpBlock2D): numLayers resnets, each
 * consuming one encoder skip feature (concatenated along channels), each followed by a spatial
 * transformer in the cross-attention variant, then an optional 2x upsampler.
 */
import type { Tensor } from "../../engine/tensor.js";
import { Module } from "../../nn/module.js";
import { joinName, type MacCounter } from "../../nn/macs.js";
import { ResnetBlock2D } from "../resnet.js";
import { Upsample2D } from "../resampling.js";
import type { Transformer2DModel } from "../transformer-2d.js";
import { makeTransformer, runTransformer, type BlockContext, type BlockOptions } from "./common.js";

export interface UpBlockOptions extends BlockOptions {
  /** Channels of the hidden stream entering the block (the previous up block's output). */
  prevOutputChannels: number;
}

export class CrossAttnUpBlock2D extends Module {
  resnets: ResnetBlock2D[];
  attentions: Transformer2DModel[];
  upsamplers: Upsample2D[];

  constructor(readonly options: UpBlockOptions, addUpsample: boolean, withAttention = true) {
    super();
    const o = options;
    this.resnets = Array.from({ length: o.numLayers }, (_, i) => {
      // The last resnet consumes the block's first encoder feature, which has the block's input width.
      const skipChannels = i === o.numLayers - 1 ? o.inChannels : o.outChannels;
      const streamChannels = i === 0 ? o.prevOutputChannels : o.outChannels;
      return new ResnetBlock2D({
        inChannels: streamChannels + skipChannels, outChannels: o.outChannels, tembChannels: o.tembChannels,
        groups: o.groups, eps: o.eps, dropout: o.dropout, generator: o.generator,
      });
    });
    this.attentions = withAttention ? Array.from({ length: o.numLayers }, () => makeTransformer(o.outChannels, o)) : [];
    this.upsamplers = addUpsample ? [new Upsample2D(o.outChannels, o.outChannels, o.generator)] : [];
  }

  /** Pops one skip feature per resnet from the end of `skips` (mutates it). */
  forward(name: string, x: Tensor, skips: Tensor[], ctx: BlockContext): Tensor {
    let h = x;
    this.resnets.forEach((resnet, i) => {
      const skip = skips.pop();
      if (skip === undefined) throw new Error(`${name}: the skip-connection stack ran out (encoder/decoder layer counts differ)`);
      h = ctx.executor.resnet(`${name}.resnets.${i}`, resnet, h, ctx.temb, skip);
      if (this.attentions.length > 0) h = runTransformer(`${name}.attentions.${i}`, this.attentions[i], h, ctx);
    });
    for (const up of this.upsamplers) h = up.forward(h);
    return h;
  }

  countMacs(counter: MacCounter, name: string, height: number, width: number, contextLength: number): [number, number] {
    this.resnets.forEach((r, i) => {
      r.countMacs(counter, joinName(name, `resnets.${i}`), height, width);
      this.attentions[i]?.countMacs(counter, joinName(name, `attentions.${i}`), height, width, contextLength);
    });
    let size: [number, number] = [height, width];
    this.upsamplers.forEach((u, i) => (size = u.countMacs(counter, joinName(name, `upsamplers.${i}`), height, width)));
    return size;
  }
}

/** The attention-free decoder block. */
export class UpBlock2D extends CrossAttnUpBlock2D {
  constructor(options: UpBlockOptions, addUpsample: boolean) {
    super(options, addUpsample, false);
  }
}

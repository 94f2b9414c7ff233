/**
 * @file Encoder blocks (diffusers CrossAttnDownBlock2D and DownBlock2D): numLayers resnets, each
 * followed by a spatial transformer in the cross-attention variant, then an optional stride-2
 * downsampler. Every intermediate output is returned for the decoder's skip connections.
 */
import type { Tensor } from "../../engine/tensor.js";
import { Module } from "../../nn/module.js";
import { joinName, type MacCounter } from "../../nn/macs.js";
import { ResnetBlock2D } from "../resnet.js";
import { Downsample2D } from "../resampling.js";
import type { Transformer2DModel } from "../transformer-2d.js";
import { makeTransformer, runTransformer, type BlockContext, type BlockOptions } from "./common.js";

export interface BlockOutput {
  hidden: Tensor;
  /** Features pushed onto the skip stack, in order. */
  skips: Tensor[];
}

export class CrossAttnDownBlock2D extends Module {
  resnets: ResnetBlock2D[];
  attentions: Transformer2DModel[];
  downsamplers: Downsample2D[];

  constructor(readonly options: BlockOptions, addDownsample: boolean, withAttention = true) {
    super();
    const o = options;
    this.resnets = Array.from({ length: o.numLayers }, (_, i) => new ResnetBlock2D({
      inChannels: i === 0 ? o.inChannels : o.outChannels, outChannels: o.outChannels, tembChannels: o.tembChannels,
      groups: o.groups, eps: o.eps, dropout: o.dropout, generator: o.generator,
    }));
    this.attentions = withAttention ? Array.from({ length: o.numLayers }, () => makeTransformer(o.outChannels, o)) : [];
    this.downsamplers = addDownsample ? [new Downsample2D(o.outChannels, o.outChannels, o.downsamplePadding, o.generator)] : [];
  }

  forward(name: string, x: Tensor, ctx: BlockContext): BlockOutput {
    const skips: Tensor[] = [];
    let h = x;
    this.resnets.forEach((resnet, i) => {
      h = ctx.executor.resnet(`${name}.resnets.${i}`, resnet, h, ctx.temb, null);
      if (this.attentions.length > 0) h = runTransformer(`${name}.attentions.${i}`, this.attentions[i], h, ctx);
      skips.push(h);
    });
    for (const down of this.downsamplers) {
      h = down.forward(h);
      skips.push(h);
    }
    return { hidden: h, skips };
  }

  /** Returns the output size. */
  countMacs(counter: MacCounter, name: string, height: number, width: number, contextLength: number): [number, number] {
    this.resnets.forEach((r, i) => {
      r.countMacs(counter, joinName(name, `resnets.${i}`), height, width);
      this.attentions[i]?.countMacs(counter, joinName(name, `attentions.${i}`), height, width, contextLength);
    });
    let size: [number, number] = [height, width];
    this.downsamplers.forEach((d, i) => (size = d.countMacs(counter, joinName(name, `downsamplers.${i}`), height, width)));
    return size;
  }
}

/** The attention-free encoder block. */
export class DownBlock2D extends CrossAttnDownBlock2D {
  constructor(options: BlockOptions, addDownsample: boolean) {
    super(options, addDownsample, false);
  }
}

/**
 * @file diffusers UNetMidBlock2DCrossAttn: resnet, then (transformer, resnet) pairs, at the lowest
 * resolution. Channels never change here.
 */
import type { Tensor } from "../../engine/tensor.js";
import { Module } from "../../nn/module.js";
import { joinName, type MacCounter } from "../../nn/macs.js";
import { ResnetBlock2D } from "../resnet.js";
import type { Transformer2DModel } from "../transformer-2d.js";
import { makeTransformer, runTransformer, type BlockContext, type BlockOptions } from "./common.js";

export class UNetMidBlock2DCrossAttn extends Module {
  resnets: ResnetBlock2D[];
  attentions: Transformer2DModel[];

  constructor(readonly options: BlockOptions, outputScaleFactor: number) {
    super();
    const o = options;
    const resnet = (): ResnetBlock2D => new ResnetBlock2D({
      inChannels: o.inChannels, outChannels: o.inChannels, tembChannels: o.tembChannels, groups: o.groups, eps: o.eps,
      dropout: o.dropout, outputScaleFactor, generator: o.generator,
    });
    this.resnets = [resnet()];
    this.attentions = [];
    for (let i = 0; i < o.numLayers; i++) {
      this.attentions.push(makeTransformer(o.inChannels, o));
      this.resnets.push(resnet());
    }
  }

  forward(name: string, x: Tensor, ctx: BlockContext): Tensor {
    let h = ctx.executor.resnet(`${name}.resnets.0`, this.resnets[0], x, ctx.temb, null);
    this.attentions.forEach((attention, i) => {
      h = runTransformer(`${name}.attentions.${i}`, attention, h, ctx);
      h = ctx.executor.resnet(`${name}.resnets.${i + 1}`, this.resnets[i + 1], h, ctx.temb, null);
    });
    return h;
  }

  countMacs(counter: MacCounter, name: string, height: number, width: number, contextLength: number): void {
    this.resnets[0].countMacs(counter, joinName(name, "resnets.0"), height, width);
    this.attentions.forEach((a, i) => {
      a.countMacs(counter, joinName(name, `attentions.${i}`), height, width, contextLength);
      this.resnets[i + 1].countMacs(counter, joinName(name, `resnets.${i + 1}`), height, width);
    });
  }
}

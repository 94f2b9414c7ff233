/**
 * @file diffusers' Downsample2D (3x3 convolution with stride 2) and Upsample2D (nearest-neighbour
 * 2x, then a 3x3 convolution). Field `conv` gives the checkpoint keys downsamplers.0.conv.*,
 * upsamplers.0.conv.*.
 */
import type { Generator } from "../engine/rng.js";
import type { Tensor } from "../engine/tensor.js";
import { upsampleNearest2x } from "../engine/ops/resample.js";
import { Module } from "../nn/module.js";
import { Conv2d } from "../nn/layers.js";
import { joinName, type MacCounter } from "../nn/macs.js";

export class Downsample2D extends Module {
  conv: Conv2d;

  constructor(channels: number, outChannels: number, padding: number, generator?: Generator) {
    super();
    this.conv = new Conv2d(channels, outChannels, 3, { stride: 2, padding, generator });
  }

  forward(x: Tensor): Tensor {
    return this.conv.forward(x);
  }

  countMacs(counter: MacCounter, name: string, height: number, width: number): [number, number] {
    return this.conv.countMacs(counter, joinName(name, "conv"), height, width);
  }
}

export class Upsample2D extends Module {
  conv: Conv2d;

  constructor(channels: number, outChannels: number, generator?: Generator) {
    super();
    this.conv = new Conv2d(channels, outChannels, 3, { padding: 1, generator });
  }

  forward(x: Tensor): Tensor {
    return this.conv.forward(upsampleNearest2x(x));
  }

  countMacs(counter: MacCounter, name: string, height: number, width: number): [number, number] {
    return this.conv.countMacs(counter, joinName(name, "conv"), 2 * height, 2 * width);
  }
}

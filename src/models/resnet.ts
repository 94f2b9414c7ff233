/**
 * @file diffusers' ResnetBlock2D (models/resnet.py), channels-last:
 *   h = conv1(silu(norm1(x))) + time_emb_proj(silu(temb))
 *   h = conv2(dropout(silu(norm2(h))))
 *   out = (shortcut(x) + h) / output_scale_factor
 * Field names are the checkpoint keys (norm1, conv1, time_emb_proj, norm2, conv2, conv_shortcut).
 */
import type { Generator } from "../engine/rng.js";
import type { Tensor } from "../engine/tensor.js";
import { Module } from "../nn/module.js";
import { Conv2d, Dropout, GroupNorm, Linear } from "../nn/layers.js";
import { joinName, type MacCounter } from "../nn/macs.js";

export interface ResnetBlock2DOptions {
  inChannels: number;
  outChannels?: number;
  tembChannels: number | null;
  groups?: number;
  groupsOut?: number;
  eps?: number;
  dropout?: number;
  outputScaleFactor?: number;
  generator?: Generator;
}

export class ResnetBlock2D extends Module {
  norm1: GroupNorm;
  conv1: Conv2d;
  time_emb_proj: Linear | null;
  norm2: GroupNorm;
  dropout: Dropout;
  conv2: Conv2d;
  conv_shortcut: Conv2d | null;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly outputScaleFactor: number;

  constructor(options: ResnetBlock2DOptions) {
    super();
    const { inChannels, tembChannels, generator } = options;
    const outChannels = options.outChannels ?? inChannels;
    const groups = options.groups ?? 32, eps = options.eps ?? 1e-6;
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.outputScaleFactor = options.outputScaleFactor ?? 1;
    this.norm1 = new GroupNorm(groups, inChannels, eps);
    this.conv1 = new Conv2d(inChannels, outChannels, 3, { padding: 1, generator });
    this.time_emb_proj = tembChannels === null ? null : new Linear(tembChannels, outChannels, { generator });
    this.norm2 = new GroupNorm(options.groupsOut ?? groups, outChannels, eps);
    this.dropout = new Dropout(options.dropout ?? 0);
    this.conv2 = new Conv2d(outChannels, outChannels, 3, { padding: 1, generator });
    this.conv_shortcut = inChannels === outChannels ? null : new Conv2d(inChannels, outChannels, 1, { generator });
  }

  /** x [N, H, W, inChannels], temb [N, tembChannels] -> [N, H, W, outChannels]. */
  forward(x: Tensor, temb: Tensor | null): Tensor {
    let h = this.conv1.forward(this.norm1.forward(x).silu());
    if (this.time_emb_proj !== null && temb !== null) {
      const t = this.time_emb_proj.forward(temb.silu());
      h = h.add(t.reshape([t.shape[0], 1, 1, t.shape[1]]));
    }
    h = this.conv2.forward(this.dropout.forward(this.norm2.forward(h).silu()));
    const shortcut = this.conv_shortcut === null ? x : this.conv_shortcut.forward(x);
    const out = shortcut.add(h);
    return this.outputScaleFactor === 1 ? out : out.mul(1 / this.outputScaleFactor);
  }

  /** MACs for one H x W image (the time projection counts once per image). */
  countMacs(counter: MacCounter, name: string, height: number, width: number): void {
    this.conv1.countMacs(counter, joinName(name, "conv1"), height, width);
    this.time_emb_proj?.countMacs(counter, joinName(name, "time_emb_proj"), 1);
    this.conv2.countMacs(counter, joinName(name, "conv2"), height, width);
    this.conv_shortcut?.countMacs(counter, joinName(name, "conv_shortcut"), height, width);
  }
}

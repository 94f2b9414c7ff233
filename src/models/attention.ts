/**
 * @file diffusers' Attention (attention_processor.py) and FeedForward with GEGLU (attention.py).
 * Heads are split inside the fused attention kernel, so the projections feed it directly.
 * Field names are the checkpoint keys: to_q, to_k, to_v, to_out.0; ff.net.0.proj, ff.net.2.
 */
import type { Generator } from "../engine/rng.js";
import type { Tensor } from "../engine/tensor.js";
import { scaledDotProductAttention } from "../engine/ops/attention.js";
import { Module } from "../nn/module.js";
import { Dropout, Linear } from "../nn/layers.js";
import { joinName, type MacCounter } from "../nn/macs.js";

export interface AttentionOptions {
  queryDim: number;
  /** Width of the context for cross-attention; null for self-attention. */
  crossAttentionDim?: number | null;
  heads: number;
  dimHead: number;
  dropout?: number;
  generator?: Generator;
}

export class Attention extends Module {
  to_q: Linear;
  to_k: Linear;
  to_v: Linear;
  to_out: [Linear, Dropout];
  readonly heads: number;

  constructor(options: AttentionOptions) {
    super();
    const inner = options.heads * options.dimHead;
    const contextDim = options.crossAttentionDim ?? options.queryDim;
    const generator = options.generator;
    this.heads = options.heads;
    this.to_q = new Linear(options.queryDim, inner, { bias: false, generator });
    this.to_k = new Linear(contextDim, inner, { bias: false, generator });
    this.to_v = new Linear(contextDim, inner, { bias: false, generator });
    this.to_out = [new Linear(inner, options.queryDim, { generator }), new Dropout(options.dropout ?? 0)];
  }

  /** x [B, L, queryDim]; context [B, Lk, crossAttentionDim] or null (self-attention). */
  forward(x: Tensor, context: Tensor | null = null): Tensor {
    const source = context ?? x;
    const q = this.to_q.forward(x), k = this.to_k.forward(source), v = this.to_v.forward(source);
    const attended = scaledDotProductAttention(q, k, v, this.heads);
    return this.to_out[1].forward(this.to_out[0].forward(attended));
  }

  /** MACs for one sequence of Lq queries attending to Lk keys. */
  countMacs(counter: MacCounter, name: string, queryLength: number, keyLength: number): void {
    const inner = this.to_q.outFeatures;
    this.to_q.countMacs(counter, joinName(name, "to_q"), queryLength);
    this.to_k.countMacs(counter, joinName(name, "to_k"), keyLength);
    this.to_v.countMacs(counter, joinName(name, "to_v"), keyLength);
    // Q K^T and P V: each heads * Lq * Lk * headDim = Lq * Lk * inner.
    counter.add(joinName(name, "qk"), "attention", queryLength * keyLength * inner);
    counter.add(joinName(name, "av"), "attention", queryLength * keyLength * inner);
    this.to_out[0].countMacs(counter, joinName(name, "to_out.0"), queryLength);
  }
}

/** GEGLU (Shazeer 2020): one projection to 2x width, split into value and gate, value * gelu(gate). */
export class GEGLU extends Module {
  proj: Linear;

  constructor(dimIn: number, dimOut: number, generator?: Generator) {
    super();
    this.proj = new Linear(dimIn, dimOut * 2, { generator });
  }

  forward(x: Tensor): Tensor {
    const [hidden, gate] = this.proj.forward(x).chunk(2, -1);
    return hidden.mul(gate.gelu());
  }
}

export class FeedForward extends Module {
  net: [GEGLU, Dropout, Linear];

  constructor(dim: number, options: { mult?: number; dropout?: number; generator?: Generator } = {}) {
    super();
    const inner = dim * (options.mult ?? 4);
    this.net = [new GEGLU(dim, inner, options.generator), new Dropout(options.dropout ?? 0), new Linear(inner, dim, { generator: options.generator })];
  }

  forward(x: Tensor): Tensor {
    return this.net[2].forward(this.net[1].forward(this.net[0].forward(x)));
  }

  countMacs(counter: MacCounter, name: string, rows: number): void {
    this.net[0].proj.countMacs(counter, joinName(name, "net.0.proj"), rows);
    this.net[2].countMacs(counter, joinName(name, "net.2"), rows);
  }
}

/**
 * @file The standard layers, each a Module whose fields carry PyTorch's parameter names (weight,
 * bias) and whose forward is a call into the engine's ops. Initialisation follows PyTorch's
 * defaults (uniform in +-1/sqrt(fan_in) for Linear and Conv2d), drawn from an explicit Generator.
 */
import { Generator } from "../engine/rng.js";
import { Tensor } from "../engine/tensor.js";
import { linear } from "../engine/ops/linalg.js";
import { conv2d } from "../engine/ops/conv.js";
import { groupNorm, layerNorm } from "../engine/ops/norm.js";
import { embedding } from "../engine/ops/indexing.js";
import { dropout } from "../engine/ops/loss.js";
import { Module, parameter } from "./module.js";
import type { MacCounter } from "./macs.js";

/** Where layers draw their initial weights from unless told otherwise (deterministic). */
const defaultInit = (): Generator => new Generator(0);

function uniformInit(shape: number[], bound: number, generator: Generator): Tensor {
  return parameter(Tensor.uniform(shape, generator, -bound, bound));
}

export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, options: { bias?: boolean; generator?: Generator } = {}) {
    super();
    const g = options.generator ?? defaultInit();
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = uniformInit([outFeatures, inFeatures], bound, g);
    this.bias = options.bias ?? true ? uniformInit([outFeatures], bound, g) : null;
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }

  /** MACs for `rows` input vectors. */
  countMacs(counter: MacCounter, name: string, rows: number): void {
    counter.add(name, "linear", rows * this.inFeatures * this.outFeatures);
  }
}

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
  bias?: boolean;
  generator?: Generator;
}

/** 2-D convolution over channels-last images; weight [out, in, k, k] as in PyTorch. */
export class Conv2d extends Module {
  weight: Tensor;
  bias: Tensor | null;
  readonly stride: number;
  readonly padding: number;

  constructor(readonly inChannels: number, readonly outChannels: number, readonly kernelSize: number, options: Conv2dOptions = {}) {
    super();
    const g = options.generator ?? defaultInit();
    const bound = 1 / Math.sqrt(inChannels * kernelSize * kernelSize);
    this.weight = uniformInit([outChannels, inChannels, kernelSize, kernelSize], bound, g);
    this.bias = options.bias ?? true ? uniformInit([outChannels], bound, g) : null;
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding });
  }

  /** Output size of an H x W input. */
  outputSize(height: number, width: number): [number, number] {
    const k = this.kernelSize, p = this.padding, s = this.stride;
    return [Math.floor((height + 2 * p - k) / s) + 1, Math.floor((width + 2 * p - k) / s) + 1];
  }

  /** MACs for one H x W image; returns the output size. */
  countMacs(counter: MacCounter, name: string, height: number, width: number): [number, number] {
    const [oh, ow] = this.outputSize(height, width);
    counter.add(name, "conv", oh * ow * this.outChannels * this.inChannels * this.kernelSize * this.kernelSize);
    return [oh, ow];
  }
}

export class GroupNorm extends Module {
  weight: Tensor | null;
  bias: Tensor | null;

  constructor(readonly numGroups: number, readonly numChannels: number, readonly eps = 1e-5, affine = true) {
    super();
    if (numChannels % numGroups !== 0) {
      throw new Error(`GroupNorm: ${numChannels} channels do not split into ${numGroups} groups`);
    }
    this.weight = affine ? parameter(Tensor.ones([numChannels])) : null;
    this.bias = affine ? parameter(Tensor.zeros([numChannels])) : null;
  }

  forward(x: Tensor): Tensor {
    return groupNorm(x, this.numGroups, this.weight, this.bias, this.eps);
  }
}

export class LayerNorm extends Module {
  weight: Tensor | null;
  bias: Tensor | null;

  constructor(readonly dim: number, readonly eps = 1e-5, elementwiseAffine = true) {
    super();
    this.weight = elementwiseAffine ? parameter(Tensor.ones([dim])) : null;
    this.bias = elementwiseAffine ? parameter(Tensor.zeros([dim])) : null;
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}

export class Embedding extends Module {
  weight: Tensor;

  constructor(readonly numEmbeddings: number, readonly dim: number, options: { generator?: Generator } = {}) {
    super();
    this.weight = parameter(Tensor.randn([numEmbeddings, dim], options.generator ?? defaultInit()));
  }

  forward(indices: Tensor): Tensor {
    return embedding(indices, this.weight);
  }
}

/** Dropout with its own generator so that training runs are reproducible. */
export class Dropout extends Module {
  #generator: Generator;

  constructor(readonly p: number, generator?: Generator) {
    super();
    this.#generator = generator ?? new Generator(1);
  }

  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.#generator, this.training);
  }
}

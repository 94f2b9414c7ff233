/**
 * Parity with PyTorch 1.13: modules built here, loaded with the parameters that
 * tools/make_fixtures.py drew in torch, must reproduce torch's outputs and gradients (the loss is
 * sum(out * dout) with dout from the fixture). Images are NCHW in the fixtures and NHWC here.
 */
import { describe, test } from "node:test";
import { join } from "node:path";
import { Tensor, nchwToNhwc, nhwcToNchw, noGrad } from "../../src/engine/index.js";
import { readSafetensors, type RawTensor } from "../../src/nn/safetensors.js";
import type { Module } from "../../src/nn/module.js";
import { Conv2d, GroupNorm, LayerNorm } from "../../src/nn/layers.js";
import { AdamW } from "../../src/nn/optim.js";
import { ResnetBlock2D } from "../../src/models/resnet.js";
import { Attention, FeedForward } from "../../src/models/attention.js";
import { assertClose } from "../helpers/gradcheck.js";
import * as F from "../../src/engine/index.js";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "torch");

interface Fixture {
  get(name: string): Tensor;
  params: Map<string, RawTensor>;
  config: Record<string, unknown>;
}

function loadFixture(name: string): Fixture {
  const { tensors, metadata } = readSafetensors(join(FIXTURES, `${name}.safetensors`));
  const params = new Map<string, RawTensor>();
  for (const [key, value] of tensors) if (key.startsWith("param.")) params.set(key.slice(6), value);
  return {
    get(key: string): Tensor {
      const raw = tensors.get(key);
      if (raw === undefined) throw new Error(`fixture ${name} has no tensor ${key}`);
      return Tensor.from(raw.data, raw.shape);
    },
    params,
    config: JSON.parse(metadata.config ?? "{}"),
  };
}

const toNhwc = (t: Tensor): Tensor => (t.rank === 4 ? noGrad(() => nchwToNhwc(t)) : t);
const toNchw = (t: Tensor): Tensor => (t.rank === 4 ? noGrad(() => nhwcToNchw(t)) : t);

/** Loads params, runs forward on the fixture inputs, backprops dout, compares everything. */
function checkModule(name: string, module: Module, inputNames: string[], forward: (...xs: Tensor[]) => Tensor, rtol = 1e-4, atol = 1e-5): void {
  const fx = loadFixture(name);
  module.loadStateDict(fx.params);
  const inputs = inputNames.map((n) => toNhwc(fx.get(`in.${n}`)).requireGrad());
  const out = forward(...inputs);
  assertClose(toNchw(out).f32, fx.get("out.out").f32, rtol, atol, `${name} output`);
  out.mul(toNhwc(fx.get("in.dout"))).sum().backward();
  inputNames.forEach((n, i) => assertClose(toNchw(inputs[i].grad!).f32, fx.get(`grad.in.${n}`).f32, rtol, atol, `${name} d/d${n}`));
  for (const [key, p] of module.namedParameters()) {
    assertClose(p.grad!.f32, fx.get(`grad.param.${key}`).f32, rtol, atol, `${name} d/d${key}`);
  }
}

describe("parity with PyTorch", () => {
  test("conv2d 3x3, stride 2 and 1x1", () => {
    for (const name of ["conv2d_3x3", "conv2d_s2", "conv2d_1x1"]) {
      const cfg = loadFixture(name).config as { in_channels: number; out_channels: number; kernel_size: number; stride: number; padding: number };
      const conv = new Conv2d(cfg.in_channels, cfg.out_channels, cfg.kernel_size, { stride: cfg.stride, padding: cfg.padding });
      checkModule(name, conv, ["x"], (x) => conv.forward(x));
    }
  });
  test("group norm and layer norm", () => {
    const gn = new GroupNorm(4, 8, 1e-5);
    checkModule("group_norm", gn, ["x"], (x) => gn.forward(x));
    const ln = new LayerNorm(12, 1e-5);
    checkModule("layer_norm", ln, ["x"], (x) => ln.forward(x));
  });
  test("attention, self and cross", () => {
    const selfAttn = new Attention({ queryDim: 16, heads: 2, dimHead: 8 });
    checkModule("attention_self", selfAttn, ["x"], (x) => selfAttn.forward(x));
    const crossAttn = new Attention({ queryDim: 16, crossAttentionDim: 12, heads: 2, dimHead: 8 });
    checkModule("attention_cross", crossAttn, ["x", "context"], (x, c) => crossAttn.forward(x, c));
  });
  test("GEGLU feed-forward", () => {
    const ff = new FeedForward(16, { mult: 4 });
    checkModule("geglu_ff", ff, ["x"], (x) => ff.forward(x));
  });
  test("ResnetBlock2D with time embedding and 1x1 shortcut", () => {
    const block = new ResnetBlock2D({ inChannels: 8, outChannels: 12, tembChannels: 16, groups: 4, eps: 1e-5 });
    checkModule("resnet_block", block, ["x", "temb"], (x, t) => block.forward(x, t));
  });
  test("activations", () => {
    const fx = loadFixture("activations");
    const ops: Record<string, (x: Tensor) => Tensor> = {
      gelu_erf: (x) => x.gelu(), gelu_tanh: (x) => x.gelu("tanh"), silu: (x) => x.silu(),
      sigmoid: (x) => x.sigmoid(), softmax: (x) => F.softmax(x), log_softmax: (x) => F.logSoftmax(x),
    };
    for (const [op, fn] of Object.entries(ops)) {
      const x = fx.get(`in.x_${op}`).requireGrad();
      const out = fn(x);
      assertClose(out.f32, fx.get(`out.${op}`).f32, 1e-5, 1e-6, op);
      out.mul(fx.get(`in.dout_${op}`)).sum().backward();
      assertClose(x.grad!.f32, fx.get(`grad.in.x_${op}`).f32, 1e-5, 1e-6, `${op} grad`);
    }
  });
  test("5 AdamW steps", () => {
    const fx = loadFixture("adamw_5steps");
    const p = fx.get("in.p0").requireGrad();
    const opt = new AdamW([p], { lr: 0.01, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.1 });
    for (let i = 0; i < 5; i++) {
      p.grad = fx.get(`in.g${i}`);
      opt.step();
      assertClose(p.f32, fx.get(`out.p${i + 1}`).f32, 1e-6, 1e-7, `AdamW step ${i + 1}`);
    }
    const state = opt.stateDict().buffers;
    assertClose(state.get("0.exp_avg")!.f32, fx.get("out.m").f32, 1e-5, 1e-7, "exp_avg");
    assertClose(state.get("0.exp_avg_sq")!.f32, fx.get("out.v").f32, 1e-5, 1e-9, "exp_avg_sq");
  });
});

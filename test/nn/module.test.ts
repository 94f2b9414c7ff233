/** Module naming contract, state dict loading errors, optimizers, schedules, clipping and EMA. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Tensor, Generator } from "../../src/engine/index.js";
import { Module, StateDictError } from "../../src/nn/module.js";
import { Linear } from "../../src/nn/layers.js";
import { AdamW, SGD, clipGradNorm } from "../../src/nn/optim.js";
import { constantThenCosine, constantWithWarmup, cosineWithWarmup } from "../../src/nn/schedule.js";
import { EMA } from "../../src/nn/ema.js";
import { ResnetBlock2D } from "../../src/models/resnet.js";
import { Attention } from "../../src/models/attention.js";

class Net extends Module {
  blocks = [new Linear(2, 3), new Linear(3, 1, { bias: false })];
  shared: Linear;
  constructor() {
    super();
    this.shared = this.blocks[0];
  }
}

describe("Module", () => {
  test("dotted names follow fields and arrays; shared parameters appear once", () => {
    assert.deepEqual(new Net().namedParameters().map(([n]) => n), ["blocks.0.weight", "blocks.0.bias", "blocks.1.weight"]);
    const keys = [...new ResnetBlock2D({ inChannels: 4, outChannels: 8, tembChannels: 6, groups: 2 }).stateDict().keys()];
    assert.ok(keys.includes("time_emb_proj.weight") && keys.includes("conv_shortcut.bias") && keys.includes("norm2.weight"));
    assert.ok([...new Attention({ queryDim: 8, heads: 2, dimHead: 4 }).stateDict().keys()].includes("to_out.0.bias"));
  });

  test("strict load lists every missing, unexpected and mis-shaped key", () => {
    const net = new Net();
    const bad = new Map<string, { shape: number[]; data: Float32Array }>([
      ["blocks.0.weight", { shape: [3, 2], data: new Float32Array(6) }],
      ["blocks.1.weight", { shape: [2, 3], data: new Float32Array(6) }],
      ["extra.weight", { shape: [1], data: new Float32Array(1) }],
    ]);
    assert.throws(() => net.loadStateDict(bad), (err: unknown) => {
      assert.ok(err instanceof StateDictError);
      assert.deepEqual(err.report.missing, ["blocks.0.bias"]);
      assert.deepEqual(err.report.unexpected, ["extra.weight"]);
      assert.match(err.report.mismatched[0], /blocks\.1\.weight: checkpoint \[2, 3\], model \[1, 3\]/);
      return true;
    });
    const report = net.loadStateDict(bad, { strict: false });
    assert.equal(report.missing.length, 1);
    assert.deepEqual(net.blocks[0].weight.toArray(), [0, 0, 0, 0, 0, 0]);
  });

  test("requiresGrad(false) freezes a module", () => {
    const net = new Net().requiresGrad(false);
    assert.ok(net.parameters().every((p) => !p.requiresGrad));
  });
});

describe("optimizers", () => {
  test("SGD with momentum matches the torch recurrence", () => {
    const p = Tensor.from([1, -1]).requireGrad();
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9 });
    let buf = [0, 0], value = [1, -1];
    for (let i = 0; i < 3; i++) {
      p.grad = Tensor.from([0.5, 2]);
      opt.step();
      buf = buf.map((b, j) => (i === 0 ? [0.5, 2][j] : 0.9 * b + [0.5, 2][j]));
      value = value.map((v, j) => v - 0.1 * buf[j]);
      p.toArray().forEach((v, j) => assert.ok(Math.abs(v - value[j]) < 1e-6));
    }
  });

  test("state round trip continues identically", () => {
    const run = (resumeAt: number | null): number[] => {
      const gen = new Generator(9);
      const p = Tensor.randn([5], gen).requireGrad();
      let opt = new AdamW([p], { lr: 0.05 });
      for (let i = 0; i < 6; i++) {
        if (i === resumeAt) {
          const saved = opt.stateDict();
          opt = new AdamW([p], { lr: 0.05 });
          opt.loadStateDict(saved);
        }
        p.grad = p.mul(p).add(0.1);
        opt.step();
      }
      return p.toArray();
    };
    assert.deepEqual(run(3), run(null));
  });

  test("clipGradNorm scales to maxNorm and reports the original norm", () => {
    const p = Tensor.from([0, 0]).requireGrad();
    p.grad = Tensor.from([3, 4]);
    assert.equal(clipGradNorm([p], 1), 5);
    const [a, b] = p.grad.toArray();
    assert.ok(Math.abs(Math.hypot(a, b) - 1) < 1e-5);
    p.grad = Tensor.from([NaN, 1]);
    assert.ok(Number.isNaN(clipGradNorm([p], 1)));
  });

  test("schedules", () => {
    const warm = constantWithWarmup(1, 4);
    assert.deepEqual([0, 1, 3, 10].map(warm), [0.25, 0.5, 1, 1]);
    const cos = cosineWithWarmup(1, 0, 10, 0.1);
    assert.equal(cos(0), 1);
    assert.ok(Math.abs(cos(5) - 0.55) < 1e-12);
    assert.ok(Math.abs(cos(10) - 0.1) < 1e-12);
    const late = constantThenCosine(1, 2, 6, 10);
    assert.deepEqual([0, 1, 2, 5, 6].map(late), [0.5, 1, 1, 1, 1]);
    assert.ok(Math.abs(late(8) - 0.5) < 1e-12);
    assert.equal(late(10), 0);
  });

  test("EMA averages weights", () => {
    const net = new Linear(1, 1, { bias: false });
    net.weight.f32[0] = 0;
    const ema = new EMA(net, 0.5);
    net.weight.f32[0] = 1;
    // Late steps use the full decay: 0 -> 0.5 -> 0.75.
    ema.update(100);
    ema.update(101);
    assert.equal(ema.shadow.get("weight")!.item(), 0.75);
    // Warmup: step 0 uses min(0.5, 1/10) = 0.1, so the average jumps most of the way at once.
    const warm = new EMA(net, 0.999);
    net.weight.f32[0] = 2;
    warm.update(0);
    assert.ok(Math.abs(warm.shadow.get("weight")!.item() - (0.1 * 1 + 0.9 * 2)) < 1e-6);
  });
});

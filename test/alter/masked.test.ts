/**
 * Prunable layers and masked execution: SD-2.1's 34 layers in the official order, and the
 * inference path (real skipping) and the subset path (the UNet step) agreeing with the training
 * path (blending) for hard masks.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { Generator, Tensor, noGrad, withMetaTensors } from "../../src/engine/index.js";
import { readUNetConfig, parseUNetConfig } from "../../src/models/config.js";
import { UNet2DConditionModel } from "../../src/models/unet-2d-condition.js";
import { prunableLayers, prunableShare } from "../../src/alter/layers.js";
import { layerIndex, MaskedExecutor, SkippingExecutor, SubsetExecutor } from "../../src/alter/masked.js";
import { ResnetBlock2D } from "../../src/models/resnet.js";
import { assertClose } from "../helpers/gradcheck.js";

const ROOT = join(import.meta.dirname, "..", "..");

describe("prunable layers", () => {
  test("Stable Diffusion 2.1 has the paper's 34 layers in the official flat order", () => {
    const unet = withMetaTensors(() => new UNet2DConditionModel(readUNetConfig(join(ROOT, "configs", "sd21-unet.json"))));
    const macs = unet.countMacs(96, 96, 77);
    const layers = prunableLayers(unet, macs);
    assert.equal(layers.length, 34);
    const short = layers.map((l) => l.name.replace(/^(down|up)_blocks/, "$1").replace("mid_block", "mid").replace(".transformer_blocks.0", "").replace(".attentions.", ".attn").replace(".resnets.", ".res"));
    assert.deepEqual(short.slice(0, 12), ["down.0.attn0", "down.0.attn1", "down.0.res0", "down.0.res1", "down.1.attn0", "down.1.attn1", "down.1.res1", "down.2.attn0", "down.2.attn1", "down.2.res1", "down.3.res0", "down.3.res1"]);
    assert.deepEqual(short.slice(12, 21), ["up.0.res0", "up.0.res1", "up.0.res2", "up.1.attn0", "up.1.attn1", "up.1.attn2", "up.1.res0", "up.1.res1", "up.1.res2"]);
    assert.deepEqual(short.slice(21, 26), ["up.2.attn0", "up.2.attn1", "up.2.attn2", "up.2.res1", "up.2.res2"]);
    assert.deepEqual(short.slice(31), ["mid.attn0", "mid.res0", "mid.res1"]);
    const { share } = prunableShare(layers, macs);
    assert.ok(share > 0.75 && share < 1, `prunable share ${share}`);
  });
});

describe("masked execution", () => {
  const config = parseUNetConfig({
    sample_size: 16, in_channels: 2, out_channels: 2, down_block_types: ["CrossAttnDownBlock2D", "DownBlock2D"],
    up_block_types: ["UpBlock2D", "CrossAttnUpBlock2D"], block_out_channels: [8, 8], layers_per_block: 2,
    attention_head_dim: [2, 2], cross_attention_dim: 6, norm_num_groups: 4, transformer_layers_per_block: [2, 1],
  });
  const gen = new Generator(7);
  const unet = new UNet2DConditionModel(config, gen);
  const layers = prunableLayers(unet, unet.countMacs(16, 16, 3));
  const index = layerIndex(layers);
  const x = Tensor.randn([3, 16, 16, 2], gen), context = Tensor.randn([3, 3, 6], gen);
  const timesteps = [10, 500, 990];

  test("every layer kind is prunable, including decoder resnets with skip features", () => {
    assert.ok(layers.some((l) => l.name === "up_blocks.0.resnets.0"));
    assert.ok(layers.some((l) => l.name === "up_blocks.1.attentions.0.transformer_blocks.0"));
    assert.ok(layers.some((l) => l.name === "down_blocks.0.attentions.0.transformer_blocks.1"));
    assert.ok(layers.some((l) => l.name === "mid_block.resnets.1"));
  });

  test("hard masks: skipping (inference) equals blending (training) to 1e-5, for random masks", () => {
    for (let trial = 0; trial < 6; trial++) {
      const keep = Array.from(gen.uniform(layers.length), (u) => (u < 0.5 ? 0 : 1));
      const skipped = noGrad(() => unet.forward(x, timesteps, context, { executor: new SkippingExecutor(index, keep) }));
      const masks = Tensor.from(Array.from({ length: 3 }, () => keep).flat(), [3, layers.length]);
      const blended = noGrad(() => unet.forward(x, timesteps, context, { executor: new MaskedExecutor(index, masks) }));
      assertClose(skipped.f32, blended.f32, 1e-5, 1e-5, `trial ${trial}`);
    }
  });

  test("per-sample masks: each sample follows its own row", () => {
    const a = Array.from(gen.uniform(layers.length), (u) => (u < 0.5 ? 0 : 1));
    const b = a.map((v) => 1 - v);
    const masks = Tensor.from([...a, ...b, ...a], [3, layers.length]);
    const mixed = noGrad(() => unet.forward(x, timesteps, context, { executor: new MaskedExecutor(index, masks) }));
    const sizeOf = 16 * 16 * 2;
    [a, b, a].forEach((keep, i) => {
      const one = noGrad(() => unet.forward(x.slice(0, i, i + 1), [timesteps[i]], context.slice(0, i, i + 1), { executor: new SkippingExecutor(index, keep) }));
      assertClose(mixed.f32.subarray(i * sizeOf, (i + 1) * sizeOf), one.f32, 1e-5, 1e-5, `sample ${i}`);
    });
  });

  test("subset execution (the UNet step) gives the blend's outputs, features and gradients", () => {
    // Per-sample rows mixing kept, pruned and all-kept layers, so every branch of the executor runs.
    const rows = [0, 1, 2].map(() => Array.from(gen.uniform(layers.length), (u) => (u < 0.4 ? 0 : 1)));
    rows[2][0] = rows[1][0] = rows[0][0] = 1;
    rows[2][1] = rows[1][1] = rows[0][1] = 0;
    const masks = Tensor.from(rows.flat(), [3, layers.length]);
    const run = (executor: MaskedExecutor | SubsetExecutor) => {
      for (const p of unet.parameters()) p.grad = null;
      const input = x.clone().requireGrad();
      const features: Tensor[] = [];
      const out = unet.forward(input, timesteps, context, { executor, features });
      out.square().mean().add(features[1].square().mean()).backward();
      return { out: out.f32, features: features.map((f) => f.f32), input: input.grad!.f32, params: unet.parameters().map((p) => p.grad?.f32 ?? null) };
    };
    const blended = run(new MaskedExecutor(index, masks));
    const subset = run(new SubsetExecutor(index, masks));
    assertClose(subset.out, blended.out, 1e-5, 1e-5, "output");
    subset.features.forEach((f, i) => assertClose(f, blended.features[i], 1e-5, 1e-5, `feature ${i}`));
    assertClose(subset.input, blended.input, 1e-5, 1e-4, "input gradient");
    subset.params.forEach((g, i) => {
      const expected = blended.params[i];
      if (g === null) assert.ok(expected === null || expected.every((v) => v === 0), `parameter ${i}: the blend has a gradient the subset lacks`);
      else assertClose(g, expected ?? new Float32Array(g.length), 1e-5, 1e-4, `parameter ${i} gradient`);
    });
    for (const p of unet.parameters()) p.grad = null;
    assert.throws(() => new SubsetExecutor(index, Tensor.full([3, layers.length], 0.7)), /masks must be hard/);
  });

  test("skipping really skips: a skipped layer is never called", () => {
    let calls = 0;
    const original = ResnetBlock2D.prototype.forward;
    ResnetBlock2D.prototype.forward = function (this: ResnetBlock2D, ...args: Parameters<typeof original>) { calls++; return original.apply(this, args); };
    try {
      const resnets = layers.filter((l) => l.kind === "resnet").length;
      const allResnets = unet.namedModules().filter(([, m]) => m instanceof ResnetBlock2D).length;
      noGrad(() => unet.forward(x, timesteps, context, { executor: new SkippingExecutor(index, layers.map((l) => (l.kind === "resnet" ? 0 : 1))) }));
      assert.equal(calls, allResnets - resnets);
    } finally {
      ResnetBlock2D.prototype.forward = original;
    }
  });

  test("the blend is differentiable with respect to the mask", () => {
    const masks = Tensor.full([3, layers.length], 0.7).requireGrad();
    unet.forward(x, timesteps, context, { executor: new MaskedExecutor(index, masks) }).square().mean().backward();
    const g = masks.grad!.f32;
    assert.ok(g.some((v) => v !== 0) && g.every(Number.isFinite));
  });
});

/**
 * UNet2DConditionModel: parity with an independent PyTorch implementation (tools/make_unet_fixture.py),
 * diffusers config handling, state-dict naming, block features, and MAC counting.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { Tensor, nchwToNhwc, noGrad, withMetaTensors } from "../../src/engine/index.js";
import { readSafetensors } from "../../src/nn/safetensors.js";
import { parseUNetConfig, readUNetConfig, ConfigError } from "../../src/models/config.js";
import { UNet2DConditionModel } from "../../src/models/unet-2d-condition.js";
import { StateDictError } from "../../src/nn/module.js";
import { assertClose } from "../helpers/gradcheck.js";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "unet");
const ROOT = join(import.meta.dirname, "..", "..");

function relativeError(a: Float32Array, b: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

describe("UNet2DConditionModel parity with PyTorch", () => {
  for (const [configFile, weights] of [["config.json", "unet_tiny.safetensors"], ["config_conv.json", "unet_tiny_conv.safetensors"]]) {
    test(`${configFile}: output and every block feature match to 1e-4 relative`, () => {
      const config = readUNetConfig(join(FIXTURES, configFile));
      const unet = new UNet2DConditionModel(config);
      const { tensors } = readSafetensors(join(FIXTURES, weights));
      const params = new Map([...tensors].filter(([k]) => !k.startsWith("input.") && !k.startsWith("output.")));
      unet.loadStateDict(params);
      const get = (k: string): Tensor => Tensor.from(tensors.get(k)!.data, tensors.get(k)!.shape);
      const sample = noGrad(() => nchwToNhwc(get("input.sample")));
      const timesteps = Array.from(get("input.timesteps").f32);
      const features: Tensor[] = [];
      const out = noGrad(() => unet.forward(sample, timesteps, get("input.context"), { features }));
      const expected = noGrad(() => nchwToNhwc(get("output.sample")));
      assert.ok(relativeError(out.f32, expected.f32) < 1e-4, `output relative error ${relativeError(out.f32, expected.f32)}`);
      features.forEach((f, i) => {
        const ref = noGrad(() => nchwToNhwc(get(`output.features.${i}`)));
        assert.deepEqual(f.shape, ref.shape, `feature ${i} shape`);
        assert.ok(relativeError(f.f32, ref.f32) < 1e-4, `feature ${i} relative error ${relativeError(f.f32, ref.f32)}`);
      });
      assert.equal(features.length, config.block_out_channels.length * 2 + 1);
    });
  }

  test("a mismatched checkpoint lists missing, unexpected and mis-shaped keys", () => {
    const unet = new UNet2DConditionModel(readUNetConfig(join(FIXTURES, "config_conv.json")));
    const { tensors } = readSafetensors(join(FIXTURES, "unet_tiny.safetensors"));
    assert.throws(() => unet.loadStateDict(tensors), (err: unknown) => {
      assert.ok(err instanceof StateDictError);
      assert.ok(err.report.missing.length > 0 && err.report.unexpected.length > 0 && err.report.mismatched.length > 0);
      assert.match(err.message, /mis-shaped .*proj_in\.weight: checkpoint \[16, 16\], model \[8, 8, 1, 1\]|mis-shaped/);
      return true;
    });
  });
});

describe("UNet config", () => {
  const base = JSON.parse(readFileSync(join(FIXTURES, "config.json"), "utf8")) as Record<string, unknown>;
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ["unknown field", { ...base, fancy_option: 1 }, /"fancy_option" is not a UNet2DConditionModel field/],
    ["unsupported block", { ...base, down_block_types: ["SimpleDown", "DownBlock2D"] }, /unknown block type "SimpleDown"/],
    ["channel list length", { ...base, block_out_channels: [8, 16, 32] }, /"down_block_types" has 2 entries but block_out_channels has 3/],
    ["groups", { ...base, norm_num_groups: 3 }, /not divisible by norm_num_groups/],
    ["wrong type", { ...base, layers_per_block: "two" }, /"layers_per_block" must hold integers in \[1, 32\]/],
    ["non-neutral unsupported", { ...base, class_embed_type: "timestep" }, /"class_embed_type" = "timestep" is not supported/],
    ["heads", { ...base, attention_head_dim: [3, 4] }, /3 heads for block 0 whose 8 channels/],
    ["missing channels", { ...base, block_out_channels: undefined }, /"block_out_channels" must be a list of 1 to 8 integers/],
    // Found by fuzzing (test/fuzz): this value made the constructor try to build 3e15 transformer layers.
    ["runaway layer count", { ...base, transformer_layers_per_block: 3144675130946368 }, /"transformer_layers_per_block" must hold integers in \[1, 64\]/],
    ["indivisible sample size", { ...base, sample_size: 31 }, /"sample_size" = 31 is not a multiple of 2/],
    ["attention_head_dim list length", { ...base, num_attention_heads: [1, 2], attention_head_dim: [1, 1, 1] }, /"attention_head_dim" has 3 entries/],
  ];
  for (const [name, cfg, message] of bad) {
    test(`refuses ${name}`, () => assert.throws(() => parseUNetConfig(cfg, "cfg.json"), (e: unknown) => e instanceof ConfigError && message.test(e.message)));
  }

  test("Stable Diffusion 2.1 builds without weights: 865.9M parameters, 686 keys, MACs reported", () => {
    const config = readUNetConfig(join(ROOT, "configs", "sd21-unet.json"));
    const unet = withMetaTensors(() => new UNet2DConditionModel(config));
    assert.equal(unet.numParameters(), 865_910_724);
    assert.equal(unet.stateDict().size, 686);
    assert.ok(unet.stateDict().has("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight"));
    assert.ok(unet.stateDict().has("mid_block.resnets.1.conv2.bias"));
    assert.throws(() => unet.conv_in.weight.f32, /no data/);
    const macs = unet.countMacs(96, 96, 77);
    assert.ok(macs.total() > 1e12 && macs.total() < 1.2e12, `total ${macs.total()}`);
    // Attention at the 96x96 level: Q K^T of 9216 x 9216 tokens x 320 channels.
    const qk = macs.entries.find((e) => e.name === "down_blocks.0.attentions.0.transformer_blocks.0.attn1.qk")!;
    assert.equal(qk.macs, 9216 * 9216 * 320);
    const cross = macs.entries.find((e) => e.name === "down_blocks.0.attentions.0.transformer_blocks.0.attn2.qk")!;
    assert.equal(cross.macs, 9216 * 77 * 320);
  });

  test("MAC count of a conv layer and time embedding", () => {
    const config = readUNetConfig(join(FIXTURES, "config.json"));
    const macs = new UNet2DConditionModel(config).countMacs(8, 8, 3);
    assert.equal(macs.entries.find((e) => e.name === "conv_in")!.macs, 8 * 8 * 8 * 2 * 9);
    assert.equal(macs.entries.find((e) => e.name === "time_embedding.linear_1")!.macs, 8 * 32);
  });
});

// Every PyTorch fixture under test/fixtures/torch/ parses with our reader and is self-consistent.
// (Regenerate them with: /usr/bin/python3 tools/make_fixtures.py)
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { readSafetensors, SafetensorsFile, type RawTensor } from "../../src/nn/safetensors.js";

const DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "torch");

/** Expected output shape of each module fixture (out.out). */
const MODULE_FIXTURES: Record<string, number[]> = {
  conv2d_3x3: [2, 6, 9, 7],
  conv2d_s2: [2, 6, 4, 4],
  conv2d_1x1: [2, 3, 5, 5],
  group_norm: [2, 8, 5, 6],
  layer_norm: [3, 7, 12],
  attention_self: [2, 10, 16],
  attention_cross: [2, 10, 16],
  geglu_ff: [2, 6, 16],
  resnet_block: [2, 12, 6, 6],
};

const EXPECTED_PARAMS: Record<string, string[]> = {
  conv2d_3x3: ["weight", "bias"],
  conv2d_s2: ["weight", "bias"],
  conv2d_1x1: ["weight", "bias"],
  group_norm: ["weight", "bias"],
  layer_norm: ["weight", "bias"],
  attention_self: ["to_q.weight", "to_k.weight", "to_v.weight", "to_out.0.weight", "to_out.0.bias"],
  attention_cross: ["to_q.weight", "to_k.weight", "to_v.weight", "to_out.0.weight", "to_out.0.bias"],
  geglu_ff: ["net.0.proj.weight", "net.0.proj.bias", "net.2.weight", "net.2.bias"],
  resnet_block: [
    "norm1.weight", "norm1.bias", "conv1.weight", "conv1.bias", "time_emb_proj.weight", "time_emb_proj.bias",
    "norm2.weight", "norm2.bias", "conv2.weight", "conv2.bias", "conv_shortcut.weight", "conv_shortcut.bias",
  ],
};

const ACTIVATIONS = ["gelu_erf", "gelu_tanh", "silu", "sigmoid", "softmax", "log_softmax"];

function load(name: string): { tensors: Map<string, RawTensor>; metadata: Record<string, string> } {
  const file = path.join(DIR, `${name}.safetensors`);
  assert.ok(fs.existsSync(file), `${file} missing; run /usr/bin/python3 tools/make_fixtures.py`);
  assert.ok(fs.statSync(file).size < 200 * 1024, `${file} is over 200 KB`);
  return readSafetensors(file);
}

function get(tensors: Map<string, RawTensor>, name: string): RawTensor {
  const t = tensors.get(name);
  assert.ok(t, `missing tensor ${name}; have ${[...tensors.keys()].join(", ")}`);
  return t;
}

function checkAll(tensors: Map<string, RawTensor>): void {
  for (const [name, t] of tensors) {
    assert.equal(t.dtype, "float32", name);
    assert.equal(t.data.length, t.shape.reduce((a, b) => a * b, 1), name);
    for (const v of t.data) assert.ok(Number.isFinite(v), `${name} has a non-finite value`);
  }
}

function close(a: number, b: number, tol: number, what: string): void {
  assert.ok(Math.abs(a - b) <= tol * (1 + Math.abs(b)), `${what}: ${a} vs ${b}`);
}

describe("torch fixtures are readable and consistent", () => {
  test("the directory holds exactly the expected fixtures", () => {
    const expected = [...Object.keys(MODULE_FIXTURES), "adamw_5steps", "activations"].map((n) => `${n}.safetensors`).sort();
    assert.deepEqual(fs.readdirSync(DIR).filter((f) => f.endsWith(".safetensors")).sort(), expected);
  });

  for (const [name, outShape] of Object.entries(MODULE_FIXTURES)) {
    test(name, () => {
      const { tensors, metadata } = load(name);
      checkAll(tensors);
      assert.equal(typeof JSON.parse(metadata.config!), "object");
      const out = get(tensors, "out.out");
      assert.deepEqual(out.shape, outShape);
      assert.deepEqual(get(tensors, "in.dout").shape, outShape);
      const inputs = [...tensors.keys()].filter((k) => k.startsWith("in.") && k !== "in.dout");
      assert.ok(inputs.length >= 1);
      for (const k of inputs) assert.deepEqual(get(tensors, `grad.${k}`).shape, get(tensors, k).shape, k);
      const params = [...tensors.keys()].filter((k) => k.startsWith("param.")).map((k) => k.slice(6));
      assert.deepEqual(params.sort(), EXPECTED_PARAMS[name]!.slice().sort());
      for (const p of params) assert.deepEqual(get(tensors, `grad.param.${p}`).shape, get(tensors, `param.${p}`).shape, p);
      // Nothing unaccounted for.
      const known = new Set(["out.out", "in.dout", ...inputs, ...inputs.map((k) => `grad.${k}`)]);
      for (const p of params) known.add(`param.${p}`).add(`grad.param.${p}`);
      assert.deepEqual([...tensors.keys()].filter((k) => !known.has(k)), []);
    });
  }

  test("conv2d_1x1 forward matches a direct 1x1 convolution (reader byte order sanity)", () => {
    const { tensors } = load("conv2d_1x1");
    const x = get(tensors, "in.x");
    const w = get(tensors, "param.weight");
    const b = get(tensors, "param.bias");
    const out = get(tensors, "out.out");
    assert.deepEqual(w.shape, [3, 6, 1, 1]);
    const [N, C, H, W] = x.shape as [number, number, number, number];
    const O = 3;
    for (let n = 0; n < N; n++)
      for (let o = 0; o < O; o++)
        for (let s = 0; s < H * W; s++) {
          let acc = b.data[o]!;
          for (let c = 0; c < C; c++) acc += w.data[o * C + c]! * x.data[(n * C + c) * H * W + s]!;
          close(out.data[(n * O + o) * H * W + s]!, acc, 1e-5, `out[${n},${o},${s}]`);
        }
  });

  test("adamw_5steps", () => {
    const { tensors, metadata } = load("adamw_5steps");
    checkAll(tensors);
    const cfg = JSON.parse(metadata.config!);
    assert.equal(cfg.weight_decay, 0.1);
    const names = ["in.p0", "in.g0", "in.g1", "in.g2", "in.g3", "in.g4", "out.p1", "out.p2", "out.p3", "out.p4", "out.p5", "out.m", "out.v"];
    assert.deepEqual([...tensors.keys()].sort(), names.slice().sort());
    for (const n of names) assert.deepEqual(get(tensors, n).shape, [7, 5], n);
    // First step by hand: m = 0.1 g, v = 0.001 g^2, bias-corrected update = lr * g/(|g| + eps').
    const p0 = get(tensors, "in.p0").data;
    const g0 = get(tensors, "in.g0").data;
    const p1 = get(tensors, "out.p1").data;
    for (let i = 0; i < p0.length; i++) {
      const mhat = g0[i]!;
      const vhat = g0[i]! * g0[i]!;
      const expected = p0[i]! * (1 - 1e-2 * 0.1) - (1e-2 * mhat) / (Math.sqrt(vhat) + 1e-8);
      close(p1[i]!, expected, 1e-5, `p1[${i}]`);
    }
  });

  test("activations", () => {
    const { tensors, metadata } = load("activations");
    checkAll(tensors);
    assert.deepEqual(JSON.parse(metadata.config!).ops, ACTIVATIONS);
    for (const op of ACTIVATIONS) {
      for (const n of [`in.x_${op}`, `in.dout_${op}`, `out.${op}`, `grad.in.x_${op}`]) {
        assert.deepEqual(get(tensors, n).shape, [4, 9], n);
      }
    }
    assert.equal(tensors.size, 4 * ACTIVATIONS.length);
    const x = get(tensors, "in.x_sigmoid").data;
    const y = get(tensors, "out.sigmoid").data;
    for (let i = 0; i < x.length; i++) close(y[i]!, 1 / (1 + Math.exp(-x[i]!)), 1e-6, `sigmoid[${i}]`);
    const ys = get(tensors, "out.softmax").data;
    for (let r = 0; r < 4; r++) {
      let s = 0;
      for (let c = 0; c < 9; c++) s += ys[r * 9 + c]!;
      close(s, 1, 1e-6, `softmax row ${r}`);
    }
  });

  test("lazy reader sees the same names as the eager reader", () => {
    const f = SafetensorsFile.open(path.join(DIR, "resnet_block.safetensors"));
    try {
      assert.equal(f.names().length, 30);
      assert.deepEqual(f.info("param.conv1.weight"), { dtype: "F32", shape: [12, 8, 3, 3], byteLength: 12 * 8 * 9 * 4 });
      assert.equal(JSON.parse(f.metadata.config!).groups, 4);
    } finally {
      f.close();
    }
  });
});

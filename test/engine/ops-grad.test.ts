/**
 * Every differentiable op against central finite differences (test/helpers/gradcheck.ts), on the
 * kernels the engine is running (native when built).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as F from "../../src/engine/index.js";
import { Tensor, Generator } from "../../src/engine/index.js";
import { gradCheck, randn } from "../helpers/gradcheck.js";

const positive = (shape: number[], seed: number): Tensor => randn(shape, seed).abs().add(0.5);

describe("elementwise", () => {
  test("add/sub/mul/div with broadcasting", () => {
    gradCheck("add", [randn([3, 4], 1), randn([4], 2)], (a, b) => a.add(b));
    gradCheck("sub", [randn([2, 1, 3], 3), randn([4, 1], 4)], (a, b) => a.sub(b));
    gradCheck("mul", [randn([3, 4], 5), randn([3, 1], 6)], (a, b) => a.mul(b));
    gradCheck("div", [randn([3, 4], 7), positive([4], 8)], (a, b) => a.div(b));
  });
  test("pow, neg, exp, log, sqrt, abs, square", () => {
    gradCheck("pow", [positive([5], 9), randn([5], 10)], (a, b) => a.pow(b));
    gradCheck("pow scalar", [positive([5], 11)], (a) => a.pow(3));
    gradCheck("neg", [randn([6], 12)], (a) => a.neg());
    gradCheck("exp", [randn([6], 13)], (a) => a.exp());
    gradCheck("log", [positive([6], 14)], (a) => a.log());
    gradCheck("sqrt", [positive([6], 15)], (a) => a.sqrt());
    gradCheck("abs", [positive([6], 16).mul(randn([6], 17).gt(0).mul(2).sub(1))], (a) => a.abs());
    gradCheck("square", [randn([6], 18)], (a) => a.square());
  });
  test("activations", () => {
    for (const [name, f] of [
      ["sigmoid", (x: Tensor) => x.sigmoid()],
      ["tanh", (x: Tensor) => x.tanh()],
      ["silu", (x: Tensor) => x.silu()],
      ["gelu", (x: Tensor) => x.gelu()],
      ["gelu tanh", (x: Tensor) => x.gelu("tanh")],
    ] as const) {
      gradCheck(name, [randn([4, 5], 19)], f);
    }
    // relu away from its kink
    gradCheck("relu", [positive([8], 20).mul(Tensor.from([1, -1, 1, -1, 1, -1, 1, -1]))], (x) => x.relu());
  });
  test("clamp, where, maximum, minimum", () => {
    const x = Tensor.from([-2, -0.5, 0.2, 0.7, 1.8]);
    gradCheck("clamp", [x], (a) => a.clamp(-1, 1));
    const cond = Tensor.from([1, 0, 1, 0]);
    gradCheck("where", [randn([4], 21), randn([1], 22)], (a, b) => F.where(cond, a, b));
    gradCheck("maximum", [Tensor.from([1, -2, 3]), Tensor.from([0, 0, 4])], (a, b) => a.maximum(b));
    gradCheck("minimum", [Tensor.from([1, -2, 3]), Tensor.from([0, 0, 4])], (a, b) => a.minimum(b));
  });
});

describe("reductions", () => {
  test("sum, mean over axes", () => {
    gradCheck("sum all", [randn([3, 4], 23)], (a) => a.sum());
    gradCheck("sum axis", [randn([2, 3, 4], 24)], (a) => a.sum(1));
    gradCheck("sum axes", [randn([2, 3, 4], 25)], (a) => a.sum([0, 2], true));
    gradCheck("mean", [randn([2, 3, 4], 26)], (a) => a.mean(-1));
  });
  test("max and var", () => {
    gradCheck("max axis", [randn([3, 5], 27)], (a) => a.max(1));
    gradCheck("max all", [randn([7], 28)], (a) => a.max());
    gradCheck("var", [randn([3, 6], 29)], (a) => a.var(1));
  });
  test("argmax", () => {
    const idx = Tensor.from([1, 5, 2, 9, 0, 3], [2, 3]).argmax(1);
    assert.deepEqual(idx.toArray(), [1, 0]);
    assert.equal(idx.dtype, "int32");
  });
});

describe("layout", () => {
  test("reshape, permute, transpose, slice, chunk, concat, stack, expand", () => {
    gradCheck("reshape", [randn([2, 6], 30)], (a) => a.reshape([3, -1]).mul(Tensor.from([1, 2, 3, 4], [4])));
    gradCheck("permute", [randn([2, 3, 4], 31)], (a) => a.permute([2, 0, 1]));
    gradCheck("transpose", [randn([3, 5], 32)], (a) => a.transpose());
    gradCheck("slice", [randn([4, 5], 33)], (a) => a.slice(1, 1, 4));
    gradCheck("chunk", [randn([2, 6], 34)], (a) => { const [p, q] = a.chunk(2, -1); return p.mul(q); });
    gradCheck("concat", [randn([2, 3], 35), randn([2, 2], 36)], (a, b) => F.concat([a, b], 1));
    gradCheck("stack", [randn([3], 37), randn([3], 38)], (a, b) => F.stack([a, b], 0));
    gradCheck("expand", [randn([3, 1], 39)], (a) => a.expand([2, 3, 4]));
  });
});

describe("matrix products", () => {
  test("matmul 2-D, batched, broadcast and transposed", () => {
    gradCheck("matmul", [randn([3, 4], 40), randn([4, 5], 41)], (a, b) => a.matmul(b));
    gradCheck("bmm", [randn([2, 3, 4], 42), randn([2, 4, 5], 43)], (a, b) => a.matmul(b));
    gradCheck("bmm broadcast B", [randn([2, 3, 4], 44), randn([4, 5], 45)], (a, b) => a.matmul(b));
    gradCheck("bmm broadcast A", [randn([3, 4], 46), randn([2, 4, 5], 47)], (a, b) => a.matmul(b));
    gradCheck("matmul A^T B^T", [randn([2, 4, 3], 48), randn([2, 5, 4], 49)], (a, b) => F.matmul(a, b, { transA: true, transB: true }));
  });
  test("linear", () => {
    gradCheck("linear", [randn([2, 3, 4], 50), randn([5, 4], 51), randn([5], 52)], (x, w, b) => F.linear(x, w, b));
    gradCheck("linear no bias", [randn([3, 4], 53), randn([2, 4], 54)], (x, w) => F.linear(x, w));
  });
});

describe("convolution and resampling", () => {
  test("conv2d 3x3, stride 2, 1x1", () => {
    gradCheck("conv3x3", [randn([2, 5, 4, 3], 55), randn([4, 3, 3, 3], 56, 0.3), randn([4], 57)], (x, w, b) => F.conv2d(x, w, b, { padding: 1 }));
    gradCheck("conv s2", [randn([1, 6, 6, 2], 58), randn([3, 2, 3, 3], 59, 0.3), randn([3], 60)], (x, w, b) => F.conv2d(x, w, b, { stride: 2, padding: 1 }));
    gradCheck("conv1x1", [randn([2, 3, 3, 4], 61), randn([5, 4, 1, 1], 62)], (x, w) => F.conv2d(x, w));
  });
  test("upsample and average pool", () => {
    gradCheck("upsample", [randn([1, 2, 3, 2], 63)], (x) => F.upsampleNearest2x(x));
    gradCheck("avgpool", [randn([1, 4, 4, 2], 64)], (x) => F.avgPool2d(x, 2));
  });
});

describe("normalisation, softmax, attention", () => {
  test("group norm and layer norm", () => {
    gradCheck("groupNorm", [randn([2, 3, 3, 4], 65), randn([4], 66), randn([4], 67)], (x, w, b) => F.groupNorm(x, 2, w, b), { h: 1e-2, tolerance: 3e-2 });
    gradCheck("layerNorm", [randn([3, 6], 68), randn([6], 69), randn([6], 70)], (x, w, b) => F.layerNorm(x, w, b), { tolerance: 3e-2 });
  });
  test("softmax, log-softmax on the last and a middle axis", () => {
    gradCheck("softmax", [randn([3, 5], 71)], (x) => F.softmax(x));
    gradCheck("logSoftmax", [randn([3, 5], 72)], (x) => F.logSoftmax(x));
    gradCheck("softmax axis 1", [randn([2, 4, 3], 73)], (x) => F.softmax(x, 1));
  });
  test("scaled-dot-product attention: self and cross", () => {
    gradCheck("self-attention", [randn([2, 5, 8], 74), randn([2, 5, 8], 75), randn([2, 5, 8], 76)], (q, k, v) => F.scaledDotProductAttention(q, k, v, 2));
    gradCheck("cross-attention", [randn([1, 6, 8], 77), randn([1, 3, 8], 78), randn([1, 3, 8], 79)], (q, k, v) => F.scaledDotProductAttention(q, k, v, 4));
  });
  test("GEGLU feed-forward (composite)", () => {
    gradCheck("geglu", [randn([2, 3, 4], 80), randn([12, 4], 81, 0.5), randn([3, 6], 82, 0.5)], (x, w1, w2) => {
      const [hidden, gate] = F.linear(x, w1).chunk(2, -1);
      return F.linear(hidden.mul(gate.gelu()), w2);
    });
  });
});

describe("indexing, dropout and losses", () => {
  test("gatherRows with repeated indices", () => {
    const idx = Tensor.int32([2, 0, 2, 1]);
    gradCheck("gatherRows", [randn([3, 4], 83)], (t) => F.gatherRows(t, idx));
  });
  test("selectRows and replaceRows (a layer run on some samples of a batch)", () => {
    const rows = Tensor.int32([3, 0]);
    gradCheck("selectRows", [randn([4, 2, 3], 88)], (x) => F.selectRows(x, rows));
    gradCheck("replaceRows", [randn([4, 2, 3], 89), randn([2, 2, 3], 90)], (base, values) => F.replaceRows(base, rows, values));
    const base = randn([4, 2], 91), values = randn([2, 2], 92);
    const out = F.replaceRows(base, rows, values).f32;
    assert.deepEqual(Array.from(out.subarray(6, 8)), Array.from(values.f32.subarray(0, 2)), "row 3 <- values[0]");
    assert.deepEqual(Array.from(out.subarray(2, 6)), Array.from(base.f32.subarray(2, 6)), "rows 1 and 2 kept");
    assert.throws(() => F.replaceRows(base, Tensor.int32([1, 1]), values), /distinct/);
    assert.throws(() => F.replaceRows(base, rows, randn([3, 2], 93)), /values must be \[2, 2\]/);
  });
  test("dropout uses the same mask for the same seed", () => {
    gradCheck("dropout", [randn([20], 84)], (x) => F.dropout(x, 0.3, new Generator(5)));
    const kept = F.dropout(Tensor.ones([1000]), 0.25, new Generator(6)).f32;
    const zeros = kept.filter((v) => v === 0).length;
    assert.ok(zeros > 180 && zeros < 320, `dropped ${zeros} of 1000 at p=0.25`);
    assert.ok(kept.every((v) => v === 0 || Math.abs(v - 4 / 3) < 1e-6));
  });
  test("mse and cross-entropy", () => {
    gradCheck("mse", [randn([3, 4], 85), randn([3, 4], 86)], (a, b) => F.mseLoss(a, b));
    const labels = Tensor.int32([2, 0, 1]);
    gradCheck("crossEntropy", [randn([3, 4], 87)], (x) => F.crossEntropy(x, labels));
  });
});

describe("autograd mechanics", () => {
  test("gradients accumulate across backward calls and a reused input", () => {
    const x = Tensor.from([1, 2, 3]).requireGrad();
    x.mul(x).sum().backward();
    assert.deepEqual(x.grad!.toArray(), [2, 4, 6]);
    x.mul(2).sum().backward();
    assert.deepEqual(x.grad!.toArray(), [4, 6, 8]);
  });
  test("straight-through estimator: hard forward, soft gradient", () => {
    const soft = Tensor.from([0.2, 0.7]).requireGrad();
    const hard = soft.gt(0.5);
    const st = hard.add(soft.sub(soft.detach()));
    assert.deepEqual(st.toArray(), [0, 1]);
    st.mul(Tensor.from([3, 5])).sum().backward();
    assert.deepEqual(soft.grad!.toArray(), [3, 5]);
  });
  test("noGrad records nothing and frozen leaves get no gradient", () => {
    const w = Tensor.from([1, 2]).requireGrad();
    const y = F.noGrad(() => w.mul(3));
    assert.equal(y.requiresGrad, false);
    const frozen = Tensor.from([1, 1]);
    const z = w.mul(frozen).sum();
    z.backward();
    assert.equal(frozen.grad, null);
  });
  test("deep chains do not overflow the stack", () => {
    const x = Tensor.from([1]).requireGrad();
    let y = x;
    for (let i = 0; i < 20000; i++) y = y.mul(1);
    y.sum().backward();
    assert.deepEqual(x.grad!.toArray(), [1]);
  });
});

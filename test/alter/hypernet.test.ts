/** ALTER hypernetwork: Gumbel relaxations, orthogonal codes, expert generator + router, losses. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Generator, Tensor } from "../../src/engine/index.js";
import { timestepEmbedding } from "../../src/models/embeddings.js";
import { gumbelSigmoid, gumbelSoftmax, type Relaxation } from "../../src/alter/gumbel.js";
import { expertIds, HyperNetwork, orthogonalRows } from "../../src/alter/hypernet.js";
import {
  balanceLoss,
  budgetConversion,
  denoisingLoss,
  distillationWeights,
  featureDistillation,
  inverseBudgetConversion,
  outputDistillation,
  ratioLoss,
} from "../../src/alter/losses.js";
import { assertClose, gradCheck, randn } from "../helpers/gradcheck.js";

const T = 50, NE = 4, NL = 6;

function makeHypernet(seed = 7, overrides: Partial<ConstructorParameters<typeof HyperNetwork>[0]> = {}): HyperNetwork {
  const timeTable = timestepEmbedding(Array.from({ length: T }, (_, t) => t), 32, true, 0);
  return new HyperNetwork({ numExperts: NE, numLayers: NL, timeTable, inputDim: 16, hiddenDim: 32, routerDim: 16, generator: new Generator(seed), ...overrides });
}

/** Gradient of sum(w * relax(logits)) with respect to logits. */
function gradOf(relax: (l: Tensor) => Tensor, logits: Float32Array, shape: number[], w: Float32Array): { value: Float32Array; grad: Float32Array } {
  const l = Tensor.from(logits, shape).requireGrad();
  const y = relax(l);
  y.mul(Tensor.from(w, shape)).sum().backward();
  return { value: Float32Array.from(y.f32), grad: Float32Array.from(l.grad!.f32) };
}

describe("Gumbel relaxations", () => {
  const shape = [8, 5];
  const logits = randn(shape, 3).f32;
  const w = randn(shape, 4).f32;

  test("soft samples lie in (0, 1) and carry gradients; softmax rows sum to 1", () => {
    const s = gumbelSigmoid(Tensor.from(logits, shape).requireGrad(), { tau: 1, offset: 0, mode: "soft", generator: new Generator(1) });
    assert.ok(s.requiresGrad);
    assert.ok(s.f32.every((v) => v > 0 && v < 1));
    const m = gumbelSoftmax(Tensor.from(logits, shape).requireGrad(), { tau: 1, offset: 0, mode: "soft", generator: new Generator(1) });
    assert.ok(m.requiresGrad);
    for (let r = 0; r < 8; r++) {
      const row = m.f32.subarray(r * 5, r * 5 + 5);
      assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5);
      assert.ok(row.every((v) => v > 0 && v < 1));
    }
  });

  for (const [name, fn] of [["sigmoid", gumbelSigmoid], ["softmax", gumbelSoftmax]] as const) {
    test(`${name}: straight-through forward is exactly the hard sample, backward the soft gradient`, () => {
      const opts = (mode: Relaxation) => (l: Tensor) => fn(l, { tau: 0.7, offset: 0.3, mode, generator: new Generator(11) });
      const soft = gradOf(opts("soft"), logits, shape, w);
      const st = gradOf(opts("straight-through"), logits, shape, w);
      const hard = opts("hard")(Tensor.from(logits, shape).requireGrad());
      assert.equal(hard.requiresGrad, false, "hard samples carry no gradient");
      assert.ok(st.value.every((v) => v === 0 || v === 1), "ST forward is exactly binary");
      assert.deepEqual(Array.from(st.value), Array.from(hard.f32), "ST forward = hard sample with the same seed");
      assertClose(st.grad, soft.grad, 1e-5, 1e-7, "ST gradient");
      assert.ok(soft.grad.some((g) => Math.abs(g) > 1e-3), "gradient is not trivially zero");
      // The hard value is the rounding of the soft sample: 1[y >= 0.5] / argmax.
      if (name === "sigmoid") {
        soft.value.forEach((y, i) => assert.equal(st.value[i], y >= 0.5 ? 1 : 0));
      } else {
        for (let r = 0; r < 8; r++) {
          const row = Array.from(soft.value.subarray(r * 5, r * 5 + 5));
          const best = row.indexOf(Math.max(...row));
          assert.deepEqual(Array.from(st.value.subarray(r * 5, r * 5 + 5)), row.map((_, k) => (k === best ? 1 : 0)));
        }
      }
    });
  }

  test("deterministic mode thresholds without noise or generator", () => {
    const l = Tensor.from([-5, -4.01, -4, -3.99, 0, 2]).requireGrad();
    const m = gumbelSigmoid(l, { tau: 0.4, offset: 4, mode: "deterministic" });
    assert.deepEqual(m.toArray(), [0, 0, 1, 1, 1, 1]);
    assert.equal(m.requiresGrad, false);
    const r = gumbelSoftmax(Tensor.from([0.1, 2, 2, -1, 5, 0, 0, 0], [2, 4]), { tau: 0.4, offset: 3, mode: "deterministic" });
    assert.deepEqual(r.toArray(), [0, 1, 0, 0, 1, 0, 0, 0], "one-hot argmax, first index on ties");
  });

  test("noisy modes need a generator; bad options are rejected", () => {
    const l = Tensor.zeros([3]);
    for (const mode of ["soft", "straight-through", "hard"] as const) {
      assert.throws(() => gumbelSigmoid(l, { tau: 1, offset: 0, mode }), /needs a generator/);
    }
    assert.throws(() => gumbelSigmoid(l, { tau: 0, offset: 0, mode: "deterministic" }), /tau/);
    assert.throws(() => gumbelSoftmax(l, { tau: 1, offset: 0, mode: "bogus" as Relaxation }), /unknown mode/);
  });

  test("noiseScale multiplies the noise: 0 gives the deterministic masks, the generator advances alike at any scale", () => {
    const l = Tensor.from([-5, -4.2, -3.8, 0, 1, -6], [2, 3]);
    const det = gumbelSigmoid(l, { tau: 0.4, offset: 4, mode: "deterministic" }).toArray();
    for (const mode of ["hard", "straight-through"] as const) {
      assert.deepEqual(gumbelSigmoid(l, { tau: 0.4, offset: 4, mode, generator: new Generator(3), noiseScale: 0 }).toArray(), det, mode);
    }
    const detRouting = gumbelSoftmax(l, { tau: 0.4, offset: 0, mode: "deterministic" }).toArray();
    assert.deepEqual(gumbelSoftmax(l, { tau: 0.4, offset: 0, mode: "hard", generator: new Generator(3), noiseScale: 0 }).toArray(), detRouting);
    const g0 = new Generator(9), g1 = new Generator(9);
    gumbelSigmoid(l, { tau: 0.4, offset: 4, mode: "hard", generator: g0, noiseScale: 0 });
    gumbelSigmoid(l, { tau: 0.4, offset: 4, mode: "hard", generator: g1 });
    assert.equal(g0.gumbel(1)[0], g1.gumbel(1)[0]);
    // Half the noise: P(keep) = P(g / 2 > -(L + b)) = 1 - exp(-e^(2 (L + b))).
    const n = 20000;
    const h = gumbelSigmoid(Tensor.full([n], -4.25), { tau: 0.4, offset: 4, mode: "hard", generator: new Generator(5), noiseScale: 0.5 });
    const frac = h.f32.reduce((a, b) => a + b, 0) / n;
    assert.ok(Math.abs(frac - (1 - Math.exp(-Math.exp(-0.5)))) < 0.015, `kept fraction ${frac}`);
    assert.throws(() => gumbelSigmoid(l, { tau: 0.4, offset: 4, mode: "hard", generator: new Generator(1), noiseScale: -1 }), /noiseScale/);
  });

  test("noise is a standard Gumbel (mean ~ 0.577): soft sigmoid at tau -> 0 matches P = 1 - exp(-e^(L+b))", () => {
    const n = 20000;
    const l = Tensor.full([n], -4.5); // P(keep) = 1 - exp(-e^-0.5) ~ 0.4548
    const h = gumbelSigmoid(l, { tau: 0.4, offset: 4, mode: "hard", generator: new Generator(5) });
    const frac = h.f32.reduce((a, b) => a + b, 0) / n;
    assert.ok(Math.abs(frac - (1 - Math.exp(-Math.exp(-0.5)))) < 0.015, `kept fraction ${frac}`);
  });
});

describe("orthogonalRows", () => {
  test("rows are orthonormal", () => {
    const rows = 10, cols = 6 * 64;
    const q = orthogonalRows(rows, cols, new Generator(3));
    let worst = 0;
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < rows; j++) {
        let dot = 0;
        for (let k = 0; k < cols; k++) dot += q[i * cols + k] * q[j * cols + k];
        worst = Math.max(worst, Math.abs(dot - (i === j ? 1 : 0)));
      }
    }
    assert.ok(worst < 1e-5, `|R R^T - I| = ${worst}`);
    const square = orthogonalRows(5, 5, new Generator(4));
    assert.equal(square.length, 25);
    assert.throws(() => orthogonalRows(7, 5, new Generator(4)), /rows <= cols/);
  });
});

describe("HyperNetwork", () => {
  test("state-dict keys, parameters and buffers", () => {
    const h = makeHypernet();
    assert.deepEqual([...h.stateDict().keys()], [
      "expert_generator.z",
      "expert_generator.norm_in.weight",
      "expert_generator.norm_in.bias",
      "expert_generator.fc1.weight",
      "expert_generator.fc1.bias",
      "expert_generator.norm_hidden.weight",
      "expert_generator.norm_hidden.bias",
      "expert_generator.fc2.weight",
      "router.time_table",
      "router.fc1.weight",
      "router.fc1.bias",
      "router.norm.weight",
      "router.norm.bias",
      "router.fc2.weight",
    ]);
    const params = h.namedParameters().map(([n]) => n);
    assert.ok(!params.includes("expert_generator.z") && !params.includes("router.time_table"), "z and time_table are buffers");
    assert.equal(params.length, 12);
    const sd = h.stateDict();
    assert.deepEqual(sd.get("expert_generator.z")!.shape, [NE, NL, 16]);
    assert.deepEqual(sd.get("expert_generator.fc2.weight")!.shape, [1, 32]);
    assert.deepEqual(sd.get("router.time_table")!.shape, [T, 32]);
    assert.deepEqual(sd.get("router.fc2.weight")!.shape, [NE, 16]);
    // Same seed, same initialisation.
    assert.deepEqual(makeHypernet().stateDict().get("router.fc1.weight")!.toArray(), sd.get("router.fc1.weight")!.toArray());
  });

  test("z is orthogonal over the N_e x (N_L * D) flattening", () => {
    const z = makeHypernet().expert_generator.z.f32, cols = NL * 16;
    for (let i = 0; i < NE; i++) {
      for (let j = 0; j < NE; j++) {
        let dot = 0;
        for (let k = 0; k < cols; k++) dot += z[i * cols + k] * z[j * cols + k];
        assert.ok(Math.abs(dot - (i === j ? 1 : 0)) < 1e-5);
      }
    }
  });

  test("shapes and table = routing @ expertMasks (soft); gradients reach every parameter", () => {
    const h = makeHypernet();
    const out = h.forward("soft", new Generator(9));
    assert.deepEqual(out.expertMasks.shape, [NE, NL]);
    assert.deepEqual(out.routing.shape, [T, NE]);
    assert.deepEqual(out.routingLogits.shape, [T, NE]);
    assert.deepEqual(out.table.shape, [T, NL]);
    const m = out.expertMasks.f32, s = out.routing.f32;
    const expected = new Float32Array(T * NL);
    for (let t = 0; t < T; t++) for (let l = 0; l < NL; l++) for (let e = 0; e < NE; e++) expected[t * NL + l] += s[t * NE + e] * m[e * NL + l];
    assertClose(out.table.f32, expected, 1e-5, 1e-6, "table");
    out.table.mul(randn([T, NL], 2)).sum().add(balanceLoss(out.routingLogits, out.routing)).backward();
    for (const [name, p] of h.namedParameters()) assert.ok(p.grad !== null && p.grad.f32.some((g) => g !== 0), `${name} got a gradient`);
    assert.equal(h.expert_generator.z.grad, null);
  });

  test("offset 4: a fresh hypernetwork keeps every layer", () => {
    const h = makeHypernet(21, { numLayers: 40 });
    const hard = h.forward("hard", new Generator(1));
    assert.ok(hard.expertMasks.f32.every((v) => v === 1));
    assert.ok(hard.table.f32.every((v) => v === 1));
    assert.equal(hard.table.requiresGrad, false);
    const soft = h.forward("soft", new Generator(2));
    assert.ok(soft.expertMasks.f32.every((v) => v > 0.99));
    assert.ok(h.forward("deterministic").table.f32.every((v) => v === 1));
  });

  test("deterministic mode: binary table whose rows are the chosen experts' masks", () => {
    // Offset ~0 so that the masks are a mix of zeros and ones.
    const h = makeHypernet(5, { offset: -0.05 });
    const out = h.forward("deterministic");
    const ids = h.expertIds(out.routing);
    assert.deepEqual(Array.from(ids), Array.from(expertIds(out.routing)));
    assert.equal(ids.length, T);
    const m = out.expertMasks.f32, tab = out.table.f32;
    assert.ok(m.some((v) => v === 0) && m.some((v) => v === 1), "mixed masks");
    const logits = out.routingLogits.f32;
    for (let t = 0; t < T; t++) {
      const row = Array.from(logits.subarray(t * NE, t * NE + NE));
      assert.equal(ids[t], row.indexOf(Math.max(...row)));
      for (let l = 0; l < NL; l++) {
        assert.ok(tab[t * NL + l] === 0 || tab[t * NL + l] === 1);
        assert.equal(tab[t * NL + l], m[ids[t] * NL + l]);
      }
    }
    assert.throws(() => h.forward("hard"), /needs a generator/);
  });

  test("straight-through: binary table with gradients", () => {
    const h = makeHypernet(5, { offset: -0.05 });
    const out = h.forward("straight-through", new Generator(3));
    assert.ok(out.table.f32.every((v) => v === 0 || v === 1));
    out.table.sum().backward();
    assert.ok(h.expert_generator.fc1.weight.grad !== null && h.router.fc1.weight.grad !== null);
  });
});

describe("losses", () => {
  const costs = Float32Array.from([3e9, 1e9, 5e8, 2e9, 7e8, 1.2e9]);

  test("ratioLoss value = log(max(S,p)/min(S,p)) and finite-difference gradient", () => {
    const table = Tensor.uniform([T, NL], new Generator(8), 0.2, 0.9);
    const colMean = new Float64Array(NL);
    for (let t = 0; t < T; t++) for (let l = 0; l < NL; l++) colMean[l] += table.f32[t * NL + l] / T;
    const total = costs.reduce((a, b) => a + b, 0);
    const S = costs.reduce((a, c, l) => a + c * colMean[l], 0) / total;
    for (const p of [0.2, 0.85]) {
      const r = ratioLoss(table, costs, p);
      assert.ok(Math.abs(r.keptFraction - S) < 1e-5);
      assert.ok(Math.abs(r.loss.item() - Math.log(Math.max(S, p) / Math.min(S, p))) < 1e-5);
      gradCheck(`ratioLoss p=${p}`, [table], (x) => ratioLoss(x, costs, p).loss, { h: 1e-2 });
    }
    assert.equal(ratioLoss(Tensor.ones([3, NL]), costs, 1).loss.item(), 0);
    assert.ok(Number.isFinite(ratioLoss(Tensor.zeros([3, NL]), costs, 0.5).loss.item()));
    assert.throws(() => ratioLoss(table, costs.subarray(1), 0.5), /costs/);
    assert.throws(() => ratioLoss(table, costs, 0), /target/);
  });

  test("balanceLoss: 1 at exactly uniform routing; gradient wrt logits", () => {
    const uniform = balanceLoss(Tensor.zeros([8, 4]), Tensor.from(Array.from({ length: 32 }, (_, i) => (i % 4 === Math.floor(i / 4) % 4 ? 1 : 0)), [8, 4]));
    assert.ok(Math.abs(uniform.item() - 1) < 1e-6, `uniform balance loss ${uniform.item()}`);
    // Everything routed to one expert whose probability is high: loss near N_e.
    const collapsed = balanceLoss(Tensor.from(Array.from({ length: 32 }, (_, i) => (i % 4 === 0 ? 20 : 0)), [8, 4]), Tensor.from(Array.from({ length: 32 }, (_, i) => (i % 4 === 0 ? 1 : 0)), [8, 4]));
    assert.ok(Math.abs(collapsed.item() - 4) < 1e-4);
    const sample = gumbelSoftmax(randn([T, NE], 12), { tau: 0.4, offset: 0, mode: "soft", generator: new Generator(2) });
    gradCheck("balanceLoss", [randn([T, NE], 13)], (l) => balanceLoss(l, sample), { h: 1e-2 });
  });

  test("distillation and denoising losses; teacher detached", () => {
    const student = [randn([2, 3, 4], 1), randn([5, 2], 2)];
    const teacher = [randn([2, 3, 4], 3, 2), randn([5, 2], 4, 0.1)].map((t) => t.requireGrad());
    gradCheck("featureDistillation", student, (a, b) => featureDistillation([a, b], teacher), { h: 1e-2 });
    gradCheck("featureDistillation normalized", student, (a, b) => featureDistillation([a, b], teacher, true), { h: 1e-2 });
    for (const t of teacher) assert.equal(t.grad, null, "no gradient flows to the teacher");
    const mse = (a: Tensor, b: Tensor) => a.f32.reduce((s, v, i) => s + (v - b.f32[i]) ** 2, 0) / a.size;
    const plain = (mse(student[0], teacher[0]) + mse(student[1], teacher[1])) / 2;
    assert.ok(Math.abs(featureDistillation(student, teacher).item() - plain) < 1e-4);
    const power = (t: Tensor) => t.f32.reduce((s, v) => s + v * v, 0) / t.size + 1e-8;
    const norm = (mse(student[0], teacher[0]) / power(teacher[0]) + mse(student[1], teacher[1]) / power(teacher[1])) / 2;
    assert.ok(Math.abs(featureDistillation(student, teacher, true).item() - norm) / norm < 1e-4);
    assert.throws(() => featureDistillation(student, teacher.slice(1)), /teacher features/);

    const s = randn([4, 3], 5).requireGrad(), t = randn([4, 3], 6).requireGrad();
    const out = outputDistillation(s, t);
    assert.ok(Math.abs(out.item() - mse(s, t)) < 1e-5);
    out.backward();
    assert.ok(s.grad !== null && t.grad === null);
    assert.ok(Math.abs(denoisingLoss(s, t).item() - mse(s, t)) < 1e-5);
  });

  test("per-timestep distillation weights: mean 1, growing with the noise; weighted losses weigh each sample", () => {
    assert.equal(distillationWeights("uniform", Float64Array.from([0.9, 0.5])), null);
    const alphaBar = Float64Array.from([0.99, 0.75, 0.5, 0.01]);
    const w = distillationWeights("noise-variance", alphaBar)!;
    const mean = (0.01 + 0.25 + 0.5 + 0.99) / 4;
    assert.deepEqual(Array.from(w, (v) => Number(v.toFixed(5))), [0.01, 0.25, 0.5, 0.99].map((v) => Number((v / mean).toFixed(5))));
    assert.throws(() => distillationWeights("noise-variance", Float64Array.from([1, 1])), /no noise/);

    const weights = Float32Array.from([0.5, 2]);
    const student = [randn([2, 3, 4], 21), randn([2, 5], 22)];
    const teacher = [randn([2, 3, 4], 23, 2), randn([2, 5], 24, 0.1)];
    const sampleMse = (a: Tensor, b: Tensor, i: number) => {
      const n = a.size / 2;
      let s = 0;
      for (let k = i * n; k < (i + 1) * n; k++) s += (a.f32[k] - b.f32[k]) ** 2;
      return s / n;
    };
    const weighted = (a: Tensor, b: Tensor) => (0.5 * sampleMse(a, b, 0) + 2 * sampleMse(a, b, 1)) / 2;
    assert.ok(Math.abs(outputDistillation(student[0], teacher[0], weights).item() - weighted(student[0], teacher[0])) < 1e-4);
    const power = (t: Tensor) => t.f32.reduce((s, v) => s + v * v, 0) / t.size + 1e-8;
    // Normalisation still divides by the teacher's unweighted power.
    const expected = (weighted(student[0], teacher[0]) / power(teacher[0]) + weighted(student[1], teacher[1]) / power(teacher[1])) / 2;
    assert.ok(Math.abs(featureDistillation(student, teacher, true, weights).item() - expected) / expected < 1e-4);
    gradCheck("featureDistillation weighted", student, (a, b) => featureDistillation([a, b], teacher, true, weights), { h: 1e-2 });
    // All-ones weights are the plain loss.
    assert.ok(Math.abs(outputDistillation(student[0], teacher[0], Float32Array.from([1, 1])).item() - outputDistillation(student[0], teacher[0]).item()) < 1e-6);
    assert.throws(() => outputDistillation(student[0], teacher[0], Float32Array.from([1])), /1 sample weights for a batch of 2/);
  });

  test("budgetConversion: round trip and infeasible budgets", () => {
    const share = 0.84;
    for (const pTotal of [0.16, 0.5, 0.65, 1]) {
      const pPrunable = budgetConversion(pTotal, share);
      assert.ok(pPrunable >= 0 && pPrunable <= 1);
      assert.ok(Math.abs(inverseBudgetConversion(pPrunable, share) - pTotal) < 1e-12);
    }
    assert.ok(Math.abs(budgetConversion(0.65, share) - (0.65 - 0.16) / 0.84) < 1e-12);
    assert.ok(Math.abs(inverseBudgetConversion(0.45, share) - (0.16 + 0.45 * 0.84)) < 1e-12, "the code's knob 0.45 ~ 0.54 of total");
    assert.throws(() => budgetConversion(0.1, share), /infeasible/);
    assert.throws(() => budgetConversion(1.2, share), /\(0, 1\]/);
    assert.throws(() => budgetConversion(0.5, 0), /share/);
  });
});

/**
 * Fitting the frozen plan to the budget: entries nearest the threshold first, only in used experts,
 * only when a switch brings the kept fraction closer, stopping once the target is crossed.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { fitMasksToBudget } from "../../src/alter/budget-fit.js";
import { Generator } from "../../src/engine/rng.js";

// 3 layers costing 1, 2, 3; expert 0 serves 3 of 4 timesteps, expert 1 one, expert 2 none.
const costs = [1, 2, 3];
const router = [0, 0, 0, 1];
const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);

describe("fitMasksToBudget", () => {
  const masks = Float32Array.from([1, 0, 0, /* */ 1, 1, 0, /* */ 0, 0, 0]);
  // expert 2's entries are the nearest the threshold, but no timestep uses it
  const margins = Float32Array.from([1, -0.5, -0.1, /* */ 2, 3, -0.3, /* */ -0.01, -0.01, -0.01]);

  test("under the budget: switches on the nearest entry that brings the fraction closer, skipping overshoots", () => {
    // kept = 0.75 * 1/6 + 0.25 * 3/6 = 0.25. Target 0.4: expert 0's layer 2 (margin -0.1) would give
    // 0.625, farther; expert 1's layer 2 (-0.3) gives 0.375; expert 0's layer 1 (-0.5) would give 0.625.
    const fit = fitMasksToBudget(masks, margins, router, costs, 0.4);
    close(fit.keptBefore, 0.25);
    close(fit.keptAfter, 0.375);
    assert.equal(fit.switched, 1);
    assert.deepEqual(Array.from(fit.masks), [1, 0, 0, 1, 1, 1, 0, 0, 0]);
    assert.deepEqual(Array.from(masks), [1, 0, 0, 1, 1, 0, 0, 0, 0], "the input is not modified");
  });

  test("stops at the first switch that crosses the target", () => {
    const fit = fitMasksToBudget(masks, margins, router, costs, 0.5);
    close(fit.keptAfter, 0.625); // |0.625 - 0.5| < |0.25 - 0.5|
    assert.deepEqual(Array.from(fit.masks), [1, 0, 1, 1, 1, 0, 0, 0, 0]);
  });

  test("over the budget: switches off the kept entries nearest the threshold", () => {
    const full = Float32Array.from([1, 1, 1, 1, 1, 1, 0, 0, 0]);
    const m = Float32Array.from([2, 0.05, 1, 0.2, 3, 0.4, -1, -1, -1]);
    // 1.0 -> 0.75 (expert 0 layer 1) -> 0.7083 (expert 1 layer 0); every further switch lands farther from 0.7
    const fit = fitMasksToBudget(full, m, router, costs, 0.7);
    close(fit.keptAfter, 0.75 - 0.25 / 6);
    assert.equal(fit.switched, 2);
    assert.deepEqual(Array.from(fit.masks), [1, 0, 1, 0, 1, 1, 0, 0, 0]);
  });

  test("a plan on the target is left as it is; mismatched shapes are refused", () => {
    const fit = fitMasksToBudget(masks, margins, router, costs, 0.25);
    assert.equal(fit.switched, 0);
    assert.deepEqual(fit.masks, masks);
    assert.throws(() => fitMasksToBudget(masks, margins.subarray(1), router, costs, 0.5), /must both hold experts x 3 layers/);
  });

  test("random plans: never farther from the target, one direction only, unused experts untouched", () => {
    const g = new Generator(7);
    for (let trial = 0; trial < 200; trial++) {
      const E = 4, L = 6, T = 50;
      const c = Array.from(g.uniform(L), (v) => 1 + 10 * v);
      const r = Array.from(g.uniform(T), (v) => Math.floor(v * (E - 1))); // expert 3 never used
      const mk = Float32Array.from(g.uniform(E * L), (v) => (v < 0.5 ? 1 : 0));
      const mg = Float32Array.from(g.uniform(E * L), (v, i) => (mk[i] ? v : -v));
      const target = g.uniform(1)[0]!;
      const fit = fitMasksToBudget(mk, mg, r, c, target);
      assert.ok(Math.abs(fit.keptAfter - target) <= Math.abs(fit.keptBefore - target) + 1e-12);
      const up = fit.keptBefore < target;
      for (let i = 0; i < E * L; i++) {
        if (i >= 3 * L) assert.equal(fit.masks[i], mk[i], "unused expert");
        else if (fit.masks[i] !== mk[i]) assert.equal(fit.masks[i], up ? 1 : 0, "switched against the direction");
      }
      // the reported fraction is the fitted masks' own
      let kept = 0;
      const total = c.reduce((a, b) => a + b, 0);
      for (let i = 0; i < E * L; i++) kept += (fit.masks[i] * (r.filter((e) => e === Math.floor(i / L)).length / T) * c[i % L]!) / total;
      close(kept, fit.keptAfter);
    }
  });
});

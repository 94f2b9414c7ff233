/** The greedy choice of layers behind --remask-at-freeze (src/alter/remask.ts). */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { greedyMask, spreadTimesteps } from "../../src/alter/remask.js";

const keptMacs = (mask: number[], macs: number[]): number => mask.reduce((s, m, l) => s + m * macs[l], 0);

describe("remask: greedy layer choice", () => {
  test("drops the layers with the smallest error increase per MAC until the mask fits the budget", () => {
    const macs = [10, 10, 10, 10];
    // Per MAC: layer 2 cheapest, then 0, then 3, then 1.
    assert.deepEqual(greedyMask([2, 9, 1, 5], macs, 20), [0, 1, 0, 1]);
    assert.deepEqual(greedyMask([2, 9, 1, 5], macs, 40), [1, 1, 1, 1], "nothing to drop within the budget");
    assert.deepEqual(greedyMask([2, 9, 1, 5], macs, 0), [0, 0, 0, 0]);
  });

  test("weighs error by MACs, and gives back the costliest overshooting drops that still fit", () => {
    // Layer 0 is big and cheap per MAC; dropping it alone overshoots the 15 MACs that must go.
    const macs = [30, 10, 10, 5];
    const increase = [3, 2, 4, 0.1]; // per MAC: 0.1, 0.2, 0.4, 0.02
    const mask = greedyMask(increase, macs, 40);
    // Drops 3 (5 MACs, still 50 > 40), then 0 (30 -> 20 kept); layer 0 is the costliest drop but needs 30 > 20 of slack, layer 3 needs 5 <= 20: given back.
    assert.deepEqual(mask, [0, 1, 1, 1]);
    assert.ok(keptMacs(mask, macs) <= 40);
    // Negative increases (dropping helps) go first.
    assert.deepEqual(greedyMask([1, -1, 1], [1, 1, 1], 2), [1, 0, 1]);
    assert.throws(() => greedyMask([1, 2], [1, 2, 3], 3), /2 error increases for 3 layers/);
  });

  test("never keeps more than the budget, on random cases", () => {
    let seed = 7;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let c = 0; c < 200; c++) {
      const L = 1 + Math.floor(rand() * 12);
      const macs = Array.from({ length: L }, () => 1 + Math.floor(rand() * 9));
      const increase = Array.from({ length: L }, () => rand() - 0.1);
      const budget = Math.floor(rand() * macs.reduce((a, b) => a + b, 0));
      const mask = greedyMask(increase, macs, budget);
      assert.ok(keptMacs(mask, macs) <= budget, `case ${c}`);
      // No dropped layer would still fit: the budget is used as far as whole layers allow.
      for (let l = 0; l < L; l++) if (mask[l] === 0) assert.ok(keptMacs(mask, macs) + macs[l] > budget, `case ${c}: layer ${l} fits`);
    }
  });

  test("spreadTimesteps takes the midpoints of equal shares, or all of them when there are few", () => {
    assert.deepEqual(spreadTimesteps([0, 1, 2, 3, 4, 5, 6, 7], 4), [1, 3, 5, 7]);
    assert.deepEqual(spreadTimesteps([3, 9], 4), [3, 9]);
    assert.deepEqual(spreadTimesteps([5, 6, 7, 100, 101, 102], 2), [6, 101]);
  });
});

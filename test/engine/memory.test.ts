/** Deterministic memory ownership: scopes dispose what they created, keep() and returns survive. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Tensor, scope, keep, liveBuffers, noGrad } from "../../src/engine/index.js";
import { Linear } from "../../src/nn/layers.js";
import { AdamW } from "../../src/nn/optim.js";
import { Generator } from "../../src/engine/rng.js";

describe("scope", () => {
  test("disposes intermediates and keeps the returned tensor", () => {
    const before = liveBuffers();
    const result = scope(() => {
      const a = Tensor.ones([4]);
      const b = a.mul(2).add(1);
      return b.sum();
    });
    assert.equal(result.item(), 12);
    assert.equal(liveBuffers(), before + 1);
    result.dispose();
    assert.equal(liveBuffers(), before);
  });

  test("using a tensor after its scope ended is an error, not a silent reuse", () => {
    let leaked: Tensor | null = null;
    scope(() => {
      leaked = Tensor.ones([3]);
      return null;
    });
    assert.throws(() => leaked!.toArray(), /used after it was disposed/);
  });

  test("keep() and returned objects/arrays survive; reshape views share refcounted storage", () => {
    const before = liveBuffers();
    const { kept, pair } = scope(() => {
      const kept = keep(Tensor.zeros([2]));
      const x = Tensor.ones([2, 2]);
      const view = x.reshape([4]);
      return { kept, pair: [view, Tensor.ones([1])] };
    });
    assert.deepEqual(pair[0].toArray(), [1, 1, 1, 1]);
    assert.equal(kept.size, 2);
    for (const t of [kept, ...pair]) t.dispose();
    assert.equal(liveBuffers(), before);
  });

  test("a training loop holds a flat number of live buffers", () => {
    const gen = new Generator(3);
    const layer = new Linear(8, 8, { generator: gen });
    const opt = new AdamW(layer.parameters(), { lr: 1e-3 });
    const x = Tensor.randn([16, 8], gen);
    const counts: number[] = [];
    for (let step = 0; step < 30; step++) {
      scope(() => {
        opt.zeroGrad();
        layer.forward(x).silu().square().mean().backward();
        opt.step();
      });
      counts.push(liveBuffers());
    }
    assert.equal(counts[29], counts[5], `live buffers drifted: ${counts.join(",")}`);
    noGrad(() => layer.forward(x)).dispose();
  });
});

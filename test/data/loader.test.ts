import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { Generator } from "../../src/engine/rng.js";
import { BatchLoader, type BatchLoaderState } from "../../src/data/loader.js";
import { loadFashionMnist, type Dataset } from "../../src/data/fashion-mnist.js";

/** A synthetic dataset whose image k is filled with the value k (labels k mod 10). */
function synthetic(count: number, h = 2, w = 2): Dataset {
  const images = new Float32Array(count * h * w);
  for (let k = 0; k < count; k++) images.fill(k, k * h * w, (k + 1) * h * w);
  const labels = Int32Array.from({ length: count }, (_, k) => k % 10);
  return { images, labels, count, height: h, width: w, channels: 1, classNames: [] };
}

function take(loader: BatchLoader, batches: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < batches; i++) {
    const b = loader.next();
    out.push([...b.indices]);
    b.images.dispose();
    b.labels.dispose();
  }
  return out;
}

describe("BatchLoader", () => {
  test("batches carry the right images and labels, shapes [B,H,W,C] and int32 [B]", () => {
    const d = synthetic(10, 3, 2);
    const loader = new BatchLoader(d, 4, new Generator(1));
    const b = loader.next();
    assert.deepEqual(b.images.shape, [4, 3, 2, 1]);
    assert.equal(b.images.dtype, "float32");
    assert.deepEqual(b.labels.shape, [4]);
    assert.equal(b.labels.dtype, "int32");
    const img = b.images.f32;
    const lab = b.labels.i32;
    for (let i = 0; i < 4; i++) {
      const k = b.indices[i]!;
      for (let j = 0; j < 6; j++) assert.equal(img[i * 6 + j], k);
      assert.equal(lab[i], k % 10);
    }
    b.images.dispose();
    b.labels.dispose();
  });

  test("deterministic given the generator seed; different seeds differ", () => {
    const d = synthetic(50);
    const a = take(new BatchLoader(d, 8, new Generator(42)), 20);
    const b = take(new BatchLoader(d, 8, new Generator(42)), 20);
    const c = take(new BatchLoader(d, 8, new Generator(43)), 20);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  test("every index exactly once per epoch; orders change between epochs", () => {
    const d = synthetic(37);
    const loader = new BatchLoader(d, 5, new Generator(7), { dropLast: false });
    assert.equal(loader.batchesPerEpoch, 8);
    const epochs: number[][] = [];
    for (let e = 0; e < 3; e++) {
      const batches = take(loader, 8);
      assert.equal(loader.epoch, e);
      assert.deepEqual(batches.map((b) => b.length), [5, 5, 5, 5, 5, 5, 5, 2]);
      const all = batches.flat();
      assert.deepEqual([...all].sort((x, y) => x - y), Array.from({ length: 37 }, (_, i) => i));
      epochs.push(all);
    }
    assert.notDeepEqual(epochs[0], epochs[1]);
  });

  test("dropLast serves only full batches, each index at most once per epoch", () => {
    const d = synthetic(37);
    const loader = new BatchLoader(d, 5, new Generator(7));
    assert.equal(loader.batchesPerEpoch, 7);
    for (let e = 0; e < 2; e++) {
      const all = take(loader, 7).flat();
      assert.equal(all.length, 35);
      assert.equal(new Set(all).size, 35);
      assert.equal(loader.epoch, e);
    }
  });

  test("shuffle: false visits items in order", () => {
    const loader = new BatchLoader(synthetic(6), 4, new Generator(0), { shuffle: false, dropLast: false });
    assert.deepEqual(take(loader, 4), [[0, 1, 2, 3], [4, 5], [0, 1, 2, 3], [4, 5]]);
  });

  test("state round trip (through JSON) continues the exact same batch sequence", () => {
    const d = synthetic(23);
    for (const dropLast of [true, false]) {
      for (const stopAt of [0, 1, 3, 4, 5, 9]) {
        const original = new BatchLoader(d, 5, new Generator(99), { dropLast });
        take(original, stopAt);
        const saved = JSON.parse(JSON.stringify(original.state())) as BatchLoaderState;
        const resumed = BatchLoader.fromState(d, saved);
        assert.equal(resumed.epoch, original.epoch);
        assert.equal(resumed.position, original.position);
        assert.deepEqual(take(resumed, 12), take(original, 12), `dropLast=${dropLast} stopAt=${stopAt}`);
      }
    }
  });

  test("a reference run equals one interrupted and resumed twice", () => {
    const d = synthetic(30);
    const reference = take(new BatchLoader(d, 4, new Generator(5)), 25);
    let loader = new BatchLoader(d, 4, new Generator(5));
    const got = take(loader, 6);
    loader = BatchLoader.fromState(d, loader.state());
    got.push(...take(loader, 11));
    loader = BatchLoader.fromState(d, loader.state());
    got.push(...take(loader, 8));
    assert.deepEqual(got, reference);
  });

  test("state checks", () => {
    const d = synthetic(10);
    const s = new BatchLoader(d, 2, new Generator(1)).state();
    assert.throws(() => BatchLoader.fromState(synthetic(11), s), /saved for a dataset of 10 items, this one has 11/);
    assert.throws(() => BatchLoader.fromState(d, { ...s, position: 11 }), /position 11 outside 0\.\.10/);
    assert.throws(() => new BatchLoader(d, 11, new Generator(1)), /exceeds the dataset's 10 items/);
    assert.throws(() => new BatchLoader(d, 0, new Generator(1)), /positive integer/);
  });

  test("over the committed slice: [B,32,32,1] batches", () => {
    const d = loadFashionMnist(join(import.meta.dirname, "..", "..", "data", "fashion-mnist-slice"), "test");
    const loader = new BatchLoader(d, 64, new Generator(3));
    assert.equal(loader.batchesPerEpoch, 15);
    const b = loader.next();
    assert.deepEqual(b.images.shape, [64, 32, 32, 1]);
    assert.deepEqual(b.labels.shape, [64]);
    assert.equal(b.labels.i32[0], d.labels[b.indices[0]!]);
    b.images.dispose();
    b.labels.dispose();
  });
});

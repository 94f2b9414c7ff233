import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DEFAULT_DATA_DIR,
  FASHION_MNIST_CLASSES,
  loadFashionMnist,
  loadImageDataset,
  resolveDataDir,
  type Dataset,
} from "../../src/data/fashion-mnist.js";
import { IdxError, writeIdxImages, writeIdxLabels } from "../../src/data/idx.js";
import { writePng } from "../../src/data/png.js";

const SLICE = join(import.meta.dirname, "..", "..", "data", "fashion-mnist-slice");

function classCounts(d: Dataset, k = 10): number[] {
  const c = new Array<number>(k).fill(0);
  for (const l of d.labels) c[l]!++;
  return c;
}

/** Checks range, shape fields and that the 2-pixel border of every image is background (-1). */
function checkImages(d: Dataset): void {
  assert.equal(d.height, 32);
  assert.equal(d.width, 32);
  assert.equal(d.channels, 1);
  assert.equal(d.images.length, d.count * 32 * 32);
  assert.equal(d.labels.length, d.count);
  let min = Infinity;
  let max = -Infinity;
  for (const v of d.images) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  assert.ok(min >= -1 && max <= 1, `values in [-1, 1], got [${min}, ${max}]`);
  assert.equal(min, -1);
  assert.equal(max, 1);
  for (let n = 0; n < d.count; n++) {
    const base = n * 1024;
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        if (y >= 2 && y < 30 && x >= 2 && x < 30) continue;
        if (d.images[base + y * 32 + x] !== -1) assert.fail(`image ${n} border pixel (${y}, ${x}) is not -1`);
      }
    }
  }
}

describe("committed Fashion-MNIST slice", () => {
  test("train: 4000 images, 400 per class, in [-1, 1], padded with -1", () => {
    const d = loadFashionMnist(SLICE, "train");
    assert.equal(d.count, 4000);
    assert.deepEqual(classCounts(d), new Array(10).fill(400));
    assert.deepEqual(d.classNames, FASHION_MNIST_CLASSES);
    checkImages(d);
    // the first item of Fashion-MNIST train is an ankle boot
    assert.equal(d.labels[0], 9);
  });

  test("test: 1000 images, 100 per class", () => {
    const d = loadFashionMnist(SLICE, "test");
    assert.equal(d.count, 1000);
    assert.deepEqual(classCounts(d), new Array(10).fill(100));
    checkImages(d);
  });

  test("loadImageDataset detects IDX", () => {
    const d = loadImageDataset(SLICE, { split: "test" });
    assert.equal(d.count, 1000);
  });

  test("class names", () => {
    assert.equal(FASHION_MNIST_CLASSES.length, 10);
    assert.equal(FASHION_MNIST_CLASSES[0], "T-shirt/top");
    assert.equal(FASHION_MNIST_CLASSES[9], "Ankle boot");
  });
});

describe("data directory resolution and errors", () => {
  let dir = "";
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "alter-fm-"));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test("argument > ALTER_DATA_DIR > Debian default", () => {
    const saved = process.env.ALTER_DATA_DIR;
    try {
      delete process.env.ALTER_DATA_DIR;
      assert.equal(resolveDataDir(), DEFAULT_DATA_DIR);
      process.env.ALTER_DATA_DIR = SLICE;
      assert.equal(resolveDataDir(), SLICE);
      assert.equal(resolveDataDir("/x"), "/x");
      assert.equal(loadFashionMnist(undefined, "test").count, 1000);
    } finally {
      if (saved === undefined) delete process.env.ALTER_DATA_DIR;
      else process.env.ALTER_DATA_DIR = saved;
    }
  });

  test("missing files: lists what was looked for and the fix", () => {
    assert.throws(
      () => loadFashionMnist(dir, "train"),
      (e: unknown) => {
        assert.ok(e instanceof IdxError);
        assert.match(e.message, /train-images-idx3-ubyte\(\.gz\) and train-labels-idx1-ubyte\(\.gz\)/);
        assert.match(e.message, /apt-get install dataset-fashion-mnist, or pass --data DIR/);
        return true;
      },
    );
    assert.throws(() => loadFashionMnist(join(dir, "absent"), "test"), /which does not exist.*t10k-images/);
    assert.throws(() => loadImageDataset(dir), /no dataset found: .*labels\.csv/);
  });

  test("raw (uncompressed) files, custom padding", () => {
    const sub = join(dir, "raw");
    writeIdxImages(join(sub, "t10k-images-idx3-ubyte"), Uint8Array.from([0, 255, 128, 64]), 1, 2, 2);
    writeIdxLabels(join(sub, "t10k-labels-idx1-ubyte"), [3]);
    const d = loadFashionMnist(sub, "test", { pad: 1 });
    assert.deepEqual([d.count, d.height, d.width], [1, 4, 4]);
    const row = (y: number) => [...d.images.subarray(y * 4, y * 4 + 4)];
    assert.deepEqual(row(0), [-1, -1, -1, -1]);
    assert.deepEqual(row(1), [-1, -1, 1, -1]);
    assert.deepEqual(row(2).map((v) => Math.round(v * 1000) / 1000), [-1, 0.004, -0.498, -1]);
  });

  test("loadImageDataset detects a PNG folder", () => {
    const sub = join(dir, "pngs");
    writePng(join(sub, "a.png"), new Uint8Array(9).fill(255), 3, 3, 1);
    writePng(join(sub, "b.png"), new Uint8Array(9), 3, 3, 1);
    writeFileSync(join(sub, "labels.csv"), "file,label\na.png,1\nb.png,0\n");
    const d = loadImageDataset(sub);
    assert.deepEqual([d.count, d.height, d.width, d.channels], [2, 3, 3, 1]);
    assert.deepEqual([...d.labels], [1, 0]);
  });
});

describe("full Debian dataset", () => {
  const present =
    existsSync(join(DEFAULT_DATA_DIR, "train-images-idx3-ubyte.gz")) ||
    existsSync(join(DEFAULT_DATA_DIR, "train-images-idx3-ubyte"));
  const skip = present ? false : `${DEFAULT_DATA_DIR} not present (apt-get install dataset-fashion-mnist)`;

  test("train: 60000 images, 6000 per class", { skip }, () => {
    const d = loadFashionMnist(DEFAULT_DATA_DIR, "train");
    assert.equal(d.count, 60000);
    assert.deepEqual(classCounts(d), new Array(10).fill(6000));
    assert.equal(d.images.length, 60000 * 32 * 32);
    assert.equal(d.images[0], -1);
  });

  test("test: 10000 images, 1000 per class", { skip }, () => {
    const d = loadFashionMnist(DEFAULT_DATA_DIR, "test");
    assert.equal(d.count, 10000);
    assert.deepEqual(classCounts(d), new Array(10).fill(1000));
  });
});

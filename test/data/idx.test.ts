import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import {
  IdxError,
  isGzip,
  readIdxImages,
  readIdxLabels,
  readIdxPair,
  writeIdxImages,
  writeIdxLabels,
} from "../../src/data/idx.js";

let dir = "";
before(() => {
  dir = mkdtempSync(join(tmpdir(), "alter-idx-"));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Builds raw IDX bytes: header (type, dims) followed by `body`. */
function idxBytes(type: number, dims: number[], body: Uint8Array | number[], magic01 = [0, 0]): Uint8Array {
  const head = new Uint8Array(4 + 4 * dims.length);
  const view = new DataView(head.buffer);
  head[0] = magic01[0]!;
  head[1] = magic01[1]!;
  head[2] = type;
  head[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

function file(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

/** Asserts `fn` throws an IdxError whose single-line message names `path` and matches `re`. */
function throwsIdx(fn: () => unknown, path: string, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof IdxError, `expected IdxError, got ${String(e)}`);
    assert.ok(e instanceof Error);
    assert.ok(!e.message.includes("\n"), `message is one line: ${e.message}`);
    assert.ok(e.message.startsWith(`${path}: `), `message names the file: ${e.message}`);
    assert.match(e.message, re);
    assert.match(e.message, /; \S/, "message carries a fix after ';'");
    return true;
  });
}

describe("IDX round trip", () => {
  const n = 3;
  const h = 4;
  const w = 5;
  const pixels = Uint8Array.from({ length: n * h * w }, (_, i) => (i * 37) % 256);
  const labels = [0, 9, 4];

  for (const gzip of [false, true]) {
    test(gzip ? "gzip" : "raw", () => {
      const ip = join(dir, `rt-images-${gzip}`);
      const lp = join(dir, `rt-labels-${gzip}`);
      writeIdxImages(ip, pixels, n, h, w, { gzip });
      writeIdxLabels(lp, labels, { gzip });
      assert.equal(isGzip(readFileSync(ip)), gzip);
      const raw = readFileSync(ip);
      if (!gzip) {
        assert.deepEqual([...raw.subarray(0, 4)], [0, 0, 8, 3]);
        assert.equal(raw.length, 16 + n * h * w);
      }
      const img = readIdxImages(ip);
      assert.deepEqual([img.count, img.height, img.width], [n, h, w]);
      assert.deepEqual(img.data, pixels);
      assert.deepEqual([...readIdxLabels(lp)], labels);
      const pair = readIdxPair(ip, lp);
      assert.equal(pair.images.count, pair.labels.length);
      // no temp files left behind by the atomic writer
      assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith(".tmp")), []);
    });
  }

  test("gzip is detected by magic, not by name", () => {
    const p = file("named-raw.gz", idxBytes(8, [2], [1, 2]));
    assert.deepEqual([...readIdxLabels(p)], [1, 2]);
    const q = file("gz-without-suffix", gzipSync(idxBytes(8, [2], [3, 4])));
    assert.deepEqual([...readIdxLabels(q)], [3, 4]);
  });

  test("empty label file (0 items) is valid", () => {
    const p = file("empty-labels", idxBytes(8, [0], []));
    assert.equal(readIdxLabels(p).length, 0);
  });

  test("writer validates its arguments", () => {
    assert.throws(() => writeIdxImages(join(dir, "x"), new Uint8Array(5), 1, 2, 2), /do not match/);
    assert.throws(() => writeIdxLabels(join(dir, "y"), [256]), /not a uint8/);
  });
});

describe("IDX malformed files", () => {
  test("missing file", () => {
    const p = join(dir, "nope");
    throwsIdx(() => readIdxImages(p), p, /file not found/);
  });

  test("file too short for the magic", () => {
    const p = file("short", new Uint8Array([0, 0]));
    throwsIdx(() => readIdxImages(p), p, /file too short \(2 bytes\)/);
  });

  test("file too short for its dims", () => {
    const p = file("short-dims", idxBytes(8, [1, 2, 3], []).subarray(0, 10));
    throwsIdx(() => readIdxImages(p), p, /file too short \(10 bytes\) for its 3-dimension header \(16 bytes\)/);
  });

  test("bad magic is printed in hex", () => {
    const p = file("png-not-idx", new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]));
    throwsIdx(() => readIdxImages(p), p, /bad magic 0x89504e47.*expected 0x00000803/);
    const q = file("bad-type", idxBytes(0x42, [1], [0]));
    throwsIdx(() => readIdxLabels(q), q, /bad magic 0x00004201/);
  });

  test("unsupported element type", () => {
    const p = file("float-images", idxBytes(0x0d, [1, 1, 1], [0, 0, 0, 0]));
    throwsIdx(() => readIdxImages(p), p, /unsupported element type 0x0d \(float32\)/);
  });

  test("wrong number of dims", () => {
    const labelsAsImages = file("labels-as-images", idxBytes(8, [3], [0, 1, 2]));
    throwsIdx(() => readIdxImages(labelsAsImages), labelsAsImages, /images file has 1 dimension .*expected 3/);
    const imagesAsLabels = file("images-as-labels", idxBytes(8, [1, 1, 1], [0]));
    throwsIdx(() => readIdxLabels(imagesAsLabels), imagesAsLabels, /labels file has 3 dimensions .*expected 1/);
  });

  test("dims needing more bytes than the file has (checked before allocating)", () => {
    // Declares 4e9 x 4e9 x 4e9 bytes: must fail fast on the size check, not on allocation.
    const huge = file("huge-dims", idxBytes(8, [0xffffffff, 0xffffffff, 0xffffffff], [1, 2, 3]));
    throwsIdx(() => readIdxImages(huge), huge, /only 3 follow \(truncated or corrupt\)/);
    const trunc = file("truncated", idxBytes(8, [2, 2, 2], [1, 2, 3, 4, 5, 6, 7]));
    throwsIdx(() => readIdxImages(trunc), trunc, /dims \[2, 2, 2\] = 8 bytes of data but only 7 follow/);
  });

  test("trailing bytes", () => {
    const p = file("trailing", idxBytes(8, [2], [1, 2, 3]));
    throwsIdx(() => readIdxLabels(p), p, /1 trailing bytes after the 2 data bytes/);
  });

  test("label/image count mismatch", () => {
    const ip = join(dir, "mm-images");
    const lp = join(dir, "mm-labels");
    writeIdxImages(ip, new Uint8Array(3 * 4), 3, 2, 2);
    writeIdxLabels(lp, [1, 2]);
    throwsIdx(() => readIdxPair(ip, lp), lp, /holds 2 labels but mm-images holds 3 images/);
  });

  test("label values out of range; class count is a parameter", () => {
    const p = join(dir, "range-labels");
    writeIdxLabels(p, [0, 9, 10, 3]);
    throwsIdx(() => readIdxLabels(p), p, /label 10 at index 2 is out of range 0\.\.9 \(10 classes\)/);
    assert.deepEqual([...readIdxLabels(p, { numClasses: 11 })], [0, 9, 10, 3]);
    throwsIdx(() => readIdxLabels(p, { numClasses: 5 }), p, /label 9 at index 1 is out of range 0\.\.4/);
  });

  test("corrupt gzip", () => {
    const good = gzipSync(idxBytes(8, [4], [1, 2, 3, 4]));
    const truncated = file("truncated.gz", good.subarray(0, good.length - 6));
    throwsIdx(() => readIdxLabels(truncated), truncated, /corrupt gzip data/);
    const garbled = Uint8Array.from(good);
    for (let i = 10; i < garbled.length - 8; i++) garbled[i] ^= 0x5a;
    const g = file("garbled.gz", garbled);
    throwsIdx(() => readIdxLabels(g), g, /corrupt gzip data/);
  });

  test("gzip bomb bounded by maxBytes", () => {
    const p = file("big.gz", gzipSync(idxBytes(8, [4096], new Uint8Array(4096))));
    throwsIdx(() => readIdxLabels(p, { maxBytes: 1000 }), p, /decompresses to more than 1000 bytes/);
  });
});

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PNG } from "pngjs";
import { loadPngFolder, PngFolderError } from "../../src/data/png-folder.js";
import { encodePng, imageGrid, writePng, CAPTION_HEIGHT } from "../../src/data/png.js";

let root = "";
let counter = 0;
before(() => {
  root = mkdtempSync(join(tmpdir(), "alter-png-"));
});
after(() => {
  rmSync(root, { recursive: true, force: true });
});

/** Writes an RGBA PNG with pngjs directly, in the requested output colour type. */
function pngjsWrite(path: string, width: number, height: number, rgba: number[], colorType: 0 | 2 | 4 | 6): void {
  const png = new PNG({ width, height });
  png.data = Buffer.from(rgba);
  writeFileSync(path, PNG.sync.write(png, { colorType }));
}

/** A fresh folder holding the given files. */
function folder(files: Record<string, string | Uint8Array>): string {
  const dir = join(root, `case-${counter++}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

function gray2x2(values: number[]): Uint8Array {
  return encodePng(Uint8Array.from(values), 2, 2, 1);
}

function throwsPng(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof PngFolderError, `expected PngFolderError, got ${String(e)}`);
    assert.ok(!e.message.includes("\n"), "one-line message");
    assert.match(e.message, re);
    assert.match(e.message, /; \S/, "message carries a fix");
    return true;
  });
}

describe("PNG folder: loading", () => {
  test("grayscale PNGs written by pngjs load in labels.csv order, scaled to [-1, 1]", () => {
    const dir = folder({ "labels.csv": "file,label\r\nb.png,7\n\na.png,2\n" });
    pngjsWrite(join(dir, "a.png"), 2, 1, [0, 0, 0, 255, 255, 255, 255, 255], 0);
    pngjsWrite(join(dir, "b.png"), 2, 1, [51, 51, 51, 255, 204, 204, 204, 255], 0);
    const d = loadPngFolder(dir);
    assert.deepEqual([d.count, d.height, d.width, d.channels], [2, 1, 2, 1]);
    assert.deepEqual([...d.labels], [7, 2]);
    assert.deepEqual([...d.images].map((v) => Math.round(v * 100) / 100), [-0.6, 0.6, -1, 1]);
    assert.deepEqual(d.classNames, ["0", "1", "2", "3", "4", "5", "6", "7"]);
  });

  test("RGB first image sets 3 channels; grayscale images are replicated", () => {
    const dir = folder({ "labels.csv": "file,label\nc.png,0\ng.png,1\n" });
    pngjsWrite(join(dir, "c.png"), 1, 1, [255, 0, 0, 255], 2);
    pngjsWrite(join(dir, "g.png"), 1, 1, [255, 255, 255, 255], 0);
    const d = loadPngFolder(dir);
    assert.equal(d.channels, 3);
    assert.deepEqual([...d.images], [1, -1, -1, 1, 1, 1]);
  });

  test("channels: 1 converts RGB to luminance; alpha composites over black", () => {
    const dir = folder({ "labels.csv": "file,label\nc.png,0\nt.png,1\n", "classes.txt": "red\nclear\n" });
    pngjsWrite(join(dir, "c.png"), 1, 1, [255, 0, 0, 255], 6);
    pngjsWrite(join(dir, "t.png"), 1, 1, [255, 255, 255, 0], 6);
    const d = loadPngFolder(dir, { channels: 1 });
    assert.equal(d.channels, 1);
    assert.equal(d.images[0], Math.fround(Math.round(0.299 * 255) / 127.5 - 1));
    assert.equal(d.images[1], -1);
    assert.deepEqual(d.classNames, ["red", "clear"]);
  });
});

describe("PNG folder: errors", () => {
  test("missing labels file", () => {
    const dir = folder({ "a.png": gray2x2([0, 0, 0, 0]) });
    throwsPng(() => loadPngFolder(dir), /no labels\.csv found; add labels\.csv with the header file,label/);
  });

  test("bad header", () => {
    const dir = folder({ "labels.csv": "name,class\na.png,1\n", "a.png": gray2x2([0, 0, 0, 0]) });
    throwsPng(() => loadPngFolder(dir), /labels\.csv: first line is "name,class", expected the header "file,label"/);
  });

  test("a label row naming a missing file", () => {
    const dir = folder({ "labels.csv": "file,label\na.png,1\nghost.png,2\n", "a.png": gray2x2([0, 0, 0, 0]) });
    throwsPng(() => loadPngFolder(dir), /labels\.csv:3: row names ghost\.png, which does not exist/);
  });

  test("a PNG without a label row", () => {
    const dir = folder({
      "labels.csv": "file,label\na.png,1\n",
      "a.png": gray2x2([0, 0, 0, 0]),
      "z.png": gray2x2([0, 0, 0, 0]),
      "y.png": gray2x2([0, 0, 0, 0]),
    });
    throwsPng(() => loadPngFolder(dir), /y\.png: has no row in labels\.csv \(and 1 more\); add a row "y\.png,<class id>"/);
  });

  test("non-integer label", () => {
    for (const bad of ["1.5", "cat", "-1", ""]) {
      const dir = folder({ "labels.csv": `file,label\na.png,${bad}\n`, "a.png": gray2x2([0, 0, 0, 0]) });
      throwsPng(() => loadPngFolder(dir), /labels\.csv:2: label ".*" for a\.png is not a non-negative integer/);
    }
  });

  test("label out of range when numClasses is given", () => {
    const dir = folder({ "labels.csv": "file,label\na.png,10\n", "a.png": gray2x2([0, 0, 0, 0]) });
    throwsPng(() => loadPngFolder(dir, { numClasses: 10 }), /label 10 for a\.png is out of range 0\.\.9/);
  });

  test("duplicate and malformed rows", () => {
    const dup = folder({ "labels.csv": "file,label\na.png,1\na.png,2\n", "a.png": gray2x2([0, 0, 0, 0]) });
    throwsPng(() => loadPngFolder(dup), /labels\.csv:3: a\.png is listed again \(first on line 2\)/);
    const extra = folder({ "labels.csv": "file,label\na.png,1,x\n", "a.png": gray2x2([0, 0, 0, 0]) });
    throwsPng(() => loadPngFolder(extra), /malformed row "a\.png,1,x"/);
  });

  test("corrupt PNG names the file", () => {
    const good = gray2x2([1, 2, 3, 4]);
    const broken = Uint8Array.from(good);
    broken.fill(0, 40, broken.length - 12); // clobber the compressed data
    const dir = folder({
      "labels.csv": "file,label\na.png,0\nbroken.png,1\ntext.png,1\n",
      "a.png": good,
      "broken.png": broken,
      "text.png": "not a png",
    });
    throwsPng(() => loadPngFolder(dir), /broken\.png: corrupt or unreadable PNG \(.+\); re-export/);
    const dir2 = folder({ "labels.csv": "file,label\ntext.png,1\n", "text.png": "not a png" });
    throwsPng(() => loadPngFolder(dir2), /text\.png: corrupt or unreadable PNG/);
  });

  test("images of different sizes name the first odd file and its size", () => {
    const dir = folder({
      "labels.csv": "file,label\na.png,0\nb.png,0\nc.png,1\n",
      "a.png": gray2x2([0, 0, 0, 0]),
      "b.png": gray2x2([0, 0, 0, 0]),
      "c.png": encodePng(new Uint8Array(6), 3, 2, 1),
    });
    throwsPng(() => loadPngFolder(dir), /c\.png: is 3x2 but a\.png is 2x2; all images must be the same size/);
  });
});

describe("PNG encoding and grids", () => {
  test("encodePng round-trips through pngjs for 1, 3 and 4 channels", () => {
    for (const c of [1, 3, 4]) {
      const px = Uint8Array.from({ length: 3 * 2 * c }, (_, i) => (i * 41) % 256);
      const png = PNG.sync.read(encodePng(px, 3, 2, c));
      assert.deepEqual([png.width, png.height], [3, 2]);
      assert.equal(png.color, c >= 3);
      assert.equal(png.alpha, c === 4);
      for (let i = 0; i < 6; i++) {
        const rgba = [...png.data.subarray(4 * i, 4 * i + 4)];
        const want = c === 1 ? [px[i]!, px[i]!, px[i]!, 255] : [...px.subarray(c * i, c * i + 3), c === 4 ? px[4 * i + 3]! : 255];
        assert.deepEqual(rgba, want);
      }
    }
    assert.throws(() => encodePng(new Uint8Array(5), 2, 2, 1), /do not match/);
  });

  test("writePng is atomic and readable", () => {
    const p = join(root, "out", "w.png");
    writePng(p, Uint8Array.from([0, 128, 255, 64]), 2, 2, 1);
    const png = PNG.sync.read(readFileSync(p));
    assert.deepEqual([png.data[0], png.data[4], png.data[8], png.data[12]], [0, 128, 255, 64]);
  });

  test("imageGrid tiles images with padding; labels add a caption strip", () => {
    // 3 images of 2x2x1: values -1, 0, 1
    const imgs = new Float32Array([-1, -1, -1, -1, 0, 0, 0, 0, 1, 1, 1, 1]);
    const g = imageGrid(imgs, 3, 2, 2, 1, 2, 1);
    assert.deepEqual([g.width, g.height, g.channels], [2 * 2 + 3, 2 * 2 + 3, 1]);
    assert.equal(g.pixels.length, g.width * g.height);
    const at = (x: number, y: number) => g.pixels[y * g.width + x];
    assert.equal(at(0, 0), 255); // padding
    assert.equal(at(1, 1), 0); // image 0
    assert.equal(at(4, 1), 128); // image 1 (0 -> 127.5 rounds to 128)
    assert.equal(at(1, 4), 255); // image 2
    assert.equal(at(4, 4), 255); // empty cell stays background
    PNG.sync.read(encodePng(g.pixels, g.width, g.height, g.channels));

    const big = new Float32Array(2 * 12 * 12).fill(-1);
    const lg = imageGrid(big, 2, 12, 12, 1, 2, 2, ["T1", "X"]);
    assert.equal(lg.height, 12 + CAPTION_HEIGHT + 4);
    // the caption strip has some lit pixels (text) and some dark ones
    const strip = lg.pixels.subarray((2 + 12) * lg.width, (2 + 12 + CAPTION_HEIGHT) * lg.width);
    assert.ok(strip.includes(255) && strip.includes(0));
  });
});

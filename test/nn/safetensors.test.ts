import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  SafetensorsError,
  SafetensorsFile,
  parseSafetensors,
  readSafetensors,
  serializeSafetensors,
  writeSafetensors,
  decodeF16,
  decodeBF16,
  type RawTensor,
} from "../../src/nn/safetensors.js";

let dir = "";
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "alter-st-"));
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Builds a file from a header object and a data section, with the header padded to 8 bytes. */
function build(header: unknown, data: Uint8Array = new Uint8Array(0), rawHeader?: Uint8Array): Uint8Array {
  const text = rawHeader ?? new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

function f32(...xs: number[]): RawTensor {
  return { dtype: "float32", shape: [xs.length], data: new Float32Array(xs) };
}

/** Asserts parsing fails with a SafetensorsError whose message matches `re` and is one line naming the source. */
function rejects(bytes: Uint8Array, re: RegExp): void {
  assert.throws(
    () => parseSafetensors(bytes, "bad.safetensors"),
    (e: unknown) => {
      assert.ok(e instanceof SafetensorsError, `expected SafetensorsError, got ${String(e)}`);
      assert.match(e.message, re);
      assert.match(e.message, /^bad\.safetensors: /);
      assert.ok(!e.message.includes("\n"), "message is one line");
      assert.match(e.message, /; /, "message names a fix");
      return true;
    },
  );
}

describe("round trip", () => {
  test("F32, I32, metadata, empty tensor and scalar survive write + read", () => {
    const tensors = new Map<string, RawTensor>([
      ["b.weight", { dtype: "float32", shape: [2, 3], data: new Float32Array([1, -2, 3.5, 1e-30, -0, Infinity]) }],
      ["a.index", { dtype: "int32", shape: [4], data: new Int32Array([0, -1, 2147483647, -2147483648]) }],
      ["empty", { dtype: "float32", shape: [0, 5], data: new Float32Array(0) }],
      ["scalar", { dtype: "float32", shape: [], data: new Float32Array([42.25]) }],
      ["nan", { dtype: "float32", shape: [1], data: new Float32Array([NaN]) }],
    ]);
    const file = path.join(dir, "rt.safetensors");
    writeSafetensors(file, tensors, { format: "pt", config: '{"a":1}' });
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes(".tmp-")), [], "no temp file left behind");
    const { tensors: back, metadata } = readSafetensors(file);
    assert.deepEqual(metadata, { format: "pt", config: '{"a":1}' });
    assert.deepEqual([...back.keys()].sort(), [...tensors.keys()].sort());
    for (const [name, t] of tensors) {
      const r = back.get(name)!;
      assert.equal(r.dtype, t.dtype, name);
      assert.deepEqual(r.shape, t.shape, name);
      assert.deepEqual(r.data, t.data, name);
      assert.equal(r.data.constructor, t.data.constructor, name);
    }
    assert.ok(Object.is(back.get("b.weight")!.data[4], -0));
    // In-memory serialisation gives the same bytes as the file.
    assert.deepEqual(serializeSafetensors(tensors, { format: "pt", config: '{"a":1}' }), new Uint8Array(fs.readFileSync(file)));
  });

  test("layout: keys sorted, offsets in name order, header padded with spaces to 8 bytes", () => {
    const bytes = serializeSafetensors({ z: f32(1), a: f32(2, 3), m: { dtype: "int32", shape: [1], data: new Int32Array([7]) } });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal(n % 8, 0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    assert.match(text, / *$/);
    const header = JSON.parse(text);
    assert.deepEqual(Object.keys(header), ["a", "m", "z"]);
    assert.deepEqual(header.a, { dtype: "F32", shape: [2], data_offsets: [0, 8] });
    assert.deepEqual(header.m, { dtype: "I32", shape: [1], data_offsets: [8, 12] });
    assert.deepEqual(header.z, { dtype: "F32", shape: [1], data_offsets: [12, 16] });
    assert.equal(bytes.length, 8 + n + 16);
    assert.ok(!("__metadata__" in header), "no metadata block when none given");
  });

  test("parseSafetensors copies (no aliasing) and handles unaligned input", () => {
    const bytes = serializeSafetensors({ x: f32(1.5, 2.5, -3) });
    const shifted = new Uint8Array(bytes.length + 1).subarray(1); // byteOffset 1: unaligned
    shifted.set(bytes);
    const { tensors } = parseSafetensors(shifted);
    assert.deepEqual(Array.from(tensors.get("x")!.data), [1.5, 2.5, -3]);
    tensors.get("x")!.data[0] = 99;
    assert.deepEqual(parseSafetensors(shifted).tensors.get("x")!.data, new Float32Array([1.5, 2.5, -3]));
  });

  test("data not 4-aligned inside the file (odd header length) is read correctly", () => {
    const data = new Uint8Array(new Float32Array([3.25, -7]).buffer);
    const bytes = build({ x: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, data); // header length not a multiple of 4
    assert.notEqual((bytes.length - 8) % 4, 0);
    assert.deepEqual(parseSafetensors(bytes).tensors.get("x")!.data, new Float32Array([3.25, -7]));
    const file = path.join(dir, "odd.safetensors");
    fs.writeFileSync(file, bytes);
    assert.deepEqual(readSafetensors(file).tensors.get("x")!.data, new Float32Array([3.25, -7]));
  });

  test("writer rejects bad input", () => {
    assert.throws(() => serializeSafetensors({ x: { dtype: "float32", shape: [3], data: new Float32Array(2) } }), /3 elements but its data has 2/);
    assert.throws(() => serializeSafetensors({ x: { dtype: "int32", shape: [2], data: new Float32Array(2) } }), SafetensorsError);
    assert.throws(() => serializeSafetensors({ __metadata__: f32(1) }), /reserved/);
    assert.throws(() => serializeSafetensors({ x: f32(1) }, { k: 3 as unknown as string }), /not a string/);
    assert.throws(() => writeSafetensors(path.join(dir, "no", "such", "dir.safetensors"), { x: f32(1) }), /cannot write/);
  });
});

describe("half-precision decoding", () => {
  test("F16 bit patterns", () => {
    const cases: Array<[number, number]> = [
      [0x0000, 0],
      [0x8000, -0],
      [0x3c00, 1],
      [0xbc00, -1],
      [0x3555, 0.333251953125], // 1/3 rounded to f16
      [0x4248, 3.140625],
      [0x7bff, 65504], // largest normal
      [0x0400, 2 ** -14], // smallest normal
      [0x0001, 2 ** -24], // smallest subnormal
      [0x03ff, 1023 * 2 ** -24], // largest subnormal
      [0x8001, -(2 ** -24)],
      [0x7c00, Infinity],
      [0xfc00, -Infinity],
      [0x3800, 0.5],
      [0xc500, -5],
    ];
    const bits = new Uint16Array(cases.map((c) => c[0]));
    const got = decodeF16(bits);
    cases.forEach(([b, v], i) => assert.ok(Object.is(got[i], Math.fround(v)), `0x${b.toString(16)}: ${got[i]} != ${v}`));
    const nan = decodeF16(new Uint16Array([0x7e00, 0x7c01, 0xfe00]));
    for (const x of nan) assert.ok(Number.isNaN(x));
  });

  test("BF16 bit patterns", () => {
    const cases: Array<[number, number]> = [
      [0x0000, 0],
      [0x8000, -0],
      [0x3f80, 1],
      [0xc000, -2],
      [0x4049, 3.140625],
      [0x3eab, 0.333984375],
      [0x7f7f, 3.3895313892515355e38], // largest finite
      [0x0080, 2 ** -126], // smallest normal
      [0x0001, 2 ** -133], // smallest subnormal
      [0x7f80, Infinity],
      [0xff80, -Infinity],
    ];
    const got = decodeBF16(new Uint16Array(cases.map((c) => c[0])));
    cases.forEach(([b, v], i) => assert.ok(Object.is(got[i], Math.fround(v)), `0x${b.toString(16)}: ${got[i]} != ${v}`));
    assert.ok(Number.isNaN(decodeBF16(new Uint16Array([0x7fc0]))[0]));
  });

  test("F16 and BF16 tensors in a file decode to float32", () => {
    const h = new Uint8Array(new Uint16Array([0x3c00, 0x0001, 0xfc00, 0x8000]).buffer);
    const b = new Uint8Array(new Uint16Array([0x3f80, 0xc000, 0x7f80]).buffer);
    const data = new Uint8Array(14);
    data.set(b, 0);
    data.set(h, 6); // F16 data at an odd-of-4 offset
    const bytes = build(
      {
        b: { dtype: "BF16", shape: [3], data_offsets: [0, 6] },
        h: { dtype: "F16", shape: [2, 2], data_offsets: [6, 14] },
      },
      data,
    );
    const { tensors } = parseSafetensors(bytes);
    assert.equal(tensors.get("h")!.dtype, "float32");
    assert.deepEqual(tensors.get("h")!.shape, [2, 2]);
    assert.deepEqual(Array.from(tensors.get("h")!.data), [1, Math.fround(2 ** -24), -Infinity, -0]);
    assert.deepEqual(Array.from(tensors.get("b")!.data), [1, -2, Infinity]);
  });

  test("integer dtypes: I64 with range check, U8, BOOL, I16", () => {
    const i64 = new BigInt64Array([0n, -1n, 2147483647n, -2147483648n]);
    const data = new Uint8Array(32 + 3 + 2 + 4);
    data.set(new Uint8Array(i64.buffer), 0);
    data.set([255, 0, 7], 32);
    data.set([1, 0], 35);
    data.set(new Uint8Array(new Int16Array([-300, 300]).buffer), 37);
    const header = {
      a: { dtype: "I64", shape: [4], data_offsets: [0, 32] },
      b: { dtype: "U8", shape: [3], data_offsets: [32, 35] },
      c: { dtype: "BOOL", shape: [2], data_offsets: [35, 37] },
      d: { dtype: "I16", shape: [2], data_offsets: [37, 41] },
    };
    const { tensors } = parseSafetensors(build(header, data));
    assert.deepEqual(tensors.get("a")!.data, new Int32Array([0, -1, 2147483647, -2147483648]));
    assert.deepEqual(tensors.get("b")!.data, new Int32Array([255, 0, 7]));
    assert.deepEqual(tensors.get("c")!.data, new Int32Array([1, 0]));
    assert.deepEqual(tensors.get("d")!.data, new Int32Array([-300, 300]));
    const big = new Uint8Array(new BigInt64Array([2147483648n]).buffer);
    rejects(build({ a: { dtype: "I64", shape: [1], data_offsets: [0, 8] } }, big), /element 0 = 2147483648 does not fit in int32/);
  });
});

describe("streaming", () => {
  test("SafetensorsFile reads lazily from a larger file", () => {
    const n = 1 << 20; // 4 MiB per tensor
    const tensors: Record<string, RawTensor> = {};
    for (let k = 0; k < 6; k++) {
      const d = new Float32Array(n);
      for (let i = 0; i < n; i++) d[i] = k * 1000 + (i % 997);
      tensors[`layer${k}.weight`] = { dtype: "float32", shape: [1024, 1024], data: d };
    }
    tensors["ids"] = { dtype: "int32", shape: [3], data: new Int32Array([5, 6, 7]) };
    const file = path.join(dir, "big.safetensors");
    writeSafetensors(file, tensors, { note: "streaming" });
    assert.ok(fs.statSync(file).size > 24 * 1024 * 1024);

    const f = SafetensorsFile.open(file);
    try {
      assert.equal(f.metadata.note, "streaming");
      assert.deepEqual(f.names(), ["ids", ...Array.from({ length: 6 }, (_, k) => `layer${k}.weight`)]);
      assert.deepEqual(f.info("layer3.weight"), { dtype: "F32", shape: [1024, 1024], byteLength: 4 * n });
      const t = f.read("layer4.weight");
      assert.deepEqual(t.shape, [1024, 1024]);
      assert.equal(t.data[0], 4000);
      assert.equal(t.data[n - 1], 4000 + ((n - 1) % 997));
      assert.deepEqual(f.read("ids").data, new Int32Array([5, 6, 7]));
      assert.throws(() => f.read("nope"), /no tensor named "nope"/);
    } finally {
      f.close();
    }
    assert.throws(() => f.read("ids"), /closed/);
  });

  test("open() reports missing files and bad headers with the path", () => {
    assert.throws(() => SafetensorsFile.open(path.join(dir, "missing.safetensors")), /missing\.safetensors: cannot open file/);
    const file = path.join(dir, "short.safetensors");
    fs.writeFileSync(file, new Uint8Array([1, 2, 3]));
    assert.throws(() => SafetensorsFile.open(file), (e: unknown) => e instanceof SafetensorsError && e.message.startsWith(file));
  });
});

describe("malformed files", () => {
  const ok = { x: { dtype: "F32", shape: [2], data_offsets: [0, 8] } };
  const eight = new Uint8Array(8);

  test("shorter than 8 bytes", () => {
    rejects(new Uint8Array(5), /only 5 bytes, shorter than the 8-byte header-length prefix/);
  });

  test("header length past end of file", () => {
    const b = build(ok, eight);
    new DataView(b.buffer).setBigUint64(0, 10_000n, true);
    rejects(b, /header length 10000 bytes runs past the end of the file/);
  });

  test("header larger than 100 MB is refused before allocating", () => {
    const b = new Uint8Array(16);
    new DataView(b.buffer).setBigUint64(0, 0xffffffffffffn, true);
    rejects(b, /exceeds the 100000000-byte limit/);
    // Also through the file path (header bigger than the file would be checked second).
    const file = path.join(dir, "huge-header.safetensors");
    fs.writeFileSync(file, b);
    assert.throws(() => SafetensorsFile.open(file), /exceeds the 100000000-byte limit/);
  });

  test("header not valid UTF-8", () => {
    rejects(build(null, new Uint8Array(0), new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), /not valid UTF-8/);
  });

  test("header not valid JSON", () => {
    rejects(build(null, new Uint8Array(0), new TextEncoder().encode('{"x": ')), /not valid JSON/);
  });

  test("header JSON not an object", () => {
    rejects(build([1, 2]), /an array, not an object/);
    rejects(build(null, new Uint8Array(0), new TextEncoder().encode("null")), /null, not an object/);
    rejects(build(null, new Uint8Array(0), new TextEncoder().encode("3")), /3, not an object/);
  });

  test("entry not an object", () => {
    rejects(build({ x: 5 }), /tensor "x" header entry is 5, not an object/);
  });

  test("entry missing dtype / shape / data_offsets", () => {
    rejects(build({ x: { shape: [2], data_offsets: [0, 8] } }, eight), /tensor "x" is missing "dtype"/);
    rejects(build({ x: { dtype: "F32", data_offsets: [0, 8] } }, eight), /tensor "x" is missing "shape"/);
    rejects(build({ x: { dtype: "F32", shape: [2] } }, eight), /tensor "x" is missing "data_offsets"/);
  });

  test("wrong types", () => {
    rejects(build({ x: { dtype: 4, shape: [2], data_offsets: [0, 8] } }, eight), /dtype is 4, not a string/);
    rejects(build({ x: { dtype: "F32", shape: "2", data_offsets: [0, 8] } }, eight), /shape is "2", not an array/);
    rejects(build({ x: { dtype: "F32", shape: [2], data_offsets: "0,8" } }, eight), /data_offsets "0,8" is not \[begin, end\]/);
  });

  test("negative or non-integer shape", () => {
    rejects(build({ x: { dtype: "F32", shape: [-2], data_offsets: [0, 8] } }, eight), /has -2, not a non-negative integer dimension/);
    rejects(build({ x: { dtype: "F32", shape: [2.5], data_offsets: [0, 8] } }, eight), /has 2.5, not a non-negative integer dimension/);
    rejects(build({ x: { dtype: "F32", shape: ["2"], data_offsets: [0, 8] } }, eight), /has "2", not a non-negative integer/);
  });

  test("unknown dtype", () => {
    rejects(build({ x: { dtype: "F31", shape: [2], data_offsets: [0, 8] } }, eight), /unknown dtype "F31"; use one of/);
  });

  test("data_offsets not [begin <= end] integers", () => {
    rejects(build({ x: { dtype: "F32", shape: [2], data_offsets: [8, 0] } }, eight), /data_offsets \[8,0\] is not \[begin, end\]/);
    rejects(build({ x: { dtype: "F32", shape: [2], data_offsets: [0] } }, eight), /data_offsets \[0\] is not/);
    rejects(build({ x: { dtype: "F32", shape: [2], data_offsets: [-1, 7] } }, eight), /data_offsets \[-1,7\] is not/);
    rejects(build({ x: { dtype: "F32", shape: [2], data_offsets: [0, 8.5] } }, eight), /data_offsets \[0,8.5\] is not/);
  });

  test("byte length does not match shape x dtype size", () => {
    rejects(build({ x: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, eight), /span 8 bytes but F32 shape \[3\] needs 12/);
    rejects(build({ x: { dtype: "F16", shape: [2], data_offsets: [0, 8] } }, eight), /span 8 bytes but F16 shape \[2\] needs 4/);
  });

  test("offsets past the end of the data section", () => {
    rejects(build({ x: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, eight), /\[0, 16\] run past the end of the data section \(8 bytes\)/);
  });

  test("overlapping tensors", () => {
    const h = {
      a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
      b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
    };
    rejects(build(h, new Uint8Array(12)), /tensor "b" bytes \[4, 12\] overlap tensor "a"/);
  });

  test("hole in the data section", () => {
    const h = {
      a: { dtype: "F32", shape: [1], data_offsets: [0, 4] },
      b: { dtype: "F32", shape: [1], data_offsets: [8, 12] },
    };
    rejects(build(h, new Uint8Array(12)), /hole: bytes \[4, 8\) belong to no tensor/);
  });

  test("trailing bytes after the last tensor", () => {
    rejects(build(ok, new Uint8Array(12)), /4 trailing bytes after the last tensor/);
  });

  test("__metadata__ values not strings", () => {
    rejects(build({ __metadata__: { step: 3 }, ...ok }, eight), /__metadata__ value for "step" is 3, not a string/);
    rejects(build({ __metadata__: ["a"], ...ok }, eight), /__metadata__ is \["a"\], not an object/);
  });

  test("dtype known but not convertible fails at read time, naming the tensor", () => {
    const file = path.join(dir, "f8.safetensors");
    fs.writeFileSync(file, build({ q: { dtype: "F8_E4M3", shape: [2], data_offsets: [0, 2] } }, new Uint8Array(2)));
    const f = SafetensorsFile.open(file);
    try {
      assert.deepEqual(f.info("q"), { dtype: "F8_E4M3", shape: [2], byteLength: 2 });
      assert.throws(() => f.read("q"), /tensor "q" has dtype F8_E4M3, which this reader cannot convert/);
    } finally {
      f.close();
    }
  });

  test("empty header object and zero-length tensors are valid", () => {
    assert.equal(parseSafetensors(build({})).tensors.size, 0);
    const h = {
      e1: { dtype: "F32", shape: [0], data_offsets: [0, 0] },
      x: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
      e2: { dtype: "I32", shape: [3, 0], data_offsets: [8, 8] },
    };
    const { tensors } = parseSafetensors(build(h, eight));
    assert.equal(tensors.size, 3);
    assert.deepEqual(tensors.get("e2")!.shape, [3, 0]);
  });
});

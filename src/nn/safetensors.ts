// safetensors reader/writer with strict validation.
//
// Layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON (possibly right-padded
// with spaces), then the data section. The JSON maps tensor names to
// {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the data section) and
// may hold "__metadata__": {string: string}. As in the reference implementation, the tensors
// must tile the data section exactly: no overlaps, no holes, nothing left over.
//
// Reading converts to two in-memory dtypes: float32 (F32, F16, BF16, F64) and int32
// (I32, I64/U32/U64 with a range check, I16, U16, I8, U8, BOOL). Writing emits F32 and I32.

import * as fs from "node:fs";
import { OutputError, writeFileAtomic, writeFully } from "../util/atomic.js";
import { faults, sleepSync } from "../util/faults.js";

export interface RawTensor {
  dtype: "float32" | "int32";
  shape: number[];
  data: Float32Array | Int32Array;
}

export interface TensorInfo {
  /** The on-disk safetensors dtype, e.g. "F32", "BF16". */
  dtype: string;
  shape: number[];
  byteLength: number;
}

export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SafetensorsError";
  }
}

/** Largest header accepted (same limit as the reference implementation). */
export const MAX_HEADER_BYTES = 100_000_000;

const DTYPE_SIZES: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};

const READABLE_DTYPES = ["F32", "F16", "BF16", "F64", "I32", "I64", "U32", "U64", "I16", "U16", "I8", "U8", "BOOL"];

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

interface Entry {
  dtype: string;
  shape: number[];
  numel: number;
  begin: number;
  end: number;
}

interface Header {
  metadata: Record<string, string>;
  entries: Map<string, Entry>;
}

function fail(source: string, problem: string, fix: string): never {
  throw new SafetensorsError(`${source}: ${problem}; ${fix}`);
}

function describe(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

const NOT_SAFETENSORS = "the file is truncated or not a safetensors file; re-download or re-export it";
const REEXPORT = "re-export the file with a conforming safetensors writer";

// ---------------------------------------------------------------------------------------------
// Header parsing and validation

/**
 * Reads the 8-byte header length and checks it against the total size before anything is
 * allocated. Returns N as a number.
 */
function checkPrefix(prefix: Uint8Array, totalBytes: number, source: string): number {
  if (totalBytes < 8) {
    fail(source, `file is only ${totalBytes} bytes, shorter than the 8-byte header-length prefix`, NOT_SAFETENSORS);
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    fail(
      source,
      `header length ${n} bytes exceeds the ${MAX_HEADER_BYTES}-byte limit`,
      "the file is corrupt or not a safetensors file; re-export it",
    );
  }
  const headerLen = Number(n);
  if (8 + headerLen > totalBytes) {
    fail(
      source,
      `header length ${headerLen} bytes runs past the end of the file (${totalBytes} bytes in all)`,
      NOT_SAFETENSORS,
    );
  }
  return headerLen;
}

function isNonNegInt(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function parseHeader(headerBytes: Uint8Array, dataLength: number, source: string): Header {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(headerBytes);
  } catch {
    fail(source, "header is not valid UTF-8", NOT_SAFETENSORS);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(source, `header is not valid JSON (${(e as Error).message.split("\n")[0]})`, NOT_SAFETENSORS);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    fail(source, `header JSON is ${Array.isArray(json) ? "an array" : describe(json)}, not an object`, NOT_SAFETENSORS);
  }

  const metadata: Record<string, string> = {};
  const entries = new Map<string, Entry>();
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
        fail(source, `__metadata__ is ${describe(raw)}, not an object of strings`, REEXPORT);
      }
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== "string") {
          fail(source, `__metadata__ value for "${k}" is ${describe(v)}, not a string`, `${REEXPORT} (metadata values must be strings)`);
        }
        metadata[k] = v;
      }
      continue;
    }
    const where = `tensor "${name}"`;
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
      fail(source, `${where} header entry is ${describe(raw)}, not an object`, REEXPORT);
    }
    const e = raw as Record<string, unknown>;
    for (const key of ["dtype", "shape", "data_offsets"]) {
      if (!(key in e)) fail(source, `${where} is missing "${key}"`, REEXPORT);
    }
    const { dtype, shape, data_offsets: offsets } = e;
    if (typeof dtype !== "string") fail(source, `${where} dtype is ${describe(dtype)}, not a string`, REEXPORT);
    const size = DTYPE_SIZES[dtype];
    if (size === undefined) {
      fail(source, `${where} has unknown dtype "${dtype}"`, `use one of ${Object.keys(DTYPE_SIZES).join(", ")}`);
    }
    if (!Array.isArray(shape)) fail(source, `${where} shape is ${describe(shape)}, not an array`, REEXPORT);
    let numel = 1;
    for (const d of shape) {
      if (!isNonNegInt(d)) {
        fail(source, `${where} shape ${describe(shape)} has ${describe(d)}, not a non-negative integer dimension`, REEXPORT);
      }
      numel *= d;
      if (!Number.isSafeInteger(numel)) fail(source, `${where} shape ${describe(shape)} has too many elements`, REEXPORT);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !isNonNegInt(offsets[0]) ||
      !isNonNegInt(offsets[1]) ||
      offsets[0] > offsets[1]
    ) {
      fail(source, `${where} data_offsets ${describe(offsets)} is not [begin, end] with integers 0 <= begin <= end`, REEXPORT);
    }
    const [begin, end] = offsets as [number, number];
    const expected = numel * size;
    if (end - begin !== expected) {
      fail(
        source,
        `${where} data_offsets [${begin}, ${end}] span ${end - begin} bytes but ${dtype} shape [${shape.join(", ")}] needs ${expected}`,
        REEXPORT,
      );
    }
    if (end > dataLength) {
      fail(
        source,
        `${where} data_offsets [${begin}, ${end}] run past the end of the data section (${dataLength} bytes)`,
        NOT_SAFETENSORS,
      );
    }
    entries.set(name, { dtype, shape: shape.slice() as number[], numel, begin, end });
  }

  // The tensors must tile the data section: sorted by offsets, each begins where the last ended.
  const sorted = [...entries.entries()].sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
  let pos = 0;
  let prevName = "";
  for (const [name, e] of sorted) {
    if (e.begin < pos) {
      fail(
        source,
        `tensor "${name}" bytes [${e.begin}, ${e.end}] overlap tensor "${prevName}" (which ends at ${pos})`,
        REEXPORT,
      );
    }
    if (e.begin > pos) {
      fail(source, `data section has a hole: bytes [${pos}, ${e.begin}) belong to no tensor`, `${REEXPORT} (tensors must be stored contiguously)`);
    }
    pos = e.end;
    prevName = name;
  }
  if (pos !== dataLength) {
    fail(
      source,
      `data section has ${dataLength - pos} trailing bytes after the last tensor (bytes [${pos}, ${dataLength}) belong to no tensor)`,
      `${REEXPORT} (tensors must cover the data section exactly)`,
    );
  }
  return { metadata, entries };
}

// ---------------------------------------------------------------------------------------------
// Decoding

let f16Table: Float32Array | undefined;

function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    let v: number;
    if (exp === 0) v = mant * 2 ** -24; // zero and subnormals
    else if (exp === 31) v = mant === 0 ? Infinity : NaN;
    else v = (1 + mant / 1024) * 2 ** (exp - 15);
    t[h] = sign * v;
  }
  f16Table = t;
  return t;
}

/** Decodes IEEE-754 binary16 bit patterns to float32. */
export function decodeF16(bits: Uint16Array): Float32Array {
  const t = halfTable();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = t[bits[i]!]!;
  return out;
}

/** Decodes bfloat16 bit patterns to float32 (exact: bf16 is the top half of a float32). */
export function decodeBF16(bits: Uint16Array): Float32Array {
  const u = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i]! << 16;
  return new Float32Array(u.buffer);
}

/** Bytes of one tensor, in a fresh, exactly-sized ArrayBuffer (so typed views are aligned). */
function decode(name: string, e: Entry, bytes: Uint8Array, source: string): RawTensor {
  const n = e.numel;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const aligned = (size: number) => bytes.byteOffset % size === 0;
  const shape = e.shape.slice();
  const rangeErr = (v: bigint | number, i: number): never =>
    fail(source, `tensor "${name}" (${e.dtype}) element ${i} = ${v} does not fit in int32`, "store it as I32 or with smaller values");

  switch (e.dtype) {
    case "F32": {
      if (LITTLE_ENDIAN && aligned(4)) return { dtype: "float32", shape, data: new Float32Array(bytes.buffer, bytes.byteOffset, n) };
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
      return { dtype: "float32", shape, data: out };
    }
    case "F64": {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true);
      return { dtype: "float32", shape, data: out };
    }
    case "F16":
    case "BF16": {
      const bits = new Uint16Array(n);
      for (let i = 0; i < n; i++) bits[i] = dv.getUint16(2 * i, true);
      return { dtype: "float32", shape, data: e.dtype === "F16" ? decodeF16(bits) : decodeBF16(bits) };
    }
    case "I32": {
      if (LITTLE_ENDIAN && aligned(4)) return { dtype: "int32", shape, data: new Int32Array(bytes.buffer, bytes.byteOffset, n) };
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getInt32(4 * i, true);
      return { dtype: "int32", shape, data: out };
    }
    case "U32": {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = dv.getUint32(4 * i, true);
        if (v > 0x7fffffff) rangeErr(v, i);
        out[i] = v;
      }
      return { dtype: "int32", shape, data: out };
    }
    case "I64":
    case "U64": {
      const out = new Int32Array(n);
      const signed = e.dtype === "I64";
      for (let i = 0; i < n; i++) {
        const lo = dv.getUint32(8 * i, true);
        const hi = signed ? dv.getInt32(8 * i + 4, true) : dv.getUint32(8 * i + 4, true);
        if ((hi === 0 && lo <= 0x7fffffff) || (hi === -1 && lo >= 0x80000000)) out[i] = lo | 0;
        else rangeErr(signed ? dv.getBigInt64(8 * i, true) : dv.getBigUint64(8 * i, true), i);
      }
      return { dtype: "int32", shape, data: out };
    }
    case "I16":
    case "U16": {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = e.dtype === "I16" ? dv.getInt16(2 * i, true) : dv.getUint16(2 * i, true);
      return { dtype: "int32", shape, data: out };
    }
    case "I8":
    case "U8":
    case "BOOL": {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = e.dtype === "I8" ? dv.getInt8(i) : dv.getUint8(i);
      return { dtype: "int32", shape, data: out };
    }
    default:
      return fail(
        source,
        `tensor "${name}" has dtype ${e.dtype}, which this reader cannot convert`,
        `convert it to one of ${READABLE_DTYPES.join(", ")} before loading`,
      );
  }
}

// ---------------------------------------------------------------------------------------------
// Reading

/** A safetensors file opened for lazy reading: the header is validated up front, tensor bytes are read on demand. */
export class SafetensorsFile {
  readonly metadata: Record<string, string>;
  readonly path: string;
  private fd: number | null;
  private readonly entries: Map<string, Entry>;
  private readonly dataStart: number;

  private constructor(path: string, fd: number, header: Header, dataStart: number) {
    this.path = path;
    this.fd = fd;
    this.metadata = header.metadata;
    this.entries = header.entries;
    this.dataStart = dataStart;
  }

  static open(path: string): SafetensorsFile {
    let fd: number;
    try {
      fd = fs.openSync(path, "r");
    } catch (e) {
      throw new SafetensorsError(`${path}: cannot open file (${(e as Error).message}); check the path and permissions`);
    }
    try {
      const size = fs.fstatSync(fd).size;
      const prefix = new Uint8Array(8);
      readFully(fd, prefix, 0, path);
      const headerLen = checkPrefix(prefix, size, path);
      const headerBytes = new Uint8Array(headerLen);
      readFully(fd, headerBytes, 8, path);
      const header = parseHeader(headerBytes, size - 8 - headerLen, path);
      return new SafetensorsFile(path, fd, header, 8 + headerLen);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /** Tensor names in file order (sorted by data offset). */
  names(): string[] {
    return [...this.entries.entries()].sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end).map(([k]) => k);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  info(name: string): TensorInfo {
    const e = this.entry(name);
    return { dtype: e.dtype, shape: e.shape.slice(), byteLength: e.end - e.begin };
  }

  read(name: string): RawTensor {
    const e = this.entry(name);
    if (this.fd === null) throw new SafetensorsError(`${this.path}: file is closed; open it again before reading "${name}"`);
    const bytes = new Uint8Array(e.end - e.begin);
    readFully(this.fd, bytes, this.dataStart + e.begin, this.path);
    return decode(name, e, bytes, this.path);
  }

  close(): void {
    if (this.fd !== null) {
      fs.closeSync(this.fd);
      this.fd = null;
    }
  }

  private entry(name: string): Entry {
    const e = this.entries.get(name);
    if (!e) {
      const names = this.names();
      const shown = names.slice(0, 8).join(", ") + (names.length > 8 ? `, ... (${names.length} in all)` : "");
      throw new SafetensorsError(`${this.path}: no tensor named "${name}"; available: ${shown || "(none)"}`);
    }
    return e;
  }
}

function readFully(fd: number, into: Uint8Array, position: number, source: string): void {
  let done = 0;
  while (done < into.length) {
    const chunk = Math.min(into.length - done, 1 << 30);
    const got = fs.readSync(fd, into, done, chunk, position + done);
    if (got === 0) fail(source, `unexpected end of file at byte ${position + done}`, "the file changed while being read or is truncated; re-download it");
    done += got;
  }
}

export function readSafetensors(path: string): { tensors: Map<string, RawTensor>; metadata: Record<string, string> } {
  const f = SafetensorsFile.open(path);
  try {
    const tensors = new Map<string, RawTensor>();
    for (const name of f.names()) tensors.set(name, f.read(name));
    return { tensors, metadata: { ...f.metadata } };
  } finally {
    f.close();
  }
}

/** Parses a whole safetensors file held in memory. Returned tensors own copies of their data. */
export function parseSafetensors(
  bytes: Uint8Array,
  source = "<buffer>",
): { tensors: Map<string, RawTensor>; metadata: Record<string, string> } {
  const headerLen = checkPrefix(bytes.subarray(0, 8), bytes.byteLength, source);
  const dataStart = 8 + headerLen;
  const header = parseHeader(bytes.subarray(8, dataStart), bytes.byteLength - dataStart, source);
  const tensors = new Map<string, RawTensor>();
  const order = [...header.entries.entries()].sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
  for (const [name, e] of order) {
    // slice() copies into a fresh buffer: aligned, and not aliasing the caller's bytes.
    const own = bytes.slice(dataStart + e.begin, dataStart + e.end);
    tensors.set(name, decode(name, e, own, source));
  }
  return { tensors, metadata: header.metadata };
}

// ---------------------------------------------------------------------------------------------
// Writing

type TensorMap = Map<string, RawTensor> | Record<string, RawTensor>;

interface Plan {
  header: Uint8Array; // 8-byte prefix + padded JSON
  order: Array<[string, RawTensor]>;
  dataLength: number;
}

function plan(tensors: TensorMap, metadata: Record<string, string> | undefined, source: string): Plan {
  const list: Array<[string, RawTensor]> =
    tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const json: Record<string, unknown> = {};
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== "object") fail(source, "metadata is not an object", "pass a Record<string, string>");
    const m: Record<string, string> = {};
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") fail(source, `metadata value for "${k}" is ${describe(v)}, not a string`, "convert metadata values to strings (e.g. JSON.stringify)");
      m[k] = v;
    }
    if (Object.keys(m).length > 0) json["__metadata__"] = m;
  }
  let offset = 0;
  for (const [name, t] of list) {
    if (name === "__metadata__") fail(source, 'a tensor is named "__metadata__", which is reserved', "rename the tensor");
    let dtype: string;
    if (t.dtype === "float32" && t.data instanceof Float32Array) dtype = "F32";
    else if (t.dtype === "int32" && t.data instanceof Int32Array) dtype = "I32";
    else fail(source, `tensor "${name}" has dtype ${describe(t.dtype)} with ${t.data?.constructor?.name} data`, "use float32 with Float32Array or int32 with Int32Array");
    let numel = 1;
    for (const d of t.shape) {
      if (!isNonNegInt(d)) fail(source, `tensor "${name}" shape ${describe(t.shape)} has a bad dimension ${describe(d)}`, "use non-negative integer dimensions");
      numel *= d;
    }
    if (numel !== t.data.length) {
      fail(source, `tensor "${name}" shape [${t.shape.join(", ")}] has ${numel} elements but its data has ${t.data.length}`, "make the shape match the data");
    }
    const byteLength = numel * 4;
    json[name] = { dtype, shape: t.shape.slice(), data_offsets: [offset, offset + byteLength] };
    offset += byteLength;
  }
  const text = new TextEncoder().encode(JSON.stringify(json));
  const padded = Math.ceil(text.length / 8) * 8;
  const header = new Uint8Array(8 + padded);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(text, 8);
  header.fill(0x20, 8 + text.length);
  return { header, order: list, dataLength: offset };
}

function tensorBytes(t: RawTensor): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = new Uint8Array(t.data.byteLength);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < t.data.length; i++) {
    if (t.data instanceof Float32Array) dv.setFloat32(4 * i, t.data[i]!, true);
    else dv.setInt32(4 * i, t.data[i]!, true);
  }
  return out;
}

/** Serialises tensors (F32 / I32, names sorted, header space-padded to 8 bytes) into one buffer. */
export function serializeSafetensors(tensors: TensorMap, metadata?: Record<string, string>): Uint8Array {
  const p = plan(tensors, metadata, "<buffer>");
  const out = new Uint8Array(p.header.length + p.dataLength);
  out.set(p.header, 0);
  let pos = p.header.length;
  for (const [, t] of p.order) {
    out.set(tensorBytes(t), pos);
    pos += t.data.byteLength;
  }
  return out;
}

/**
 * Writes a safetensors file atomically (src/util/atomic.ts: temporary file, fsync, rename).
 * Tensor data is written straight from the typed arrays.
 */
export function writeSafetensors(path: string, tensors: TensorMap, metadata?: Record<string, string>): void {
  const p = plan(tensors, metadata, path);
  try {
    writeFileAtomic(path, (fd) => {
      writeFully(fd, p.header);
      if (faults.slowWriteMs > 0) sleepSync(faults.slowWriteMs); // fault tests kill us here
      for (const [, t] of p.order) writeFully(fd, tensorBytes(t));
    }, { createDirs: false });
  } catch (e) {
    if (e instanceof SafetensorsError || e instanceof OutputError) throw e;
    throw new SafetensorsError(`${path}: cannot write file (${(e as Error).message}); check the directory exists and is writable`);
  }
}

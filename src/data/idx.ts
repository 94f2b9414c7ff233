// IDX files: the container format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).
//
// Layout (all integers big-endian):
//   bytes 0-1  zero
//   byte  2    element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
//   byte  3    number of dimensions d
//   then d     uint32 dimension sizes
//   then       prod(dims) elements, row-major, nothing after them
//
// Images are uint8 with 3 dims [N, H, W] (magic 0x00000803); labels are uint8 with 1 dim [N]
// (magic 0x00000801). Files may be gzip-compressed; compression is detected from the gzip magic
// bytes (1f 8b), not from the file name.
//
// Reading validates strictly and throws `IdxError` with a one-line message naming the file, the
// problem and the fix. Sizes declared by the header are checked against the bytes actually
// present before anything is allocated. Writing is atomic (temporary file, then rename).

import { writeFileAtomic } from "../util/atomic.js";
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";

/** A malformed, missing or inconsistent IDX file. */
export class IdxError extends Error {
  readonly file: string;
  constructor(file: string, problem: string, fix: string) {
    super(`${file}: ${problem}; ${fix}`);
    this.name = "IdxError";
    this.file = file;
  }
}

export interface IdxImages {
  /** uint8 pixels, [count, height, width] row-major. */
  data: Uint8Array;
  count: number;
  height: number;
  width: number;
}

export interface ReadOptions {
  /** Upper bound on the decompressed size of a gzip file, in bytes (default 1 GiB). */
  maxBytes?: number;
}

export interface LabelOptions extends ReadOptions {
  /** Labels must lie in [0, numClasses). Default 10. */
  numClasses?: number;
}

const TYPE_NAMES: Record<number, string> = {
  0x08: "uint8",
  0x09: "int8",
  0x0b: "int16",
  0x0c: "int32",
  0x0d: "float32",
  0x0e: "float64",
};

const DEFAULT_MAX_BYTES = 1 << 30;
const REFETCH = "re-download or regenerate the file";

function hex32(bytes: Uint8Array): string {
  let s = "0x";
  for (let i = 0; i < 4; i++) s += (bytes[i] ?? 0).toString(16).padStart(2, "0");
  return s;
}

/** True when `bytes` starts with the gzip magic 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Reads a file and gunzips it when it carries the gzip magic. */
export function readMaybeGzip(path: string, options: ReadOptions = {}): Uint8Array {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new IdxError(path, "file not found", "check the path or the --data directory");
    if (code === "EISDIR") throw new IdxError(path, "is a directory, not an IDX file", "pass the path of the file");
    throw new IdxError(path, `cannot read file (${code ?? String(e)})`, "check its permissions");
  }
  if (!isGzip(raw)) return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  try {
    const out = gunzipSync(raw, { maxOutputLength: maxBytes });
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === "ERR_BUFFER_TOO_LARGE" || /larger than|too large/i.test(err.message)) {
      throw new IdxError(path, `decompresses to more than ${maxBytes} bytes`, "check the file, or raise maxBytes");
    }
    const why = err.message.split("\n")[0];
    throw new IdxError(path, `corrupt gzip data (${why})`, `${REFETCH}; a .gz file must be complete and unmodified`);
  }
}

interface ParsedIdx {
  dims: number[];
  /** The element bytes (a view into the file contents). */
  body: Uint8Array;
}

/** Parses and validates an IDX header; requires uint8 elements and exactly `ndims` dimensions. */
export function parseIdx(bytes: Uint8Array, file: string, ndims: number, what: string): ParsedIdx {
  const expectMagic = `0x000008${ndims.toString(16).padStart(2, "0")}`;
  if (bytes.length < 4) {
    throw new IdxError(
      file,
      `file too short (${bytes.length} bytes) to hold an IDX header`,
      `${REFETCH}; an IDX ${what} file starts with the magic ${expectMagic}`,
    );
  }
  const type = bytes[2]!;
  const nd = bytes[3]!;
  if (bytes[0] !== 0 || bytes[1] !== 0 || TYPE_NAMES[type] === undefined) {
    throw new IdxError(
      file,
      `bad magic ${hex32(bytes)}, not an IDX file (expected ${expectMagic} for ${what})`,
      `pass an IDX file (raw or gzip), ${REFETCH}`,
    );
  }
  if (type !== 0x08) {
    throw new IdxError(
      file,
      `unsupported element type 0x${type.toString(16).padStart(2, "0")} (${TYPE_NAMES[type]}); only uint8 (0x08) is supported`,
      `convert the data to uint8 IDX (magic ${expectMagic})`,
    );
  }
  if (nd !== ndims) {
    throw new IdxError(
      file,
      `${what} file has ${nd} dimension${nd === 1 ? "" : "s"} (magic ${hex32(bytes)}), expected ${ndims} (magic ${expectMagic})`,
      `check that the ${what} and other files are not swapped`,
    );
  }
  const headerBytes = 4 + 4 * nd;
  if (bytes.length < headerBytes) {
    throw new IdxError(
      file,
      `file too short (${bytes.length} bytes) for its ${nd}-dimension header (${headerBytes} bytes)`,
      REFETCH,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < nd; i++) dims.push(view.getUint32(4 + 4 * i, false));
  // Exact in float64 up to 2^53; a product beyond that is certainly larger than the file anyway.
  const need = dims.reduce((a, b) => a * b, 1);
  const have = bytes.length - headerBytes;
  if (need > have) {
    throw new IdxError(
      file,
      `header declares dims [${dims.join(", ")}] = ${need} bytes of data but only ${have} follow (truncated or corrupt)`,
      REFETCH,
    );
  }
  if (need < have) {
    throw new IdxError(
      file,
      `${have - need} trailing bytes after the ${need} data bytes declared by dims [${dims.join(", ")}]`,
      `${REFETCH}; the file must end right after the data`,
    );
  }
  return { dims, body: bytes.subarray(headerBytes) };
}

/** Reads a uint8 3-D IDX image file (raw or gzip). The returned data is a copy-free view. */
export function readIdxImages(path: string, options: ReadOptions = {}): IdxImages {
  const { dims, body } = parseIdx(readMaybeGzip(path, options), path, 3, "images");
  const [count, height, width] = dims as [number, number, number];
  if (count > 0 && (height === 0 || width === 0)) {
    throw new IdxError(path, `images have an empty size ${height}x${width}`, REFETCH);
  }
  return { data: body, count, height, width };
}

/** Reads a uint8 1-D IDX label file (raw or gzip) and checks every label is in [0, numClasses). */
export function readIdxLabels(path: string, options: LabelOptions = {}): Uint8Array {
  const numClasses = options.numClasses ?? 10;
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new RangeError(`readIdxLabels: numClasses must be a positive integer, got ${numClasses}`);
  }
  const { body } = parseIdx(readMaybeGzip(path, options), path, 1, "labels");
  for (let i = 0; i < body.length; i++) {
    if (body[i]! >= numClasses) {
      throw new IdxError(
        path,
        `label ${body[i]} at index ${i} is out of range 0..${numClasses - 1} (${numClasses} classes)`,
        `check the file is the right dataset's labels, or set the class count to match`,
      );
    }
  }
  return body;
}

/** Reads an image file and its label file and checks that they hold the same number of items. */
export function readIdxPair(
  imagesPath: string,
  labelsPath: string,
  options: LabelOptions = {},
): { images: IdxImages; labels: Uint8Array } {
  const images = readIdxImages(imagesPath, options);
  const labels = readIdxLabels(labelsPath, options);
  if (labels.length !== images.count) {
    throw new IdxError(
      labelsPath,
      `holds ${labels.length} labels but ${basename(imagesPath)} holds ${images.count} images`,
      `use the label file that belongs to ${basename(imagesPath)} (same split)`,
    );
  }
  return { images, labels };
}

// ---- writing ----------------------------------------------------------------------------------

export { writeFileAtomic };

function encodeIdx(data: Uint8Array, dims: number[]): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

function checkDim(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new RangeError(`writeIdx: ${name} must be an integer in [0, 2^32), got ${v}`);
  }
}

export interface WriteOptions {
  /** Gzip the output (level 9). Default false. */
  gzip?: boolean;
}

/** Writes `n` uint8 images of `h` x `w` as an IDX file (magic 0x00000803), atomically. */
export function writeIdxImages(
  path: string,
  pixels: Uint8Array,
  n: number,
  h: number,
  w: number,
  options: WriteOptions = {},
): void {
  checkDim("n", n);
  checkDim("h", h);
  checkDim("w", w);
  if (pixels.length !== n * h * w) {
    throw new RangeError(`writeIdxImages: ${pixels.length} pixels do not match ${n} x ${h} x ${w} = ${n * h * w}`);
  }
  const raw = encodeIdx(pixels, [n, h, w]);
  writeFileAtomic(path, options.gzip ? gzipSync(raw, { level: 9 }) : raw);
}

/** Writes uint8 labels as an IDX file (magic 0x00000801), atomically. */
export function writeIdxLabels(path: string, labels: ArrayLike<number>, options: WriteOptions = {}): void {
  const bytes = new Uint8Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i]!;
    if (!Number.isInteger(v) || v < 0 || v > 255) {
      throw new RangeError(`writeIdxLabels: label ${v} at index ${i} is not a uint8`);
    }
    bytes[i] = v;
  }
  const raw = encodeIdx(bytes, [bytes.length]);
  writeFileAtomic(path, options.gzip ? gzipSync(raw, { level: 9 }) : raw);
}

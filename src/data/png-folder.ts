// PNG-folder datasets: a second input format next to IDX, for your own images.
//
// Format
//   DIR/labels.csv     required. UTF-8 text, first line exactly `file,label`, then one row per
//                      image: `<file name relative to DIR>,<integer class id>`. Blank lines are
//                      ignored; no quoting, so file names must not contain commas or newlines.
//                      Each file may appear once.
//   DIR/*.png          the images. Every .png directly in DIR must have a row in labels.csv
//                      (rows may also name PNGs in subfolders). All images must share one size.
//   DIR/classes.txt    optional: class names, one per line, line i naming class id i. Without it
//                      the names are "0", "1", ... up to the largest label.
//
// Pixels: any PNG pngjs decodes (grayscale, grayscale+alpha, RGB, RGBA, palette; 1-16 bits) is
// reduced to 8 bits. Alpha is composited over a black background. The output channel count is
// `options.channels` if given, else that of the first image in labels.csv order (1 for
// grayscale, 3 for colour); other images are converted to it (RGB -> gray by ITU-R BT.601 luma
// 0.299 R + 0.587 G + 0.114 B, gray -> RGB by replication). Values are scaled to [-1, 1].
// Images are returned in labels.csv row order.

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { PNG } from "pngjs";
import type { Dataset } from "./fashion-mnist.js";

export const LABELS_FILE = "labels.csv";
/** Largest PNG side accepted (diffusion training images are far smaller). */
export const MAX_PNG_SIDE = 8192;
export const CLASSES_FILE = "classes.txt";

/** A problem with a PNG-folder dataset; the one-line message names the file, problem and fix. */
export class PngFolderError extends Error {
  readonly file: string;
  constructor(file: string, problem: string, fix: string) {
    super(`${file}: ${problem}; ${fix}`);
    this.name = "PngFolderError";
    this.file = file;
  }
}

export interface PngFolderOptions {
  /** Output channels: 1 (grayscale) or 3 (RGB). Default: the first image's. */
  channels?: 1 | 3;
  /** When set, labels must lie in [0, numClasses). */
  numClasses?: number;
}

interface LabelRow {
  file: string;
  label: number;
  line: number;
}

/** Parses labels.csv text. `where` names the file in errors. */
export function parseLabelsCsv(text: string, where: string): LabelRow[] {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  const header = (lines[0] ?? "").trim();
  if (header !== "file,label") {
    throw new PngFolderError(
      where,
      `first line is ${JSON.stringify(header)}, expected the header "file,label"`,
      "start the file with the line file,label",
    );
  }
  const rows: LabelRow[] = [];
  const seen = new Map<string, number>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "") continue;
    const parts = line.split(",");
    if (parts.length !== 2 || parts[0]!.trim() === "") {
      throw new PngFolderError(
        `${where}:${i + 1}`,
        `malformed row ${JSON.stringify(line)}, expected <file>,<label>`,
        "write one file name and one integer class id per row",
      );
    }
    const file = parts[0]!.trim();
    const labelText = parts[1]!.trim();
    if (!/^[0-9]+$/.test(labelText) || !Number.isSafeInteger(Number(labelText))) {
      throw new PngFolderError(
        `${where}:${i + 1}`,
        `label ${JSON.stringify(labelText)} for ${file} is not a non-negative integer`,
        "use integer class ids 0, 1, 2, ...",
      );
    }
    const prev = seen.get(file);
    if (prev !== undefined) {
      throw new PngFolderError(`${where}:${i + 1}`, `${file} is listed again (first on line ${prev})`, "list each file once");
    }
    seen.set(file, i + 1);
    rows.push({ file, label: Number(labelText), line: i + 1 });
  }
  return rows;
}

/** Decodes one PNG to 8-bit RGBA; throws PngFolderError naming the file when it is corrupt. */
function decode(path: string): { width: number; height: number; rgba: Uint8Array; color: boolean } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new PngFolderError(path, `cannot read file (${(e as NodeJS.ErrnoException).code ?? String(e)})`, "check the file");
  }
  // Refuse absurd sizes before decoding: the decoder would allocate width x height x 4 bytes.
  const PNG_SIGNATURE = "89504e470d0a1a0a";
  if (bytes.length >= 24 && bytes.subarray(0, 8).toString("hex") === PNG_SIGNATURE && bytes.subarray(12, 16).toString("latin1") === "IHDR") {
    const width = bytes.readUInt32BE(16), height = bytes.readUInt32BE(20);
    if (width > MAX_PNG_SIDE || height > MAX_PNG_SIDE) {
      throw new PngFolderError(path, `declares ${width}x${height} pixels, more than alter reads (${MAX_PNG_SIDE} per side)`, "resize the image to the model's resolution");
    }
  }
  try {
    const png = PNG.sync.read(bytes);
    return { width: png.width, height: png.height, rgba: png.data, color: png.color };
  } catch (e) {
    throw new PngFolderError(
      path,
      `corrupt or unreadable PNG (${String((e as Error).message ?? e).split("\n")[0]})`,
      "re-export the image as a valid PNG or remove it and its labels.csv row",
    );
  }
}

/** Loads a PNG-folder dataset (see the format at the top of this file). */
export function loadPngFolder(dir: string, options: PngFolderOptions = {}): Dataset {
  const labelsPath = join(dir, LABELS_FILE);
  if (!existsSync(labelsPath)) {
    throw new PngFolderError(
      dir,
      `no ${LABELS_FILE} found`,
      `add ${LABELS_FILE} with the header file,label and one row per PNG`,
    );
  }
  if (options.channels !== undefined && options.channels !== 1 && options.channels !== 3) {
    throw new RangeError(`loadPngFolder: channels must be 1 or 3, got ${String(options.channels)}`);
  }
  const rows = parseLabelsCsv(readFileSync(labelsPath, "utf8"), labelsPath);
  if (rows.length === 0) {
    throw new PngFolderError(labelsPath, "lists no images", "add one row per PNG after the header");
  }

  // Every row names an existing file, every top-level PNG has a row.
  const listed = new Set(rows.map((r) => r.file));
  for (const r of rows) {
    const p = join(dir, r.file);
    if (!existsSync(p) || !statSync(p).isFile()) {
      throw new PngFolderError(
        `${labelsPath}:${r.line}`,
        `row names ${r.file}, which does not exist in ${dir}`,
        "fix the file name or remove the row",
      );
    }
  }
  const unlabelled = readdirSync(dir)
    .filter((f) => f.toLowerCase().endsWith(".png") && !listed.has(f))
    .sort();
  if (unlabelled.length > 0) {
    const more = unlabelled.length > 1 ? ` (and ${unlabelled.length - 1} more)` : "";
    throw new PngFolderError(
      join(dir, unlabelled[0]!),
      `has no row in ${LABELS_FILE}${more}`,
      `add a row "${unlabelled[0]},<class id>" to ${LABELS_FILE} or remove the file`,
    );
  }
  if (options.numClasses !== undefined) {
    const bad = rows.find((r) => r.label >= options.numClasses!);
    if (bad !== undefined) {
      throw new PngFolderError(
        `${labelsPath}:${bad.line}`,
        `label ${bad.label} for ${bad.file} is out of range 0..${options.numClasses - 1}`,
        `use class ids below ${options.numClasses}`,
      );
    }
  }

  let width = 0;
  let height = 0;
  let channels = 0;
  let images = new Float32Array(0);
  const labels = new Int32Array(rows.length);
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = v / 127.5 - 1;

  rows.forEach((row, n) => {
    const path = join(dir, row.file);
    const img = decode(path);
    if (n === 0) {
      width = img.width;
      height = img.height;
      channels = options.channels ?? (img.color ? 3 : 1);
      images = new Float32Array(rows.length * height * width * channels);
    } else if (img.width !== width || img.height !== height) {
      throw new PngFolderError(
        path,
        `is ${img.width}x${img.height} but ${rows[0]!.file} is ${width}x${height}; all images must be the same size`,
        "resize the images to one size",
      );
    }
    const px = width * height;
    const base = n * px * channels;
    const rgba = img.rgba;
    for (let i = 0; i < px; i++) {
      const a = rgba[4 * i + 3]!;
      // Composite over black: value * alpha / 255 (exact for opaque pixels).
      let r = rgba[4 * i]!;
      let g = rgba[4 * i + 1]!;
      let b = rgba[4 * i + 2]!;
      if (a !== 255) {
        r = Math.round((r * a) / 255);
        g = Math.round((g * a) / 255);
        b = Math.round((b * a) / 255);
      }
      if (channels === 1) {
        const y = img.color ? Math.round(0.299 * r + 0.587 * g + 0.114 * b) : r;
        images[base + i] = lut[y]!;
      } else {
        images[base + 3 * i] = lut[r]!;
        images[base + 3 * i + 1] = lut[g]!;
        images[base + 3 * i + 2] = lut[b]!;
      }
    }
    labels[n] = row.label;
  });

  let classNames: string[];
  const classesPath = join(dir, CLASSES_FILE);
  const maxLabel = labels.reduce((m, v) => Math.max(m, v), 0);
  if (existsSync(classesPath)) {
    classNames = readFileSync(classesPath, "utf8")
      .replace(/^\uFEFF/, "")
      .split(/\r?\n/)
      .map((s) => s.trim());
    while (classNames.length > 0 && classNames[classNames.length - 1] === "") classNames.pop();
    if (maxLabel >= classNames.length) {
      throw new PngFolderError(
        classesPath,
        `names ${classNames.length} classes but labels go up to ${maxLabel}`,
        "add one name per class id",
      );
    }
  } else {
    const k = options.numClasses ?? maxLabel + 1;
    classNames = Array.from({ length: k }, (_, i) => String(i));
  }

  return { images, labels, count: rows.length, height, width, channels, classNames };
}

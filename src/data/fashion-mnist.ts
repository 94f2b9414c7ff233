// Fashion-MNIST (Zalando Research, MIT license): 28x28 grayscale clothing images in 10 classes,
// 60000 train + 10000 test, stored as IDX files (see idx.ts).
//
// The loader looks in, in order: the `dir` argument, $ALTER_DATA_DIR, and the Debian package
// location /usr/share/datasets/fashion-mnist (`apt-get install dataset-fashion-mnist`). Each file
// may be gzipped (`.gz`) or raw. Images come back padded to 32x32 (2 pixels of black background
// on every side, so the UNet can halve the resolution three times) and scaled to [-1, 1],
// channels-last [N, 32, 32, 1].

import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { IdxError, readIdxPair, type IdxImages } from "./idx.js";
import { loadPngFolder, LABELS_FILE, PngFolderError, type PngFolderOptions } from "./png-folder.js";

export const FASHION_MNIST_CLASSES: readonly string[] = Object.freeze([
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
]);

export const DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist";
export const DATA_DIR_ENV = "ALTER_DATA_DIR";

/** An in-memory labelled image dataset, channels-last, values in [-1, 1]. */
export interface Dataset {
  /** [count, height, width, channels] float32, row-major, in [-1, 1]. */
  images: Float32Array;
  /** Class ids in [0, classNames.length). */
  labels: Int32Array;
  count: number;
  height: number;
  width: number;
  channels: number;
  classNames: readonly string[];
}

export type Split = "train" | "test";

export interface FashionMnistOptions {
  /** Pixels of background added on each side (default 2: 28 -> 32). */
  pad?: number;
  /** Number of classes the labels must fall in (default 10). */
  numClasses?: number;
}

const PREFIX: Record<Split, string> = { train: "train", test: "t10k" };

/** The directory to read from: the argument, else $ALTER_DATA_DIR, else the Debian default. */
export function resolveDataDir(dir?: string): string {
  if (dir !== undefined && dir !== "") return dir;
  const env = process.env[DATA_DIR_ENV];
  if (env !== undefined && env !== "") return env;
  return DEFAULT_DATA_DIR;
}

/** The base names (without .gz) of a split's two files. */
export function idxFileNames(split: Split): { images: string; labels: string } {
  const p = PREFIX[split];
  if (p === undefined) throw new RangeError(`split must be "train" or "test", got ${JSON.stringify(split)}`);
  return { images: `${p}-images-idx3-ubyte`, labels: `${p}-labels-idx1-ubyte` };
}

/** Finds `name.gz` or `name` in `dir`; null when neither exists. */
function findFile(dir: string, name: string): string | null {
  for (const candidate of [join(dir, `${name}.gz`), join(dir, name)]) {
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

/** True when `dir` holds both IDX files of `split`. */
export function hasIdxSplit(dir: string, split: Split): boolean {
  const names = idxFileNames(split);
  return findFile(dir, names.images) !== null && findFile(dir, names.labels) !== null;
}

/** Converts uint8 IDX images to a padded, [-1, 1]-scaled channels-last dataset. */
export function idxToDataset(
  images: IdxImages,
  labels: Uint8Array,
  classNames: readonly string[],
  pad = 2,
): Dataset {
  if (!Number.isInteger(pad) || pad < 0) throw new RangeError(`pad must be a non-negative integer, got ${pad}`);
  const { count, height: h, width: w, data } = images;
  const H = h + 2 * pad;
  const W = w + 2 * pad;
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = v / 127.5 - 1;
  const out = new Float32Array(count * H * W);
  out.fill(-1);
  for (let n = 0; n < count; n++) {
    const src = n * h * w;
    const dst = n * H * W;
    for (let y = 0; y < h; y++) {
      const s = src + y * w;
      const d = dst + (y + pad) * W + pad;
      for (let x = 0; x < w; x++) out[d + x] = lut[data[s + x]!]!;
    }
  }
  return {
    images: out,
    labels: Int32Array.from(labels),
    count,
    height: H,
    width: W,
    channels: 1,
    classNames,
  };
}

/**
 * Loads one split of Fashion-MNIST (or any MNIST-layout IDX dataset) from `dir` (default: see
 * `resolveDataDir`). Throws IdxError when the files are missing or malformed.
 */
export function loadFashionMnist(dir: string | undefined, split: Split, options: FashionMnistOptions = {}): Dataset {
  const root = resolveDataDir(dir);
  const names = idxFileNames(split);
  const imagesPath = findFile(root, names.images);
  const labelsPath = findFile(root, names.labels);
  if (imagesPath === null || labelsPath === null) {
    const missing = [imagesPath === null ? names.images : null, labelsPath === null ? names.labels : null]
      .filter((s): s is string => s !== null)
      .map((s) => `${s}(.gz)`)
      .join(" and ");
    const where = existsSync(root) ? root : `${root} (which does not exist)`;
    throw new IdxError(
      where,
      `Fashion-MNIST ${split} split not found: looked for ${missing}`,
      `apt-get install dataset-fashion-mnist, or pass --data DIR (or set ${DATA_DIR_ENV}) to a folder holding the IDX files`,
    );
  }
  const numClasses = options.numClasses ?? FASHION_MNIST_CLASSES.length;
  const { images, labels } = readIdxPair(imagesPath, labelsPath, { numClasses });
  const classNames =
    numClasses === FASHION_MNIST_CLASSES.length
      ? FASHION_MNIST_CLASSES
      : Array.from({ length: numClasses }, (_, i) => String(i));
  return idxToDataset(images, labels, classNames, options.pad ?? 2);
}

export interface ImageDatasetOptions extends FashionMnistOptions, PngFolderOptions {
  /** Which IDX split to load when the folder holds IDX files (default "train"). */
  split?: Split;
}

/**
 * Loads a dataset from a folder, detecting its format: IDX files of the requested split
 * (Fashion-MNIST layout) win; otherwise a folder of PNGs with labels.csv (see png-folder.ts).
 */
export function loadImageDataset(dir: string | undefined, options: ImageDatasetOptions = {}): Dataset {
  const root = resolveDataDir(dir);
  const split = options.split ?? "train";
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new IdxError(
      root,
      "dataset folder not found",
      `apt-get install dataset-fashion-mnist, or pass --data DIR (or set ${DATA_DIR_ENV}) to a folder of IDX files or of PNGs with ${LABELS_FILE}`,
    );
  }
  if (hasIdxSplit(root, split)) return loadFashionMnist(root, split, options);
  if (existsSync(join(root, LABELS_FILE))) return loadPngFolder(root, options);
  const pngs = readdirSync(root).filter((f) => f.toLowerCase().endsWith(".png"));
  if (pngs.length > 0) {
    throw new PngFolderError(
      join(root, LABELS_FILE),
      `not found, but ${root} holds ${pngs.length} PNG file(s)`,
      `add ${LABELS_FILE} with the header file,label and one row per image (e.g. ${pngs[0]},0)`,
    );
  }
  const names = idxFileNames(split);
  throw new IdxError(
    root,
    `no dataset found: looked for ${names.images}(.gz) + ${names.labels}(.gz) (IDX) and for ${LABELS_FILE} (PNG folder)`,
    `apt-get install dataset-fashion-mnist, or pass --data DIR pointing at IDX files or at PNGs with ${LABELS_FILE}`,
  );
}

/**
 * Splits off the last `holdout` images as a validation set (views, no copies). Hyperparameters are
 * chosen by measurement against the validation images, so the test split is only used for the
 * final numbers. With holdout 0 the validation set is empty.
 */
export function splitValidation(data: Dataset, holdout: number): { train: Dataset; validation: Dataset } {
  if (!Number.isInteger(holdout) || holdout < 0 || holdout >= data.count) {
    throw new RangeError(`a validation holdout of ${holdout} images must be an integer in [0, ${data.count - 1}] for a dataset of ${data.count}`);
  }
  const per = data.height * data.width * data.channels;
  const cut = data.count - holdout;
  const view = (from: number, to: number): Dataset => ({
    ...data,
    images: data.images.subarray(from * per, to * per),
    labels: data.labels.subarray(from, to),
    count: to - from,
  });
  return { train: view(0, cut), validation: view(cut, data.count) };
}

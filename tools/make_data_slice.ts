// Builds data/fashion-mnist-slice/: the first 400 train and 100 test images of each class of
// Fashion-MNIST, in their original file order, as gzipped IDX files named like the originals.
//
// Usage: node --import tsx tools/make_data_slice.ts [SOURCE_DIR] [OUT_DIR]
//   SOURCE_DIR  default $ALTER_DATA_DIR or /usr/share/datasets/fashion-mnist
//               (apt-get install dataset-fashion-mnist)
//   OUT_DIR     default data/fashion-mnist-slice

import { existsSync } from "node:fs";
import { join } from "node:path";
import { readIdxPair, writeIdxImages, writeIdxLabels } from "../src/data/idx.js";
import { idxFileNames, resolveDataDir, type Split } from "../src/data/fashion-mnist.js";

const PER_CLASS: Record<Split, number> = { train: 400, test: 100 };
const NUM_CLASSES = 10;

/** The gzipped file when present, else the raw one. */
function findSource(dir: string, name: string): string {
  const gz = join(dir, `${name}.gz`);
  return existsSync(gz) ? gz : join(dir, name);
}

const src = resolveDataDir(process.argv[2]);
const out = process.argv[3] ?? "data/fashion-mnist-slice";

for (const split of ["train", "test"] as const) {
  const names = idxFileNames(split);
  const { images, labels } = readIdxPair(findSource(src, names.images), findSource(src, names.labels), {
    numClasses: NUM_CLASSES,
  });
  const quota = PER_CLASS[split];
  const taken = new Array<number>(NUM_CLASSES).fill(0);
  const keep: number[] = [];
  for (let i = 0; i < images.count; i++) {
    const c = labels[i]!;
    if (taken[c]! < quota) {
      taken[c]!++;
      keep.push(i);
    }
  }
  if (taken.some((t) => t < quota)) throw new Error(`${split}: a class has fewer than ${quota} images: ${taken}`);
  const px = images.height * images.width;
  const pixels = new Uint8Array(keep.length * px);
  const lab = new Uint8Array(keep.length);
  keep.forEach((i, k) => {
    pixels.set(images.data.subarray(i * px, (i + 1) * px), k * px);
    lab[k] = labels[i]!;
  });
  writeIdxImages(join(out, `${names.images}.gz`), pixels, keep.length, images.height, images.width, { gzip: true });
  writeIdxLabels(join(out, `${names.labels}.gz`), lab, { gzip: true });
  console.log(`${split}: ${keep.length} images (${quota} per class) from ${images.count}, last source index ${keep[keep.length - 1]}`);
}

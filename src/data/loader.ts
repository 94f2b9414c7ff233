// Mini-batches over an in-memory Dataset: deterministic, and resumable from a saved state.
//
// Each epoch visits the items in a permutation drawn from the loader's generator at the start of
// that epoch (or in file order with shuffle=false). The loader assumes it is the generator's only
// user (pass a dedicated one, e.g. `rng.fork(1)`): `state()` records the generator state from
// just before the current epoch's permutation was drawn plus the position within the epoch, and
// `fromState()` re-draws that permutation, which also leaves the restored generator exactly where
// the original one is. The restored loader therefore continues with the identical batch
// sequence, across later epochs too.

import { Generator, type GeneratorState } from "../engine/rng.js";
import { Tensor } from "../engine/tensor.js";
import type { Dataset } from "./fashion-mnist.js";

export interface BatchLoaderOptions {
  /** Visit items in a fresh random order each epoch (default true). */
  shuffle?: boolean;
  /** Skip the final batch of an epoch when it would be smaller than batchSize (default true). */
  dropLast?: boolean;
}

export interface BatchLoaderState {
  version: 1;
  /** The epoch the next batch comes from (0-based), unless `position` is at its end. */
  epoch: number;
  /** Items of the current epoch already handed out. */
  position: number;
  /** Generator state just before this epoch's permutation was drawn. */
  permutationSeed: GeneratorState;
  batchSize: number;
  count: number;
  shuffle: boolean;
  dropLast: boolean;
}

export interface Batch {
  /** [B, H, W, C] float32. */
  images: Tensor;
  /** int32 [B]. */
  labels: Tensor;
  /** Dataset indices of the batch items. */
  indices: Int32Array;
}

export class BatchLoader {
  readonly dataset: Dataset;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  #generator: Generator;
  #epoch = 0;
  #position = 0;
  #order: Int32Array = new Int32Array(0);
  #epochStart: GeneratorState;

  constructor(dataset: Dataset, batchSize: number, generator: Generator, options: BatchLoaderOptions = {}) {
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`BatchLoader: batchSize must be a positive integer, got ${batchSize}`);
    }
    this.dataset = dataset;
    this.batchSize = batchSize;
    this.shuffle = options.shuffle ?? true;
    this.dropLast = options.dropLast ?? true;
    if (dataset.count === 0) throw new RangeError("BatchLoader: the dataset is empty");
    if (this.dropLast && dataset.count < batchSize) {
      throw new RangeError(
        `BatchLoader: batchSize ${batchSize} exceeds the dataset's ${dataset.count} items with dropLast; ` +
          "use a smaller batch or dropLast: false",
      );
    }
    this.#generator = generator;
    this.#epochStart = generator.state();
    this.#order = this.#drawOrder();
  }

  #drawOrder(): Int32Array {
    const n = this.dataset.count;
    if (!this.shuffle) {
      const order = new Int32Array(n);
      for (let i = 0; i < n; i++) order[i] = i;
      return order;
    }
    return this.#generator.permutation(n);
  }

  /** Items per epoch that are actually served (a multiple of batchSize with dropLast). */
  get epochLength(): number {
    const n = this.dataset.count;
    return this.dropLast ? n - (n % this.batchSize) : n;
  }

  get batchesPerEpoch(): number {
    return Math.ceil(this.epochLength / this.batchSize);
  }

  /** The epoch (0-based) the most recent or current batch belongs to. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Items of the current epoch handed out so far. */
  get position(): number {
    return this.#position;
  }

  /** The next batch; starts a new epoch (new permutation) when the current one is used up. */
  next(): Batch {
    if (this.#position >= this.epochLength) {
      this.#epoch++;
      this.#position = 0;
      this.#epochStart = this.#generator.state();
      this.#order = this.#drawOrder();
    }
    const b = Math.min(this.batchSize, this.epochLength - this.#position);
    const indices = this.#order.slice(this.#position, this.#position + b);
    this.#position += b;

    const { height, width, channels } = this.dataset;
    const item = height * width * channels;
    const src = this.dataset.images;
    const images = new Float32Array(b * item);
    const labels = new Int32Array(b);
    for (let i = 0; i < b; i++) {
      const k = indices[i]!;
      images.set(src.subarray(k * item, (k + 1) * item), i * item);
      labels[i] = this.dataset.labels[k]!;
    }
    return {
      images: Tensor.wrap(images, [b, height, width, channels]),
      labels: Tensor.int32(labels, [b]),
      indices,
    };
  }

  /** A JSON-serialisable snapshot; `BatchLoader.fromState` continues the same batch sequence. */
  state(): BatchLoaderState {
    return {
      version: 1,
      epoch: this.#epoch,
      position: this.#position,
      permutationSeed: { ...this.#epochStart },
      batchSize: this.batchSize,
      count: this.dataset.count,
      shuffle: this.shuffle,
      dropLast: this.dropLast,
    };
  }

  /** Rebuilds a loader from `state()` over the same dataset. */
  static fromState(dataset: Dataset, state: BatchLoaderState): BatchLoader {
    if (state === null || typeof state !== "object" || state.version !== 1) {
      throw new TypeError(`BatchLoader.fromState: not a BatchLoader state (version 1): ${JSON.stringify(state)}`);
    }
    if (state.count !== dataset.count) {
      throw new RangeError(
        `BatchLoader.fromState: the state was saved for a dataset of ${state.count} items, this one has ${dataset.count}; ` +
          "resume with the same dataset",
      );
    }
    const loader = new BatchLoader(dataset, state.batchSize, Generator.fromState(state.permutationSeed), {
      shuffle: state.shuffle,
      dropLast: state.dropLast,
    });
    if (!Number.isInteger(state.epoch) || state.epoch < 0) {
      throw new RangeError(`BatchLoader.fromState: bad epoch ${state.epoch}`);
    }
    if (!Number.isInteger(state.position) || state.position < 0 || state.position > loader.epochLength) {
      throw new RangeError(`BatchLoader.fromState: position ${state.position} outside 0..${loader.epochLength}`);
    }
    loader.#epoch = state.epoch;
    loader.#position = state.position;
    return loader;
  }
}

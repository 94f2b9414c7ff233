/**
 * @file Training checkpoints: one safetensors file holding every tensor of the run (model, EMA,
 * optimizer buffers, under prefixes) with the run's JSON state (step, RNG and loader states,
 * settings) in its metadata. One file written atomically means a checkpoint is either the previous
 * complete one or the new complete one, whenever the process dies. The previous checkpoint is kept
 * as `<name>.prev` so that even a corrupted disk write leaves one good copy.
 */
import { existsSync, renameSync } from "node:fs";
import { dirname } from "node:path";
import { OutputError, removeStaleTemporaries } from "./atomic.js";
import { readSafetensors, writeSafetensors, SafetensorsError, type RawTensor } from "../nn/safetensors.js";
import { Tensor } from "../engine/tensor.js";

export interface CheckpointContents {
  /** Tensors by name ("model.conv_in.weight", "optim.0.exp_avg", ...). */
  tensors: Map<string, Tensor>;
  /** JSON-serialisable run state. */
  state: Record<string, unknown>;
}

const STATE_KEY = "alter_state";

export function saveCheckpoint(path: string, contents: CheckpointContents): void {
  const raw = new Map<string, RawTensor>();
  for (const [name, t] of contents.tensors) raw.set(name, { dtype: t.dtype, shape: [...t.shape], data: t.data });
  if (existsSync(path)) {
    // Keep the last good checkpoint until the new one is complete. (A .next left by a kill between
    // the renames is overwritten: the current file is at least as new.)
    writeSafetensors(`${path}.next`, raw, { [STATE_KEY]: JSON.stringify(contents.state) });
    renameSync(path, `${path}.prev`);
    renameSync(`${path}.next`, path);
  } else {
    writeSafetensors(path, raw, { [STATE_KEY]: JSON.stringify(contents.state) });
  }
}

/**
 * Loads a checkpoint. If the main file is missing (killed between the two renames of a save), the
 * complete `<path>.next` is the newest, else `<path>.prev`. Temporary files of writes that a kill
 * interrupted are removed first.
 */
export function loadCheckpoint(path: string): CheckpointContents & { path: string } {
  removeStaleTemporaries(dirname(path));
  const candidates = [path, `${path}.next`, `${path}.prev`].filter((p) => existsSync(p));
  if (candidates.length === 0) throw new SafetensorsError(`${path}: no checkpoint to resume from; run without --resume to start a new run`);
  let lastError: unknown = null;
  for (const candidate of candidates) {
    try {
      const { tensors, metadata } = readSafetensors(candidate);
      const stateText = metadata[STATE_KEY];
      if (stateText === undefined) throw new SafetensorsError(`${candidate}: not an alter checkpoint (no ${STATE_KEY} metadata)`);
      const out = new Map<string, Tensor>();
      for (const [name, r] of tensors) out.set(name, r.dtype === "int32" ? Tensor.int32(r.data, r.shape) : Tensor.wrap(r.data as Float32Array, r.shape));
      return { tensors: out, state: JSON.parse(stateText) as Record<string, unknown>, path: candidate };
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

/** Splits "prefix.rest" tensors out of a checkpoint map. */
export function withPrefix(tensors: Map<string, Tensor>, prefix: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, t] of tensors) if (name.startsWith(prefix + ".")) out.set(name.slice(prefix.length + 1), t);
  return out;
}

/** Adds every entry of `source` to `into` under "prefix.". */
export function addPrefixed(into: Map<string, Tensor>, prefix: string, source: Map<string, Tensor>): void {
  for (const [name, t] of source) into.set(`${prefix}.${name}`, t);
}

/**
 * Saves a run's checkpoint; a write failure (disk full, read-only folder) becomes one OutputError
 * that says which step the intact previous checkpoint holds and how to continue.
 */
export function saveRunCheckpoint(path: string, contents: CheckpointContents, lastSavedStep: number | null): void {
  try {
    saveCheckpoint(path, contents);
  } catch (err) {
    if (!(err instanceof OutputError)) throw err;
    const next = lastSavedStep === null
      ? "there is no earlier checkpoint of this run: fix the problem, then run the command again"
      : `the last complete checkpoint (${path}) holds step ${lastSavedStep}: fix the problem, then run the same command with --resume`;
    throw new OutputError(`${err.message}; ${next}`, err.code);
  }
}

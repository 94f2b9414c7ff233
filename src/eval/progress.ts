/**
 * @file Resuming an interrupted `alter eval --out DIR`: every finished row, and the dense 50-step
 * reference images that SSIM/PSNR need, are written to DIR as they are made; a later run with the
 * same settings reuses them and evaluates only what is missing. A long evaluation (thousands of
 * images per row, many models) can then be spread over several working sessions.
 *
 * A row is reused only when everything that decides its numbers is unchanged: the evaluation
 * settings, the real images, and the model's files (size and modification time of its weights and
 * plan). The files are removed once eval.json is written.
 */
import { existsSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic, writeJsonAtomic } from "../util/atomic.js";

const PROGRESS_FILE = "eval-progress.json";
const REFERENCE_FILE = "eval-reference.f32";

/** What decides the numbers of every row besides the model itself. */
export interface EvalKey {
  n: number;
  sampler: string;
  guidance: number;
  seed: number;
  batch: number;
  latencyRepeats: number;
  latencyBatch: number;
  /** Identity of the real images: their count and a checksum. */
  real: string;
}

interface StoredRow<Row> {
  model: string;
  steps: number;
  fingerprint: string;
  row: Row;
}

interface ProgressFile<Row> {
  version: 1;
  key: EvalKey;
  reference: { fingerprint: string; length: number } | null;
  rows: StoredRow<Row>[];
}

/** Size and modification time of the files that make a model folder's outputs. */
export function modelFingerprint(dir: string): string {
  const parts = ["unet/diffusion_pytorch_model.safetensors", "class_embedder/diffusion_pytorch_model.safetensors", "alter_plan.json", "scheduler/scheduler_config.json"].map((file) => {
    const path = join(dir, file);
    if (!existsSync(path)) return `${file}:-`;
    const s = statSync(path);
    return `${file}:${s.size}:${Math.round(s.mtimeMs)}`;
  });
  return parts.join("|");
}

/** A cheap identity of a set of images: the count and an FNV-1a hash over a stride of their values. */
export function imagesChecksum(images: Float32Array, count: number): string {
  const bits = new Uint32Array(images.buffer, images.byteOffset, images.length);
  let h = 0x811c9dc5;
  const stride = Math.max(1, Math.floor(bits.length / 65536));
  for (let i = 0; i < bits.length; i += stride) h = Math.imul(h ^ bits[i]!, 0x01000193) >>> 0;
  return `${count}:${h.toString(16)}`;
}

export class EvalProgress<Row> {
  readonly #dir: string;
  /** Always under the current key: a stored file is adopted only when its key is the same. */
  #file: ProgressFile<Row>;

  /** Opens DIR's progress; anything stored under other settings is ignored (and overwritten). */
  constructor(dir: string, key: EvalKey) {
    this.#dir = dir;
    this.#file = { version: 1, key, reference: null, rows: [] };
    const path = join(dir, PROGRESS_FILE);
    if (!existsSync(path)) return;
    try {
      const stored = JSON.parse(readFileSync(path, "utf8")) as ProgressFile<Row>;
      if (stored.version === 1 && JSON.stringify(stored.key) === JSON.stringify(key) && Array.isArray(stored.rows)) this.#file = stored;
    } catch {
      // An unreadable progress file only means starting over.
    }
  }

  /** Rows stored from an earlier run that still apply. */
  get storedRows(): number {
    return this.#file.rows.length;
  }

  row(model: string, steps: number, fingerprint: string): Row | undefined {
    return this.#file.rows.find((r) => r.model === model && r.steps === steps && r.fingerprint === fingerprint)?.row;
  }

  addRow(model: string, steps: number, fingerprint: string, row: Row): void {
    this.#file.rows = this.#file.rows.filter((r) => !(r.model === model && r.steps === steps));
    this.#file.rows.push({ model, steps, fingerprint, row });
    this.#save();
  }

  /** The stored reference images, if they were made by this dense model under these settings. */
  reference(fingerprint: string, length: number): Float32Array | undefined {
    const ref = this.#file.reference;
    const path = join(this.#dir, REFERENCE_FILE);
    if (ref === null || ref.fingerprint !== fingerprint || ref.length !== length || !existsSync(path)) return undefined;
    const bytes = readFileSync(path);
    if (bytes.length !== length * 4) return undefined;
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  }

  setReference(fingerprint: string, images: Float32Array): void {
    writeFileAtomic(join(this.#dir, REFERENCE_FILE), new Uint8Array(images.buffer, images.byteOffset, images.byteLength));
    this.#file.reference = { fingerprint, length: images.length };
    this.#save();
  }

  #save(): void {
    writeJsonAtomic(join(this.#dir, PROGRESS_FILE), this.#file);
  }
}

/** Removes DIR's progress files (once the final eval.json is written). */
export function clearEvalProgress(dir: string): void {
  rmSync(join(dir, PROGRESS_FILE), { force: true });
  rmSync(join(dir, REFERENCE_FILE), { force: true });
}

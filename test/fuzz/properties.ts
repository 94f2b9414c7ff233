/**
 * Fuzz properties of the parsers of untrusted files, shared by the short CI run
 * (test/fuzz/parsers.test.ts) and the long local run (`npm run fuzz`, scripts/fuzz.ts).
 *
 * Each property feeds a parser arbitrary input, mostly mutations of a valid file (random bytes
 * rarely get past the first check), and requires one of two outcomes:
 *   - the parser refuses it with its own error class (whose one-line message the CLI prints), or
 *   - it accepts it, and then the result is usable: tensor byte counts match their shapes, a UNet
 *     config constructs a model, a plan answers every timestep, a scheduler sets its timesteps.
 * Anything else (a TypeError, a RangeError, a hang, a result that breaks later) is a bug.
 */
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseSafetensors, SafetensorsError } from "../../src/nn/safetensors.js";
import { IdxError, parseIdx } from "../../src/data/idx.js";
import { ConfigError, parseUNetConfig } from "../../src/models/config.js";
import { UNet2DConditionModel } from "../../src/models/unet-2d-condition.js";
import { withMetaTensors } from "../../src/engine/memory.js";
import { maskAt, PlanError, validatePlan, keptFractions } from "../../src/alter/plan.js";
import { createScheduler, SchedulerError, validateSchedulerConfig } from "../../src/diffusion/scheduler.js";
import { parseLabelsCsv, PngFolderError } from "../../src/data/png-folder.js";

const CORPUS = join(import.meta.dirname, "..", "inputs", "base");
const validSafetensors = new Uint8Array(readFileSync(join(CORPUS, "model/unet/diffusion_pytorch_model.safetensors")));
const validIdx = new Uint8Array(readFileSync(join(CORPUS, "data/t10k-images-idx3-ubyte")));
const validConfig = JSON.parse(readFileSync(join(CORPUS, "model/unet/config.json"), "utf8")) as Record<string, unknown>;
const validPlan = JSON.parse(readFileSync(join(CORPUS, "model/alter_plan.json"), "utf8")) as Record<string, unknown>;
const validScheduler = JSON.parse(readFileSync(join(CORPUS, "model/scheduler/scheduler_config.json"), "utf8")) as Record<string, unknown>;
const validLabels = readFileSync(join(CORPUS, "pngs/labels.csv"), "utf8");

/** Runs `accept` on a parse result, or checks that the parser refused with `ErrorClass`. */
function refusedOrUsable<T>(parse: () => T, ErrorClass: new (...args: never[]) => Error, accept: (value: T) => void): void {
  let value: T;
  try {
    value = parse();
  } catch (err) {
    if (err instanceof ErrorClass) return;
    throw err;
  }
  accept(value);
}

// ---- mutations of valid bytes ------------------------------------------------------------------------
type Mutation =
  | { kind: "set"; at: number; value: number }
  | { kind: "truncate"; at: number }
  | { kind: "insert"; at: number; bytes: number[] }
  | { kind: "delete"; at: number; count: number }
  | { kind: "u64"; at: number; value: bigint };

const mutation = (maxAt: number): fc.Arbitrary<Mutation> =>
  fc.oneof(
    fc.record({ kind: fc.constant("set" as const), at: fc.nat(maxAt), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant("truncate" as const), at: fc.nat(maxAt) }),
    fc.record({ kind: fc.constant("insert" as const), at: fc.nat(maxAt), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 16 }) }),
    fc.record({ kind: fc.constant("delete" as const), at: fc.nat(maxAt), count: fc.integer({ min: 1, max: 64 }) }),
    // a length or count field: the first bytes, set to a small or huge little- or big-endian value
    fc.record({ kind: fc.constant("u64" as const), at: fc.nat(16), value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }),
  );

function applyMutations(bytes: Uint8Array, mutations: Mutation[]): Uint8Array {
  let out = new Uint8Array(bytes);
  for (const m of mutations) {
    const at = Math.min(m.at, out.length);
    switch (m.kind) {
      case "set":
        if (at < out.length) out[at] = m.value;
        break;
      case "truncate":
        out = out.slice(0, at);
        break;
      case "insert":
        out = Uint8Array.from([...out.subarray(0, at), ...m.bytes, ...out.subarray(at)]);
        break;
      case "delete":
        out = Uint8Array.from([...out.subarray(0, at), ...out.subarray(at + m.count)]);
        break;
      case "u64": {
        if (at + 8 <= out.length) new DataView(out.buffer).setBigUint64(at, m.value, at % 2 === 0);
        break;
      }
    }
  }
  return out;
}

const mutatedBytes = (valid: Uint8Array): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.array(mutation(valid.length), { minLength: 1, maxLength: 6 }).map((ms) => applyMutations(valid, ms)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 256 }) },
  );

// ---- mutations of valid JSON -------------------------------------------------------------------------
type JsonEdit = { path: number[]; value: unknown; remove: boolean };

/** Sets (or removes) the value at a path of indices into keys/elements, chosen modulo their counts. */
function applyJsonEdit(root: unknown, edit: JsonEdit): unknown {
  const clone = structuredClone(root);
  let node: unknown = clone;
  for (let depth = 0; depth < edit.path.length; depth++) {
    if (node === null || typeof node !== "object") break;
    const keys = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
    if (keys.length === 0) break;
    const key = keys[edit.path[depth]! % keys.length]!;
    const container = node as Record<string | number, unknown>;
    const last = depth === edit.path.length - 1 || container[key] === null || typeof container[key] !== "object";
    if (last) {
      if (edit.remove && !Array.isArray(node)) delete container[key];
      else container[key] = edit.value;
      return clone;
    }
    node = container[key];
  }
  return clone;
}

const jsonEdit: fc.Arbitrary<JsonEdit> = fc.record({
  path: fc.array(fc.nat(2000), { minLength: 1, maxLength: 4 }),
  value: fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.integer({ min: -3, max: 5000 }),
    fc.constantFrom(0, -1, 0.5, 1e300, -0, null, "", [], {}, [1, 2, 3], [0, 0], "CrossAttnDownBlock2D", "UpBlock2D"),
  ),
  remove: fc.boolean(),
});

const mutatedJson = (valid: unknown): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.array(jsonEdit, { minLength: 1, maxLength: 4 }).map((edits) => edits.reduce(applyJsonEdit, valid)) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  );

// ---- the properties ----------------------------------------------------------------------------------
export interface FuzzTarget {
  name: string;
  property: fc.IPropertyWithHooks<[unknown]> | fc.IProperty<[unknown]>;
}

const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

export const targets: FuzzTarget[] = [
  {
    name: "safetensors",
    property: fc.property(mutatedBytes(validSafetensors), (bytes) => {
      refusedOrUsable(() => parseSafetensors(bytes as Uint8Array, "fuzz.safetensors"), SafetensorsError, ({ tensors }) => {
        for (const [name, t] of tensors) {
          if (t.data.length !== product(t.shape)) throw new Error(`accepted ${name} with ${t.data.length} values for shape [${t.shape}]`);
        }
      });
    }),
  },
  {
    name: "idx",
    property: fc.property(mutatedBytes(validIdx), (bytes) => {
      refusedOrUsable(() => parseIdx(bytes as Uint8Array, "fuzz-idx3-ubyte", 3, "images"), IdxError, ({ dims, body }) => {
        if (body.length !== product(dims)) throw new Error(`accepted dims [${dims}] with ${body.length} bytes`);
      });
    }),
  },
  {
    name: "unet-config",
    property: fc.property(mutatedJson(validConfig), (raw) => {
      refusedOrUsable(() => parseUNetConfig(raw, "fuzz/config.json"), ConfigError, (config) => {
        // Without allocating: a config the parser accepts must build a model.
        withMetaTensors(() => new UNet2DConditionModel(config));
      });
    }),
  },
  {
    name: "alter-plan",
    property: fc.property(mutatedJson(validPlan), (raw) => {
      refusedOrUsable(() => validatePlan(raw, "fuzz/alter_plan.json"), PlanError, (plan) => {
        for (let t = 0; t < plan.num_train_timesteps; t += 37) {
          const f = keptFractions(maskAt(plan, t), plan.layers, plan.total_macs);
          if (!Number.isFinite(f.total) || !Number.isFinite(f.prunable)) throw new Error(`non-finite kept fraction at t=${t}`);
        }
      });
    }),
  },
  {
    name: "scheduler-config",
    property: fc.property(mutatedJson(validScheduler), (raw) => {
      refusedOrUsable(() => validateSchedulerConfig(raw, "fuzz/scheduler_config.json"), SchedulerError, (config) => {
        refusedOrUsable(() => createScheduler(config), SchedulerError, (scheduler) => {
          refusedOrUsable(() => scheduler.setTimesteps(10), SchedulerError, () => undefined);
        });
      });
    }),
  },
  {
    name: "labels-csv",
    property: fc.property(
      fc.oneof(
        fc.string({ maxLength: 200 }),
        fc.array(fc.tuple(fc.nat(validLabels.length), fc.string({ maxLength: 8 })), { maxLength: 4 }).map((edits) =>
          edits.reduce((text, [at, s]) => text.slice(0, at) + s + text.slice(at + 1), validLabels),
        ),
      ),
      (text) => {
        refusedOrUsable(() => parseLabelsCsv(text as string, "fuzz/labels.csv"), PngFolderError, (rows) => {
          for (const r of rows) if (!Number.isInteger(r.label) || r.label < 0) throw new Error(`accepted label ${r.label}`);
        });
      },
    ),
  },
];

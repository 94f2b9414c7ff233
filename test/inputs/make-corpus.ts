/**
 * Builds the bad-input corpus (`npm run test:inputs` runs it; see README.md here). Deterministic:
 * re-running it rewrites the same files, which are committed.
 *
 *   base/      a small valid workspace: a tiny ALTER model folder (model/, with alter_plan.json), an
 *              IDX dataset (data/), a PNG-folder dataset (pngs/) and a UNet config (unet.json)
 *   files/     one malformed file per case (binary or text)
 *   cases.json each case: the files it puts over a copy of base/, the `alter` arguments, and what
 *              the one-line error must say (the file, the problem, the fix)
 *
 * Usage: node --import tsx test/inputs/make-corpus.ts
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { parseUNetConfig } from "../../src/models/config.js";
import { UNet2DConditionModel } from "../../src/models/unet-2d-condition.js";
import { ClassEmbedder } from "../../src/models/embeddings.js";
import { loadModelFolder, saveModelFolder } from "../../src/models/pretrained.js";
import { Generator } from "../../src/engine/rng.js";
import { loadFashionMnist } from "../../src/data/fashion-mnist.js";
import { readIdxImages, readIdxLabels, writeIdxImages, writeIdxLabels } from "../../src/data/idx.js";
import { encodePng } from "../../src/data/png.js";
import { DEFAULT_PRUNE_SETTINGS, trainPruned } from "../../src/alter/train.js";
import { serializeSafetensors, type RawTensor } from "../../src/nn/safetensors.js";

const HERE = import.meta.dirname;
const ROOT = join(HERE, "..", "..");
const BASE = join(HERE, "base");
const FILES = join(HERE, "files");

// ---- the valid base workspace ----------------------------------------------------------------------
rmSync(BASE, { recursive: true, force: true });
rmSync(FILES, { recursive: true, force: true });
mkdirSync(BASE, { recursive: true });
mkdirSync(FILES, { recursive: true });

const unetJson = {
  _class_name: "UNet2DConditionModel",
  sample_size: 32, in_channels: 1, out_channels: 1,
  down_block_types: ["DownBlock2D", "CrossAttnDownBlock2D"],
  up_block_types: ["CrossAttnUpBlock2D", "UpBlock2D"],
  block_out_channels: [4, 4], layers_per_block: 1, attention_head_dim: [1, 1],
  cross_attention_dim: 4, norm_num_groups: 2, use_linear_projection: true,
};
writeFileSync(join(BASE, "unet.json"), JSON.stringify(unetJson, null, 2) + "\n");
const config = parseUNetConfig(unetJson);

// 32 training and 16 test images from the committed slice, as raw IDX files.
const SLICE = join(ROOT, "data", "fashion-mnist-slice");
const dataDir = join(BASE, "data");
mkdirSync(dataDir);
for (const [prefix, n] of [["train", 32], ["t10k", 16]] as const) {
  const img = readIdxImages(join(SLICE, `${prefix}-images-idx3-ubyte.gz`));
  const lab = readIdxLabels(join(SLICE, `${prefix}-labels-idx1-ubyte.gz`));
  writeIdxImages(join(dataDir, `${prefix}-images-idx3-ubyte`), img.data.subarray(0, n * 28 * 28), n, 28, 28);
  writeIdxLabels(join(dataDir, `${prefix}-labels-idx1-ubyte`), lab.subarray(0, n));
}

// A PNG folder with 6 images of 28x28 and their labels.
const pngDir = join(BASE, "pngs");
mkdirSync(pngDir);
const test = readIdxImages(join(dataDir, "t10k-images-idx3-ubyte"));
const testLabels = readIdxLabels(join(dataDir, "t10k-labels-idx1-ubyte"));
const rows = ["file,label"];
for (let i = 0; i < 6; i++) {
  writeFileSync(join(pngDir, `img${i}.png`), encodePng(test.data.subarray(i * 784, (i + 1) * 784), 28, 28, 1));
  rows.push(`img${i}.png,${testLabels[i]}`);
}
writeFileSync(join(pngDir, "labels.csv"), rows.join("\n") + "\n");

// A tiny model with random weights, then a few ALTER steps so it carries a real alter_plan.json.
const teacherDir = join(HERE, ".teacher-tmp");
rmSync(teacherDir, { recursive: true, force: true });
const g = new Generator(7);
saveModelFolder(teacherDir, {
  unet: new UNet2DConditionModel(config, g),
  classEmbedder: new ClassEmbedder({ _class_name: "ClassEmbedder", num_classes: 10, num_tokens: 2, cross_attention_dim: 4 }, g),
  schedulerConfig: {
    _class_name: "DDPMScheduler", num_train_timesteps: 1000, beta_schedule: "linear", beta_start: 0.0001,
    beta_end: 0.02, prediction_type: "epsilon", steps_offset: 0, timestep_spacing: "leading", clip_sample: false,
  },
  index: {},
});
const data = loadFashionMnist(dataDir, "train");
await trainPruned({
  teacher: loadModelFolder(teacherDir), data, outDir: join(BASE, "model"), silent: true,
  settings: { ...DEFAULT_PRUNE_SETTINGS, ratio: 0.8, experts: 2, steps: 2, hyperSteps: 2, batchSize: 2, warmupSteps: 1, checkpointEvery: 100 },
});
rmSync(teacherDir, { recursive: true, force: true });
for (const f of ["checkpoint.safetensors", "checkpoint.safetensors.prev", "train_log.jsonl"]) rmSync(join(BASE, "model", f), { force: true });

// ---- helpers for the malformed files ----------------------------------------------------------------
const WEIGHTS = "model/unet/diffusion_pytorch_model.safetensors";
const weightBytes = new Uint8Array(readFileSync(join(BASE, WEIGHTS)));
const headerLen = Number(new DataView(weightBytes.buffer).getBigUint64(0, true));
const header = JSON.parse(new TextDecoder().decode(weightBytes.subarray(8, 8 + headerLen))) as Record<string, any>;
const payload = weightBytes.subarray(8 + headerLen);

/** A safetensors file from a header object (re-serialised) and a payload. */
function rawSafetensors(h: unknown, data: Uint8Array = payload, lengthOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof h === "string" ? h : JSON.stringify(h));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}
const tensorNames = Object.keys(header).filter((k) => k !== "__metadata__").sort();
const firstTensor = tensorNames[0]!;
const editHeader = (edit: (h: Record<string, any>) => void): Record<string, any> => {
  const h = structuredClone(header);
  edit(h);
  return h;
};
/** The state dict with one change, as a valid safetensors file (for state-dict errors). */
function stateDictVariant(edit: (m: Map<string, RawTensor>) => void): Uint8Array {
  const m = new Map<string, RawTensor>();
  for (const name of tensorNames) {
    const info = header[name];
    const [b, e] = info.data_offsets as [number, number];
    m.set(name, { dtype: "float32", shape: info.shape, data: new Float32Array(payload.slice(b, e).buffer) });
  }
  edit(m);
  return serializeSafetensors(m);
}

const configText = readFileSync(join(BASE, "model/unet/config.json"), "utf8");
const unetConfig = JSON.parse(configText) as Record<string, unknown>;
const configVariant = (edit: (c: Record<string, any>) => void): string => {
  const c = structuredClone(unetConfig) as Record<string, any>;
  edit(c);
  return JSON.stringify(c, null, 2) + "\n";
};
const schedulerConfig = JSON.parse(readFileSync(join(BASE, "model/scheduler/scheduler_config.json"), "utf8"));
const plan = JSON.parse(readFileSync(join(BASE, "model/alter_plan.json"), "utf8")) as Record<string, any>;
const planVariant = (edit: (p: Record<string, any>) => void): string => {
  const p = structuredClone(plan);
  edit(p);
  return JSON.stringify(p);
};

const trainImages = readFileSync(join(dataDir, "train-images-idx3-ubyte"));
const trainLabels = readFileSync(join(dataDir, "train-labels-idx1-ubyte"));
const withBytes = (bytes: Uint8Array, at: number, values: number[]): Uint8Array => {
  const out = new Uint8Array(bytes);
  out.set(values, at);
  return out;
};
const be32 = (v: number): number[] => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];

/** A PNG whose IHDR claims a size (with a valid CRC), followed by no image data. */
function pngClaiming(width: number, height: number): Uint8Array {
  const real = new Uint8Array(readFileSync(join(pngDir, "img0.png")));
  const out = new Uint8Array(real);
  out.set(be32(width), 16);
  out.set(be32(height), 20);
  // CRC-32 over the chunk type and data (bytes 12..29).
  let crc = 0xffffffff;
  for (let i = 12; i < 29; i++) {
    crc ^= out[i]!;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  out.set(be32((crc ^ 0xffffffff) >>> 0), 29);
  return out;
}

// ---- the cases --------------------------------------------------------------------------------------
interface Case {
  id: string;
  category: string;
  description: string;
  /** workspace path -> corpus file under files/ (or null to delete that path) */
  put?: Record<string, string | null>;
  args: string[];
  /** expected exit status: 2 for refused input, 0 for the controls */
  status: number;
  /** regex (case-insensitive) the message must match: the problem */
  problem?: string;
  /** regex (case-insensitive) the message must match: the fix */
  fix?: string;
  /** text the message must contain: the offending file or flag */
  names?: string;
}
const cases: Case[] = [];
let fileCounter = 0;
function file(name: string, content: Uint8Array | string): string {
  const stored = `${String(++fileCounter).padStart(2, "0")}-${name}`;
  writeFileSync(join(FILES, stored), content);
  return stored;
}

const SAMPLE = ["sample", "--model", "model", "--n", "1", "--steps", "2", "--out", "out"];
const TRAIN = ["train-teacher", "--config", "unet.json", "--data", "data", "--out", "run", "--steps", "1", "--batch", "2"];
const TRAIN_PNG = ["train-teacher", "--config", "unet.json", "--data", "pngs", "--out", "run", "--steps", "1", "--batch", "2"];
const PRUNE = ["prune", "--teacher", "model", "--data", "data", "--out", "pruned", "--steps", "1", "--hyper-steps", "1", "--batch", "2", "--experts", "2"];

// Controls: the base workspace is valid, so every failure below is the malformed input's.
cases.push({ id: "control-sample", category: "control", description: "valid model folder samples", args: SAMPLE, status: 0 });
cases.push({ id: "control-train", category: "control", description: "valid IDX data trains", args: TRAIN, status: 0 });
cases.push({ id: "control-train-png", category: "control", description: "valid PNG folder trains", args: TRAIN_PNG, status: 0 });
cases.push({ id: "control-prune", category: "control", description: "valid teacher and data prune", args: PRUNE, status: 0 });
const CALIBRATE = ["calibrate", "--teacher", "model", "--model", "model", "--data", "data", "--out", "cal", "--images", "2", "--grid-step", "500"];
cases.push({ id: "control-calibrate", category: "control", description: "valid pruned model calibrates", args: CALIBRATE, status: 0 });

// safetensors
const st = (id: string, description: string, content: Uint8Array, problem: string, fix = "re-?export|re-?download|conforming|writer") =>
  cases.push({ id: `safetensors-${id}`, category: "safetensors", description, put: { [WEIGHTS]: file(`${id}.safetensors`, content) }, args: SAMPLE, status: 2, problem, fix, names: "diffusion_pytorch_model.safetensors" });
st("empty", "empty file", new Uint8Array(0), "truncated|too short|not a safetensors");
st("short", "5 bytes, shorter than the length prefix", new Uint8Array([1, 2, 3, 4, 5]), "truncated|too short|not a safetensors");
st("truncated", "cut in the middle of the tensor data", weightBytes.subarray(0, 8 + headerLen + Math.floor(payload.length / 2)), "truncated|past the end|shorter|beyond|size");
st("header-past-end", "header length larger than the file", rawSafetensors(header, payload, BigInt(weightBytes.length)), "header|past the end|truncated|larger than");
st("huge-header", "header length of 2^50 bytes", rawSafetensors(header, payload, 1n << 50n), "header|too large|past the end|truncated");
st("bad-json", "header is not JSON", rawSafetensors("{not json", payload), "json|header");
st("json-array", "header is a JSON array", rawSafetensors("[1,2,3]", payload), "object|header");
st("missing-dtype", "a tensor entry without dtype", rawSafetensors(editHeader((h) => delete h[firstTensor].dtype)), "dtype");
st("unknown-dtype", "dtype Q4", rawSafetensors(editHeader((h) => (h[firstTensor].dtype = "Q4"))), "dtype", "one of");
st("shape-bytes", "shape that does not match the byte count", rawSafetensors(editHeader((h) => (h[firstTensor].shape = [...h[firstTensor].shape, 2]))), "shape|bytes|size");
st("negative-dim", "a negative dimension", rawSafetensors(editHeader((h) => (h[firstTensor].shape = [-1]))), "shape|dimension|negative");
st("offsets-overlap", "two tensors share bytes", rawSafetensors(editHeader((h) => {
  const [a, b] = [h[tensorNames[0]!], h[tensorNames[1]!]];
  const len = a.data_offsets[1] - a.data_offsets[0];
  if (b.data_offsets[1] - b.data_offsets[0] === len) b.data_offsets = [...a.data_offsets];
  else a.data_offsets = [b.data_offsets[0], b.data_offsets[0] + len];
})), "overlap|gap|hole|offset");
st("offsets-out-of-range", "offsets past the end of the data", rawSafetensors(editHeader((h) => {
  const t = h[tensorNames[tensorNames.length - 1]!];
  const len = t.data_offsets[1] - t.data_offsets[0];
  t.data_offsets = [payload.length + 64, payload.length + 64 + len];
})), "offset|past the end|out of range|beyond");
st("offsets-reversed", "begin after end", rawSafetensors(editHeader((h) => (h[firstTensor].data_offsets = [...h[firstTensor].data_offsets].reverse()))), "offset");
st("offsets-not-numbers", "offsets given as strings", rawSafetensors(editHeader((h) => (h[firstTensor].data_offsets = ["0", "4"]))), "offset");
st("metadata-not-strings", "__metadata__ with a non-string value", rawSafetensors(editHeader((h) => (h.__metadata__ = { format: 3 }))), "metadata");

// state dicts (valid safetensors files that do not fit the model)
const sd = (id: string, description: string, content: Uint8Array, problem: string, names = "diffusion_pytorch_model.safetensors") =>
  cases.push({ id: `state-dict-${id}`, category: "state dict", description, put: { [WEIGHTS]: file(`${id}.safetensors`, content) }, args: SAMPLE, status: 2, problem, fix: "config|checkpoint|model|export|match", names });
sd("missing", "one tensor removed", stateDictVariant((m) => m.delete("conv_in.weight")), "missing.*conv_in\\.weight");
sd("unexpected", "one tensor too many", stateDictVariant((m) => m.set("extra_head.weight", { dtype: "float32", shape: [2], data: new Float32Array(2) })), "unexpected.*extra_head\\.weight");
sd("misshaped", "conv_in.weight with the wrong shape", stateDictVariant((m) => m.set("conv_in.weight", { dtype: "float32", shape: [4, 1, 3, 2], data: new Float32Array(24) })), "conv_in\\.weight.*shape|shape.*conv_in\\.weight");
sd("int-dtype", "a weight stored as I32", stateDictVariant((m) => m.set("conv_in.bias", { dtype: "int32", shape: [4], data: new Int32Array(4) })), "conv_in\\.bias.*(dtype|I32|float)|(dtype|I32).*conv_in\\.bias");
sd("nan-weights", "a weight containing NaN", stateDictVariant((m) => m.set("conv_in.bias", { dtype: "float32", shape: [4], data: new Float32Array(4).fill(NaN) })), "conv_in\\.bias.*(nan|finite)|(nan|finite).*conv_in\\.bias");

// diffusers configs
const CONFIG = "model/unet/config.json";
const cf = (id: string, description: string, content: string, problem: string, fix = "") =>
  cases.push({ id: `config-${id}`, category: "config", description, put: { [CONFIG]: file(`${id}.json`, content) }, args: SAMPLE, status: 2, problem, fix: fix || "use|set|remove|must|supported|fix|give|one of", names: "config.json" });
cf("not-json", "truncated JSON", configText.slice(0, 40), "json");
cf("unknown-down-block", "AttnDownBlock2D", configVariant((c) => (c.down_block_types[1] = "AttnDownBlock2D")), "AttnDownBlock2D");
cf("unknown-up-block", "SimpleCrossAttnUpBlock2D", configVariant((c) => (c.up_block_types[0] = "SimpleCrossAttnUpBlock2D")), "SimpleCrossAttnUpBlock2D");
cf("channels-length", "block_out_channels with 3 entries for 2 blocks", configVariant((c) => (c.block_out_channels = [4, 4, 8])), "block_out_channels");
cf("missing-field", "no block_out_channels", configVariant((c) => delete c.block_out_channels), "block_out_channels");
cf("wrong-type", "layers_per_block is a string", configVariant((c) => (c.layers_per_block = "two")), "layers_per_block");
cf("groups", "norm_num_groups does not divide the channels", configVariant((c) => (c.norm_num_groups = 3)), "norm_num_groups");
cf("unknown-field", "an unsupported diffusers option", configVariant((c) => (c.addition_embed_type = "text")), "addition_embed_type");
cf("heads-length", "attention_head_dim list of the wrong length", configVariant((c) => (c.attention_head_dim = [1, 1, 1])), "attention_head_dim");
cf("negative-channels", "a negative channel count", configVariant((c) => (c.block_out_channels = [4, -4])), "block_out_channels");
cf("sample-size", "sample_size not divisible by the downsampling", configVariant((c) => (c.sample_size = 31)), "sample_size");
const SCHED = "model/scheduler/scheduler_config.json";
cases.push({ id: "scheduler-beta-schedule", category: "config", description: "unknown beta_schedule", put: { [SCHED]: file("beta-schedule.json", JSON.stringify({ ...schedulerConfig, beta_schedule: "cubic" })) }, args: SAMPLE, status: 2, problem: "beta_schedule.*cubic|cubic", fix: "linear|scaled_linear|squaredcos", names: "scheduler_config.json" });
cases.push({ id: "scheduler-timesteps", category: "config", description: "num_train_timesteps of -5", put: { [SCHED]: file("timesteps.json", JSON.stringify({ ...schedulerConfig, num_train_timesteps: -5 })) }, args: SAMPLE, status: 2, problem: "num_train_timesteps", fix: "integer", names: "scheduler_config.json" });
cases.push({ id: "model-folder-no-unet", category: "config", description: "a model folder without unet/config.json", put: { [CONFIG]: null }, args: SAMPLE, status: 2, problem: "config\\.json|not found|missing|no ", fix: "train-teacher|model folder|diffusers|check", names: "model" });

// IDX
const IMAGES = "data/train-images-idx3-ubyte", LABELS = "data/train-labels-idx1-ubyte";
const idx = (id: string, description: string, path: string, content: Uint8Array, problem: string) =>
  cases.push({ id: `idx-${id}`, category: "idx", description, put: { [path]: file(`${id}.idx`, content) }, args: TRAIN, status: 2, problem, fix: "re-?download|re-?fetch|apt|check|replace|dataset|pass|use|convert|regenerate", names: path.split("/")[1]! });
idx("bad-magic", "images start with a wrong magic number", IMAGES, withBytes(trainImages, 0, [0x12, 0x34, 0x08, 0x03]), "magic");
idx("wrong-dims", "images with 2 dimensions", IMAGES, withBytes(trainImages, 0, [0, 0, 0x08, 0x02]), "dimension|dims|3");
idx("labels-dims", "labels with 3 dimensions", LABELS, withBytes(trainLabels, 0, [0, 0, 0x08, 0x03]), "dimension|dims|1");
idx("float-dtype", "images stored as float32", IMAGES, withBytes(trainImages, 0, [0, 0, 0x0d, 0x03]), "type|dtype|unsigned|ubyte|0x0?d");
idx("truncated", "images cut short", IMAGES, trainImages.subarray(0, 16 + 784 * 10 + 100), "truncated|short|bytes|expected");
idx("header-only", "an 8-byte file", IMAGES, trainImages.subarray(0, 8), "truncated|short|header|bytes");
idx("count-mismatch", "31 labels for 32 images", LABELS, (() => { const b = new Uint8Array(trainLabels.subarray(0, 8 + 31)); b.set(be32(31), 4); return b; })(), "count|mismatch|31|32");
idx("label-range", "a label of 12 with 10 classes", LABELS, withBytes(trainLabels, 8, [12]), "12|range|class");
idx("huge-count", "images claim 2^31 images", IMAGES, withBytes(trainImages, 4, be32(0x7fffffff)), "truncated|short|bytes|expected|count|large");
idx("corrupt-gzip", "a gzip file cut in half", IMAGES + ".gz", gzipSync(trainImages).subarray(0, 200), "gzip|corrupt|truncated");
cases.push({ id: "idx-missing-labels", category: "idx", description: "the labels file is missing", put: { [LABELS]: null }, args: TRAIN, status: 2, problem: "labels|not found|missing", fix: "apt|download|--data|check|ALTER_DATA_DIR", names: "train-labels-idx1-ubyte" });
cases.push({ id: "idx-missing-dir", category: "idx", description: "--data names a folder that does not exist", args: [...TRAIN.slice(0, 4), "no-such-dir", ...TRAIN.slice(5)], status: 2, problem: "not found|does not exist|no such|missing|neither", fix: "--data|path|check|apt", names: "no-such-dir" });

// PNG folders
const png = (id: string, description: string, put: Record<string, string | null>, problem: string, names: string, fix = "re-?export|remove|add|resize|list|use|check|fix|write|header|give") =>
  cases.push({ id: `png-${id}`, category: "png folder", description, put, args: TRAIN_PNG, status: 2, problem, fix, names });
png("corrupt", "a PNG with garbage bytes", { "pngs/img2.png": file("corrupt.png", new Uint8Array(readFileSync(join(pngDir, "img2.png"))).map((b, i) => (i > 40 ? b ^ 0x5a : b))) }, "corrupt|unreadable|png", "img2.png");
png("not-png", "a text file named .png", { "pngs/img3.png": file("not-png.png", "hello, I am not an image\n") }, "corrupt|unreadable|png|signature", "img3.png");
png("wrong-size", "one image 30x30 among 28x28", { "pngs/img1.png": file("wrong-size.png", encodePng(new Uint8Array(900), 30, 30, 1)) }, "size|30", "img1.png");
png("huge-dims", "IHDR claims 100000 x 100000 pixels", { "pngs/img4.png": file("huge-dims.png", pngClaiming(100000, 100000)) }, "100000|large|size|dimension", "img4.png");
png("missing-labels", "no labels.csv", { "pngs/labels.csv": null }, "labels\\.csv", "labels.csv");
png("missing-file", "labels.csv lists a missing PNG", { "pngs/labels.csv": file("missing-file.csv", rows.join("\n") + "\nghost.png,1\n") }, "ghost\\.png", "ghost.png");
png("bad-label", "a label that is not a number", { "pngs/labels.csv": file("bad-label.csv", rows.slice(0, 3).join("\n") + "\nimg2.png,shoe\n" + rows.slice(4).join("\n") + "\n") }, "label|shoe", "labels.csv");
png("negative-label", "a negative label", { "pngs/labels.csv": file("negative-label.csv", rows.join("\n").replace("img0.png,", "img0.png,-") + "\n") }, "label|-", "labels.csv");
png("bad-header", "labels.csv without the file,label header", { "pngs/labels.csv": file("bad-header.csv", rows.slice(1).join("\n") + "\n") }, "header|file,label", "labels.csv");
png("duplicate", "a file listed twice", { "pngs/labels.csv": file("duplicate.csv", rows.join("\n") + "\nimg0.png,3\n") }, "again|twice|duplicate", "labels.csv");
png("unlisted", "a PNG without a labels.csv row", { "pngs/stray.png": file("stray.png", readFileSync(join(pngDir, "img0.png"))) }, "stray\\.png|not listed|no row", "stray.png");

// alter_plan.json
const PLAN = "model/alter_plan.json";
const pl = (id: string, description: string, content: string, problem: string, fix = "re-?run|prune|regenerate|--dense|match|remove|use") =>
  cases.push({ id: `plan-${id}`, category: "plan", description, put: { [PLAN]: file(`${id}.json`, content) }, args: SAMPLE, status: 2, problem, fix, names: "alter_plan.json" });
pl("not-json", "truncated JSON", JSON.stringify(plan).slice(0, 50), "json");
pl("layer-count", "a mask row one layer short", planVariant((p) => (p.experts[0] = p.experts[0].slice(1))), "layer|mask|length|entries");
pl("router-length", "a router with 10 timesteps for 1000", planVariant((p) => (p.router = p.router.slice(0, 10))), "router");
pl("non-binary", "a mask value of 0.5", planVariant((p) => (p.experts[0][0] = 0.5)), "binary|0 or 1|0\\.5");
pl("expert-range", "the router names expert 7 of 2", planVariant((p) => (p.router[0] = 7)), "expert|router|7");
pl("other-model", "layer names of another model", planVariant((p) => (p.layers[0].name = "down_blocks.9.resnets.0")), "layer|model|another|down_blocks\\.9");
pl("version", "format version 99", planVariant((p) => (p.version = 99)), "version|99");
pl("layers-missing", "no layers field", planVariant((p) => delete p.layers), "layers");

// CLI arguments
const cli = (id: string, description: string, args: string[], problem: string, fix: string, names: string) =>
  cases.push({ id: `cli-${id}`, category: "cli", description, args, status: 2, problem, fix, names });
cli("unknown-flag", "--stepz instead of --steps", [...SAMPLE, "--stepz", "3"], "unknown option", "--help|did you mean", "--stepz");
cli("unknown-command", "alter smaple", ["smaple", "--model", "model"], "unknown command", "--help|did you mean", "smaple");
cli("ratio-high", "--ratio 1.5", [...PRUNE, "--ratio", "1.5"], "ratio|1\\.5", "between|in \\(0|must|choose|use", "--ratio");
cli("ratio-infeasible", "--ratio 0.05 below the never-pruned share", [...PRUNE, "--ratio", "0.05"], "ratio|0\\.05|infeasible|below", "at least|raise|choose|use|must", "ratio");
cli("steps-zero", "--steps 0", [...SAMPLE.slice(0, 5), "--steps", "0", "--out", "out"], "steps|0", "positive|at least|must|integer", "--steps");
cli("n-negative", "--n -3", [...SAMPLE.slice(0, 3), "--n", "-3", "--steps", "2", "--out", "out"], "--n|-3", "positive|at least|must|integer", "--n");
cli("guidance-text", "--guidance abc", [...SAMPLE, "--guidance", "abc"], "guidance|abc", "number|must", "--guidance");
cli("sampler", "--sampler heun", [...SAMPLE, "--sampler", "heun"], "heun|sampler", "one of|ddim", "--sampler");
cli("labels-range", "--labels 12 for 10 classes", [...SAMPLE, "--labels", "12"], "12|label|class", "0|between|one of|name|range", "--labels");
cli("experts-zero", "--experts 0", [...PRUNE.slice(0, -2), "--experts", "0"], "experts|0", "at least|positive|must|integer", "--experts");
cli("model-missing", "--model names a folder that does not exist", ["sample", "--model", "nowhere", "--n", "1", "--out", "out"], "not found|does not exist|no such|missing", "check|path|train-teacher|model folder", "nowhere");
cli("config-missing", "--config names a file that does not exist", ["train-teacher", "--config", "none.json", "--data", "data", "--out", "run"], "not found|does not exist|no such|cannot read", "check|path", "none.json");
cli("batch-fraction", "--batch 2.5", [...TRAIN.slice(0, -2), "--batch", "2.5"], "batch|2\\.5", "integer|whole|must", "--batch");
cli("resume-nothing", "--resume with no checkpoint in --out", [...TRAIN, "--resume"], "checkpoint|resume|nothing", "without --resume|start|drop|remove", "run");
cli("keep-progress-no-out", "eval --keep-progress without --out", ["eval", "--models", "model", "--keep-progress"], "keep-progress|no --out", "add --out|drop", "--keep-progress");
cli("lr-negative", "--lr -1", [...TRAIN, "--lr", "-1"], "lr|-1", "positive|must|greater", "--lr");
cli("distill-weighting", "prune --distill-weighting snr", [...PRUNE, "--distill-weighting", "snr"], "snr|distill-weighting", "one of|uniform|noise-variance", "--distill-weighting");
cli("noise-free-tail", "prune --noise-free-tail 0.9 after the default --noise-anneal 0.25", [...PRUNE, "--noise-free-tail", "0.9"], "noise-free-tail|0\\.9", "1 - 0\\.25|must", "--noise-free-tail");
cli("calibrate-out-exists", "calibrate --out names an existing folder", [...CALIBRATE.slice(0, 7), "--out", "data", ...CALIBRATE.slice(9)], "already exists", "new folder|delete", "data");
cli("calibrate-ratio", "calibrate --ratio 0.05, below every expert's MACs", [...CALIBRATE, "--ratio", "0.05"], "ratio|0\\.05|below|cheapest", "at least", "--ratio");
cli("calibrate-grid-step", "calibrate --grid-step 0", [...CALIBRATE.slice(0, -2), "--grid-step", "0"], "grid-step|0", "at least|integer|must", "--grid-step");
cases.push({
  id: "cli-calibrate-no-plan", category: "cli", description: "calibrate a model folder without alter_plan.json", put: { [PLAN]: null }, args: CALIBRATE,
  status: 2, problem: "no alter_plan\\.json", fix: "alter prune|written by", names: "model",
});

writeFileSync(join(HERE, "cases.json"), JSON.stringify(cases, null, 1) + "\n");
console.log(`wrote ${cases.length} cases (${cases.filter((c) => c.status !== 0).length} malformed inputs) and base/ to ${HERE}`);

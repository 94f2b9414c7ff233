/**
 * @file The UNet2DConditionModel config: diffusers' config.json keys exactly (no camelCase layer),
 * validated once with errors that name the field, what is wrong and what is allowed. Fields diffusers
 * writes but we do not implement are accepted only at their neutral value; a non-neutral value is
 * refused by name instead of being silently ignored.
 */
import { readFileSync } from "node:fs";

export type DownBlockType = "CrossAttnDownBlock2D" | "DownBlock2D";
export type UpBlockType = "CrossAttnUpBlock2D" | "UpBlock2D";

export interface UNet2DConditionConfig {
  readonly _class_name: "UNet2DConditionModel";
  readonly sample_size: number;
  readonly in_channels: number;
  readonly out_channels: number;
  readonly flip_sin_to_cos: boolean;
  readonly freq_shift: number;
  readonly down_block_types: readonly DownBlockType[];
  readonly mid_block_type: "UNetMidBlock2DCrossAttn";
  readonly up_block_types: readonly UpBlockType[];
  readonly block_out_channels: readonly number[];
  readonly layers_per_block: readonly number[];
  readonly downsample_padding: number;
  readonly mid_block_scale_factor: number;
  readonly dropout: number;
  readonly act_fn: "silu";
  readonly norm_num_groups: number;
  readonly norm_eps: number;
  readonly cross_attention_dim: number;
  readonly transformer_layers_per_block: readonly number[];
  /** Heads per block (diffusers' quirk: SD configs store this under attention_head_dim). */
  readonly num_attention_heads: readonly number[];
  readonly use_linear_projection: boolean;
  readonly upcast_attention: boolean;
  readonly only_cross_attention: boolean;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** diffusers fields we accept only at these values (anything else is a feature we lack). */
const NEUTRAL: Record<string, unknown[]> = {
  center_input_sample: [false],
  dual_cross_attention: [false],
  class_embed_type: [null],
  addition_embed_type: [null],
  addition_time_embed_dim: [null],
  num_class_embeds: [null],
  resnet_time_scale_shift: ["default"],
  resnet_skip_time_act: [false],
  resnet_out_scale_factor: [1, 1.0],
  time_embedding_type: ["positional"],
  time_embedding_dim: [null],
  time_embedding_act_fn: [null],
  timestep_post_act: [null],
  time_cond_proj_dim: [null],
  conv_in_kernel: [3],
  conv_out_kernel: [3],
  projection_class_embeddings_input_dim: [null],
  attention_type: ["default"],
  class_embeddings_concat: [false],
  mid_block_only_cross_attention: [null, false],
  cross_attention_norm: [null],
  encoder_hid_dim: [null],
  encoder_hid_dim_type: [null],
  addition_embed_type_num_heads: [64],
  reverse_transformer_layers_per_block: [null],
  attention_bias: [false],
};
/** Bookkeeping keys diffusers adds; no effect on the model. */
const IGNORED = new Set(["_diffusers_version", "_name_or_path", "_use_default_values"]);
const SUPPORTED = new Set([
  "_class_name", "sample_size", "in_channels", "out_channels", "flip_sin_to_cos", "freq_shift", "down_block_types",
  "mid_block_type", "up_block_types", "block_out_channels", "layers_per_block", "downsample_padding",
  "mid_block_scale_factor", "dropout", "act_fn", "norm_num_groups", "norm_eps", "cross_attention_dim",
  "transformer_layers_per_block", "attention_head_dim", "num_attention_heads", "use_linear_projection",
  "upcast_attention", "only_cross_attention",
]);

type Json = Record<string, unknown>;

/** Fails on a field; the problem text ends with how to fix it unless `fix` is given separately. */
function fail(source: string, field: string, problem: string, fix?: string): never {
  throw new ConfigError(`${source}: field "${field}" ${problem}${fix ? `; ${fix}` : ""}`);
}

/**
 * Upper bounds far above any published UNet (SDXL: 10 transformer layers, 1280 channels), so a
 * corrupt or hostile config cannot make the constructor build millions of layers.
 */
const MAX: Record<string, number> = {
  sample_size: 4096, in_channels: 256, out_channels: 256, freq_shift: 4096, norm_num_groups: 1024, layers_per_block: 32,
  transformer_layers_per_block: 64, block_out_channels: 16384, num_attention_heads: 1024, attention_head_dim: 1024,
  cross_attention_dim: 16384, downsample_padding: 16,
};
const MAX_BLOCKS = 8;

function integer(cfg: Json, field: string, source: string, fallback?: number, min = 1): number {
  const v = cfg[field] ?? fallback;
  const max = MAX[field] ?? Number.MAX_SAFE_INTEGER;
  if (v === undefined) fail(source, field, "is missing (it has no default)");
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) fail(source, field, `must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  return v;
}

function number(cfg: Json, field: string, source: string, fallback: number, min = 0): number {
  const v = cfg[field] ?? fallback;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min) fail(source, field, `must be a number >= ${min}, got ${JSON.stringify(v)}`);
  return v;
}

function bool(cfg: Json, field: string, source: string, fallback: boolean): boolean {
  const v = cfg[field] ?? fallback;
  if (typeof v !== "boolean") fail(source, field, `must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** An int or a per-block list of ints, expanded to one value per block. */
function perBlock(cfg: Json, field: string, source: string, blocks: number, fallback?: number | number[]): number[] {
  const v = cfg[field] ?? fallback;
  if (v === undefined || v === null) fail(source, field, "is missing");
  const list = Array.isArray(v) ? v : Array(blocks).fill(v);
  if (list.length !== blocks) fail(source, field, `has ${list.length} entries but there are ${blocks} down blocks (block_out_channels)`, "give one entry per block or a single number");
  const max = MAX[field] ?? Number.MAX_SAFE_INTEGER;
  for (const x of list) if (typeof x !== "number" || !Number.isInteger(x) || x < 1 || x > max) fail(source, field, `must hold integers in [1, ${max}], got ${JSON.stringify(v)}`);
  return list as number[];
}

function blockTypes<T extends string>(cfg: Json, field: string, source: string, allowed: readonly T[], count: number): T[] {
  const v = cfg[field];
  if (!Array.isArray(v)) fail(source, field, `must be a list of block types (${allowed.join(", ")})`);
  if (v.length !== count) fail(source, field, `has ${v.length} entries but block_out_channels has ${count}`, "give one block type per entry of block_out_channels");
  for (const t of v) if (!allowed.includes(t as T)) fail(source, field, `contains unknown block type ${JSON.stringify(t)}; supported: ${allowed.join(", ")}`);
  return v as T[];
}

/** Validates a parsed config.json and fills diffusers' defaults. */
export function parseUNetConfig(raw: unknown, source = "config.json"): UNet2DConditionConfig {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new ConfigError(`${source}: expected a JSON object`);
  const cfg = raw as Json;
  if (cfg._class_name !== undefined && cfg._class_name !== "UNet2DConditionModel") {
    fail(source, "_class_name", `is ${JSON.stringify(cfg._class_name)}; only UNet2DConditionModel is supported`);
  }
  for (const [key, value] of Object.entries(cfg)) {
    if (SUPPORTED.has(key) || IGNORED.has(key)) continue;
    const neutral = NEUTRAL[key];
    if (neutral === undefined) fail(source, key, "is not a UNet2DConditionModel field we know (typo, or a newer diffusers feature)");
    if (!neutral.some((n) => JSON.stringify(n) === JSON.stringify(value))) {
      fail(source, key, `= ${JSON.stringify(value)} is not supported (only ${neutral.map((n) => JSON.stringify(n)).join(" or ")})`);
    }
  }
  const boc = cfg.block_out_channels;
  if (!Array.isArray(boc) || boc.length === 0 || boc.length > MAX_BLOCKS || boc.some((c) => typeof c !== "number" || !Number.isInteger(c) || c < 1 || c > MAX.block_out_channels!)) {
    fail(source, "block_out_channels", `must be a list of 1 to ${MAX_BLOCKS} integers in [1, ${MAX.block_out_channels}], got ${JSON.stringify(boc)}`);
  }
  const blocks = boc.length;
  const groups = integer(cfg, "norm_num_groups", source, 32);
  for (const c of boc as number[]) if (c % groups !== 0) fail(source, "block_out_channels", `entry ${c} is not divisible by norm_num_groups = ${groups}`, "use channel counts that are multiples of norm_num_groups, or change norm_num_groups");
  const down = blockTypes(cfg, "down_block_types", source, ["CrossAttnDownBlock2D", "DownBlock2D"] as const, blocks);
  const up = blockTypes(cfg, "up_block_types", source, ["CrossAttnUpBlock2D", "UpBlock2D"] as const, blocks);
  const mid = cfg.mid_block_type ?? "UNetMidBlock2DCrossAttn";
  if (mid !== "UNetMidBlock2DCrossAttn") fail(source, "mid_block_type", `is ${JSON.stringify(mid)}; only UNetMidBlock2DCrossAttn is supported`);
  const act = cfg.act_fn ?? "silu";
  if (act !== "silu") fail(source, "act_fn", `is ${JSON.stringify(act)}; only "silu" is supported`);
  // diffusers' naming quirk: SD 1.x/2.x store the number of heads in attention_head_dim.
  const headsField = cfg.num_attention_heads !== undefined && cfg.num_attention_heads !== null ? "num_attention_heads" : "attention_head_dim";
  const heads = perBlock(cfg, headsField, source, blocks, 8);
  (boc as number[]).forEach((c, i) => {
    if (c % heads[i] !== 0) fail(source, headsField, `gives ${heads[i]} heads for block ${i} whose ${c} channels do not split evenly`, "use a head count that divides the channels");
  });
  // diffusers checks a per-block attention_head_dim list even when num_attention_heads wins.
  if (headsField === "num_attention_heads" && Array.isArray(cfg.attention_head_dim)) perBlock(cfg, "attention_head_dim", source, blocks);
  const padding = integer(cfg, "downsample_padding", source, 1, 0);
  if (padding !== 1) fail(source, "downsample_padding", `= ${padding} is not supported (only 1, as Stable Diffusion uses)`);
  const crossDim = cfg.cross_attention_dim ?? 1280;
  if (typeof crossDim !== "number" || !Number.isInteger(crossDim) || crossDim < 1 || crossDim > MAX.cross_attention_dim!) {
    fail(source, "cross_attention_dim", `must be an integer in [1, ${MAX.cross_attention_dim}] (per-block lists are not supported)`);
  }
  const onlyCross = cfg.only_cross_attention ?? false;
  if (typeof onlyCross !== "boolean") fail(source, "only_cross_attention", "must be true or false (per-block lists are not supported)");
  // Each down block but the last halves the resolution, so the sample must divide evenly.
  const sampleSize = integer(cfg, "sample_size", source, 64);
  const factor = 2 ** (blocks - 1);
  if (sampleSize % factor !== 0) {
    fail(source, "sample_size", `= ${sampleSize} is not a multiple of ${factor} (${blocks} down blocks halve it ${blocks - 1} times)`, `use a multiple of ${factor}`);
  }
  return Object.freeze({
    _class_name: "UNet2DConditionModel",
    sample_size: sampleSize,
    in_channels: integer(cfg, "in_channels", source, 4),
    out_channels: integer(cfg, "out_channels", source, 4),
    flip_sin_to_cos: bool(cfg, "flip_sin_to_cos", source, true),
    freq_shift: integer(cfg, "freq_shift", source, 0, 0),
    down_block_types: Object.freeze(down),
    mid_block_type: "UNetMidBlock2DCrossAttn",
    up_block_types: Object.freeze(up),
    block_out_channels: Object.freeze([...(boc as number[])]),
    layers_per_block: Object.freeze(perBlock(cfg, "layers_per_block", source, blocks, 2)),
    downsample_padding: padding,
    mid_block_scale_factor: number(cfg, "mid_block_scale_factor", source, 1),
    dropout: number(cfg, "dropout", source, 0),
    act_fn: "silu",
    norm_num_groups: groups,
    norm_eps: number(cfg, "norm_eps", source, 1e-5),
    cross_attention_dim: crossDim,
    transformer_layers_per_block: Object.freeze(perBlock(cfg, "transformer_layers_per_block", source, blocks, 1)),
    num_attention_heads: Object.freeze(heads),
    use_linear_projection: bool(cfg, "use_linear_projection", source, false),
    upcast_attention: bool(cfg, "upcast_attention", source, false),
    only_cross_attention: onlyCross,
  });
}

/** Reads and validates a config.json file. */
export function readUNetConfig(path: string): UNet2DConditionConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`${path}: cannot read the config (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); pass the path of a diffusers unet/config.json`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${path}: not valid JSON (${(err as Error).message}); fix the JSON syntax or re-export the config`);
  }
  return parseUNetConfig(raw, path);
}

/** The config as diffusers writes it (heads under num_attention_heads, lists per block). */
export function configToJson(config: UNet2DConditionConfig): Record<string, unknown> {
  return { ...config, _diffusers_version: "0.25.0" };
}

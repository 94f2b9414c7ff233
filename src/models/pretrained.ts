/**
 * @file Model folders in the diffusers layout, so a trained alter model and a diffusers checkpoint
 * are read by the same code:
 *   model_index.json                              what the folder holds
 *   unet/config.json, unet/diffusion_pytorch_model.safetensors
 *   scheduler/scheduler_config.json
 *   class_embedder/config.json, class_embedder/diffusion_pytorch_model.safetensors (optional: our
 *     label -> context-token embedder; a Stable Diffusion folder has a text encoder instead)
 * Every file is written atomically and model_index.json last, so a folder with a manifest is complete.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { noGrad } from "../engine/autograd.js";
import { readSafetensors, writeSafetensors, type RawTensor } from "../nn/safetensors.js";
import { StateDictError, type Module } from "../nn/module.js";
import { writeJsonAtomic } from "../util/atomic.js";
import { ConfigError, configToJson, readUNetConfig, type UNet2DConditionConfig } from "./config.js";
import { ClassEmbedder, type ClassEmbedderConfig } from "./embeddings.js";
import { UNet2DConditionModel } from "./unet-2d-condition.js";

export const WEIGHTS_NAME = "diffusion_pytorch_model.safetensors";
export const CONFIG_NAME = "config.json";
export const MODEL_INDEX = "model_index.json";

export interface ModelFolder {
  unet: UNet2DConditionModel;
  classEmbedder: ClassEmbedder | null;
  /** The raw scheduler_config.json (validated by the diffusion layer, which names this file). */
  schedulerConfig: Record<string, unknown>;
  /** Where schedulerConfig was read from (for error messages); absent for models built in code. */
  schedulerConfigPath?: string;
  /** Extra manifest entries (training settings, ALTER plan file name, ...). */
  index: Record<string, unknown>;
}

/** Converts module state to the raw records safetensors writes. */
export function stateToRaw(module: Module): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  for (const [name, t] of module.stateDict()) out.set(name, { dtype: t.dtype, shape: [...t.shape], data: t.data });
  return out;
}

export function saveWeights(module: Module, path: string, metadata?: Record<string, string>): void {
  writeSafetensors(path, stateToRaw(module), metadata);
}

/**
 * Loads a safetensors file into a module (strict: every key must match). Weights must be floating
 * point (F32/F16/BF16/F64 on disk) and finite: integer tensors or NaN/Inf would otherwise load
 * "successfully" and produce garbage images.
 */
export function loadWeights(module: Module, path: string): void {
  if (!existsSync(path)) throw new ConfigError(`${path}: weights file not found; check the model folder (it needs this file next to config.json)`);
  const { tensors } = readSafetensors(path);
  const noMismatch = { missing: [], unexpected: [], mismatched: [] };
  for (const [name, t] of tensors) {
    if (t.dtype !== "float32") {
      throw new StateDictError(`${path}: tensor "${name}" holds integers but model weights are floating point; re-export the checkpoint with float weights`, noMismatch);
    }
    const bad = firstNonFinite(t.data);
    if (bad >= 0) {
      throw new StateDictError(
        `${path}: tensor "${name}" contains ${t.data[bad]} (first at element ${bad}); the checkpoint is damaged or from a diverged run, use an earlier checkpoint`,
        noMismatch,
      );
    }
  }
  noGrad(() => module.loadStateDict(tensors, { source: path }));
}

function firstNonFinite(data: ArrayLike<number>): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return i;
  return -1;
}

function readJson(path: string, what: string): Record<string, unknown> {
  if (!existsSync(path)) throw new ConfigError(`${path}: missing ${what}; is this a model folder written by alter or diffusers?`);
  try {
    const value = JSON.parse(readFileSync(path, "utf8")) as unknown;
    if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error("not a JSON object");
    return value as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`${path}: ${what} is not valid JSON (${(err as Error).message})`);
  }
}

function parseClassEmbedderConfig(raw: Record<string, unknown>, source: string): ClassEmbedderConfig {
  for (const key of ["num_classes", "num_tokens", "cross_attention_dim"] as const) {
    const v = raw[key];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1) throw new ConfigError(`${source}: field "${key}" must be a positive integer`);
  }
  return { _class_name: "ClassEmbedder", num_classes: raw.num_classes as number, num_tokens: raw.num_tokens as number, cross_attention_dim: raw.cross_attention_dim as number };
}

/** Writes a complete model folder (files atomically, manifest last). */
export function saveModelFolder(dir: string, model: ModelFolder): void {
  writeJsonAtomic(join(dir, "unet", CONFIG_NAME), configToJson(model.unet.config));
  saveWeights(model.unet, join(dir, "unet", WEIGHTS_NAME));
  writeJsonAtomic(join(dir, "scheduler", "scheduler_config.json"), model.schedulerConfig);
  if (model.classEmbedder !== null) {
    writeJsonAtomic(join(dir, "class_embedder", CONFIG_NAME), model.classEmbedder.config);
    saveWeights(model.classEmbedder, join(dir, "class_embedder", WEIGHTS_NAME));
  }
  writeJsonAtomic(join(dir, MODEL_INDEX), {
    _class_name: "AlterPipeline",
    unet: ["alter", "UNet2DConditionModel"],
    scheduler: ["diffusers", String(model.schedulerConfig._class_name ?? "DDPMScheduler")],
    class_embedder: model.classEmbedder === null ? null : ["alter", "ClassEmbedder"],
    ...model.index,
  });
}

/** A model folder's model_index.json as an object ({} when the folder has none). */
export function readModelIndex(dir: string): Record<string, unknown> {
  return existsSync(join(dir, MODEL_INDEX)) ? readJson(join(dir, MODEL_INDEX), "model_index.json") : {};
}

/** Reads a model folder: the UNet (config validated, weights strict), class embedder, scheduler config. */
export function loadModelFolder(dir: string): ModelFolder {
  if (!existsSync(dir)) throw new ConfigError(`${dir}: model folder not found; check the path (a folder written by alter train-teacher or alter prune, or a diffusers model folder)`);
  const index = readModelIndex(dir);
  const config: UNet2DConditionConfig = readUNetConfig(join(dir, "unet", CONFIG_NAME));
  const unet = new UNet2DConditionModel(config);
  loadWeights(unet, join(dir, "unet", WEIGHTS_NAME));
  let classEmbedder: ClassEmbedder | null = null;
  const embedderConfigPath = join(dir, "class_embedder", CONFIG_NAME);
  if (existsSync(embedderConfigPath)) {
    const cfg = parseClassEmbedderConfig(readJson(embedderConfigPath, "class embedder config"), embedderConfigPath);
    if (cfg.cross_attention_dim !== config.cross_attention_dim) {
      throw new ConfigError(`${embedderConfigPath}: cross_attention_dim ${cfg.cross_attention_dim} differs from the UNet's ${config.cross_attention_dim}`);
    }
    classEmbedder = new ClassEmbedder(cfg);
    loadWeights(classEmbedder, join(dir, "class_embedder", WEIGHTS_NAME));
  }
  const schedulerConfigPath = join(dir, "scheduler", "scheduler_config.json");
  const schedulerConfig = readJson(schedulerConfigPath, "scheduler config");
  return { unet, classEmbedder, schedulerConfig, schedulerConfigPath, index };
}

/** A frozen deep copy of a UNet (the ALTER teacher), sharing no memory with the original. */
export function cloneUNet(unet: UNet2DConditionModel): UNet2DConditionModel {
  const copy = new UNet2DConditionModel(unet.config);
  noGrad(() => copy.loadStateDict(unet.stateDict()));
  return copy;
}


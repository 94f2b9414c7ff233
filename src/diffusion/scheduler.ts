/**
 * @file What every diffusion scheduler shares: the config record (the keys of diffusers'
 * scheduler_config.json), the `Scheduler` interface, beta schedules, timestep spacing, the
 * elementwise helpers the schedulers are written with, config file I/O and `createScheduler`.
 *
 * One scheduler per file (scheduling-*.ts), all with the same methods and no inheritance between
 * them; each writes its `step` as numbered stages with a notation table. Schedulers are
 * layout-agnostic: every formula is elementwise, except that `addNoise`/`getVelocity` take one
 * timestep per batch item (the first axis).
 *
 * Precision: scalar coefficients (betas, alphas_cumprod, sigmas, ...) are float64; each element is
 * computed in float64 and stored as float32. diffusers keeps betas/alphas_cumprod in float32,
 * which differs from ours by ~1e-6 relative. Timesteps are the integer training timesteps the
 * model is called with (the ALTER router looks experts up by this integer).
 */
import * as fs from "node:fs";
import { Tensor, type Generator } from "../engine/index.js";
import { writeJsonAtomic } from "../util/atomic.js";
import { DDPMScheduler } from "./scheduling-ddpm.js";
import { DDIMScheduler } from "./scheduling-ddim.js";
import { PNDMScheduler } from "./scheduling-pndm.js";
import { DPMSolverMultistepScheduler } from "./scheduling-dpmsolver-multistep.js";
import { EulerDiscreteScheduler } from "./scheduling-euler-discrete.js";

// ---- config --------------------------------------------------------------------------------------

export const SCHEDULER_CLASS_NAMES = [
  "DDPMScheduler",
  "DDIMScheduler",
  "PNDMScheduler",
  "DPMSolverMultistepScheduler",
  "EulerDiscreteScheduler",
] as const;
export type SchedulerClassName = (typeof SCHEDULER_CLASS_NAMES)[number];
export type BetaSchedule = "linear" | "scaled_linear" | "squaredcos_cap_v2";
export type PredictionType = "epsilon" | "v_prediction" | "sample";
export type TimestepSpacing = "leading" | "trailing" | "linspace";
export type VarianceType = "fixed_small" | "fixed_small_log" | "fixed_large";
export type SolverType = "midpoint" | "heun";
export type FinalSigmasType = "zero" | "sigma_min";

/**
 * A scheduler's settings, keyed exactly as diffusers' scheduler_config.json. Absent keys take the
 * defaults of the scheduler named by `_class_name` (the defaults of diffusers' constructors).
 * Keys marked with a scheduler apply to that scheduler only and are ignored by the others.
 */
export interface SchedulerConfig {
  readonly _class_name: SchedulerClassName;
  readonly num_train_timesteps?: number;
  readonly beta_start?: number;
  readonly beta_end?: number;
  readonly beta_schedule?: BetaSchedule;
  readonly prediction_type?: PredictionType;
  readonly timestep_spacing?: TimestepSpacing;
  readonly steps_offset?: number;
  /** DDPM, DDIM: clamp the predicted x0 to [-clip_sample_range, clip_sample_range]. */
  readonly clip_sample?: boolean;
  readonly clip_sample_range?: number;
  /** DDIM, PNDM: alpha_prod at the step past t = 0 is 1 (true) or alphas_cumprod[0] (false). */
  readonly set_alpha_to_one?: boolean;
  /** PNDM: only true (PLMS steps only, as Stable Diffusion) is supported. */
  readonly skip_prk_steps?: boolean;
  /** DDPM: the reverse-process variance. */
  readonly variance_type?: VarianceType;
  /** DPM-Solver: only the data-prediction solver "dpmsolver++". */
  readonly algorithm_type?: "dpmsolver++";
  readonly solver_order?: 1 | 2;
  readonly solver_type?: SolverType;
  readonly lower_order_final?: boolean;
  readonly euler_at_final?: boolean;
  /** DPM-Solver, Euler: sigma after the last step. */
  readonly final_sigmas_type?: FinalSigmasType;
  /** DPM-Solver: drop the timesteps whose log-SNR lambda is below this (default -Infinity). */
  readonly lambda_min_clipped?: number;
  /** Accepted with these values only (the alternatives are not implemented). */
  readonly thresholding?: false;
  readonly use_karras_sigmas?: false;
  readonly rescale_betas_zero_snr?: false;
  readonly interpolation_type?: "linear";
  readonly timestep_type?: "discrete";
}

type Key = Exclude<keyof SchedulerConfig, "_class_name">;
/** A config with the given keys filled in from a scheduler's defaults. */
export type ResolvedConfig<K extends Key> = SchedulerConfig & { readonly [P in K]-?: NonNullable<SchedulerConfig[P]> };
/** A scheduler's defaults for the keys it reads. */
export type ConfigDefaults<K extends Key> = { readonly [P in K]-?: NonNullable<SchedulerConfig[P]> };

/** How each key of scheduler_config.json is checked; keys not listed here are ignored. */
type FieldRule =
  | { readonly kind: "number" | "positive" | "integer" | "boolean" }
  | { readonly kind: "enum"; readonly values: readonly (string | number)[] }
  /** accepted only with `value`; anything else is an unsupported setting */
  | { readonly kind: "only"; readonly value: unknown; readonly what: string }
  /** written by diffusers, no effect here: accepted and dropped */
  | { readonly kind: "ignored" };

const FIELDS: Readonly<Record<string, FieldRule>> = {
  num_train_timesteps: { kind: "integer" },
  beta_start: { kind: "positive" },
  beta_end: { kind: "positive" },
  beta_schedule: { kind: "enum", values: ["linear", "scaled_linear", "squaredcos_cap_v2"] },
  prediction_type: { kind: "enum", values: ["epsilon", "v_prediction", "sample"] },
  timestep_spacing: { kind: "enum", values: ["leading", "trailing", "linspace"] },
  steps_offset: { kind: "integer" },
  clip_sample: { kind: "boolean" },
  clip_sample_range: { kind: "positive" },
  set_alpha_to_one: { kind: "boolean" },
  skip_prk_steps: { kind: "boolean" },
  variance_type: { kind: "enum", values: ["fixed_small", "fixed_small_log", "fixed_large"] },
  algorithm_type: { kind: "enum", values: ["dpmsolver++"] },
  solver_order: { kind: "enum", values: [1, 2] },
  solver_type: { kind: "enum", values: ["midpoint", "heun"] },
  lower_order_final: { kind: "boolean" },
  euler_at_final: { kind: "boolean" },
  final_sigmas_type: { kind: "enum", values: ["zero", "sigma_min"] },
  lambda_min_clipped: { kind: "number" },
  thresholding: { kind: "only", value: false, what: "dynamic thresholding" },
  use_karras_sigmas: { kind: "only", value: false, what: "Karras sigmas" },
  rescale_betas_zero_snr: { kind: "only", value: false, what: "zero-terminal-SNR rescaling" },
  trained_betas: { kind: "only", value: null, what: "an explicit list of betas" },
  use_exponential_sigmas: { kind: "only", value: false, what: "exponential sigmas" },
  use_beta_sigmas: { kind: "only", value: false, what: "beta sigmas" },
  use_lu_lambdas: { kind: "only", value: false, what: "Lu lambdas" },
  use_flow_sigmas: { kind: "only", value: false, what: "flow-matching sigmas" },
  interpolation_type: { kind: "only", value: "linear", what: "log-linear sigma interpolation" },
  timestep_type: { kind: "only", value: "discrete", what: "continuous timesteps" },
  sample_max_value: { kind: "ignored" },
  dynamic_thresholding_ratio: { kind: "ignored" },
  sigma_min: { kind: "ignored" },
  sigma_max: { kind: "ignored" },
};

const KEPT_ONLY_FIELDS = new Set(["thresholding", "use_karras_sigmas", "rescale_betas_zero_snr", "interpolation_type", "timestep_type"]);

function show(value: unknown): string {
  return typeof value === "string" ? `"${value}"` : JSON.stringify(value) ?? String(value);
}

/**
 * Checks a parsed scheduler_config.json (or a config built in code) and returns the config with
 * only the keys alter uses. `source` (a file path or a class name) starts every error message.
 * Keys starting with "_" other than `_class_name` (e.g. `_diffusers_version`) and keys alter does
 * not know are ignored, as diffusers ignores unexpected keys. DPM-Solver's `variance_type: null`
 * is read as absent.
 */
export function validateSchedulerConfig(raw: unknown, source = "scheduler config"): SchedulerConfig {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new SchedulerError(`${source}: a scheduler config must be a JSON object`);
  }
  const entries = raw as Record<string, unknown>;
  const className = entries._class_name;
  if (typeof className !== "string" || !(SCHEDULER_CLASS_NAMES as readonly string[]).includes(className)) {
    throw new SchedulerError(
      `${source}: field "_class_name" is ${show(className)}; allowed values: ${SCHEDULER_CLASS_NAMES.map(show).join(", ")}`,
    );
  }
  const out: Record<string, unknown> = { _class_name: className };
  for (const [key, value] of Object.entries(entries)) {
    const rule = FIELDS[key];
    if (rule === undefined) continue;
    if (value === null && key !== "trained_betas") {
      if (rule.kind === "ignored" || key === "variance_type") continue;
      throw new SchedulerError(`${source}: field "${key}" is null; ${expected(rule)}`);
    }
    const bad = (): Error => new SchedulerError(`${source}: field "${key}" is ${show(value)}; ${expected(rule)}`);
    switch (rule.kind) {
      case "number":
        if (typeof value !== "number" || Number.isNaN(value)) throw bad();
        break;
      case "positive":
        if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) throw bad();
        break;
      case "integer":
        if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) throw bad();
        break;
      case "boolean":
        if (typeof value !== "boolean") throw bad();
        break;
      case "enum":
        if (!rule.values.includes(value as string | number)) throw bad();
        break;
      case "only":
        if (value !== rule.value) {
          throw new SchedulerError(
            `${source}: field "${key}" is ${show(value)}, which alter does not support (${rule.what}); allowed value: ${show(rule.value)}`,
          );
        }
        if (!KEPT_ONLY_FIELDS.has(key)) continue;
        break;
      case "ignored":
        continue;
    }
    out[key] = value;
  }
  if ((out.num_train_timesteps as number | undefined) === 0) {
    throw new SchedulerError(`${source}: field "num_train_timesteps" is 0; ${expected(FIELDS.num_train_timesteps!)}`);
  }
  return Object.freeze(out) as unknown as SchedulerConfig;
}

function expected(rule: FieldRule): string {
  switch (rule.kind) {
    case "number":
      return "expected a number";
    case "positive":
      return "expected a number > 0";
    case "integer":
      return "expected an integer >= 0";
    case "boolean":
      return "expected true or false";
    case "enum":
      return `allowed values: ${rule.values.map(show).join(", ")}`;
    case "only":
      return `allowed value: ${show(rule.value)}`;
    case "ignored":
      return "any value";
  }
}

/**
 * Validates `config` for the scheduler `className` and fills in that scheduler's defaults.
 * The result is frozen; `_class_name` must match.
 */
export function resolveConfig<K extends Key>(
  config: SchedulerConfig,
  className: SchedulerClassName,
  defaults: ConfigDefaults<K>,
): ResolvedConfig<K> {
  const checked = validateSchedulerConfig(config, className);
  if (checked._class_name !== className) {
    throw new SchedulerError(`${className}: the config is for "${checked._class_name}"; use createScheduler(config)`);
  }
  return Object.freeze({ ...defaults, ...checked }) as ResolvedConfig<K>;
}

/**
 * Reads a diffusers scheduler_config.json. Python's json module writes -Infinity / Infinity / NaN
 * as bare words (e.g. DPM-Solver's lambda_min_clipped); they are accepted.
 */
export function readSchedulerConfig(path: string): SchedulerConfig {
  let text: string;
  try {
    text = fs.readFileSync(path, "utf8");
  } catch (e) {
    throw new SchedulerError(`${path}: cannot read the scheduler config (${(e as Error).message})`);
  }
  const PY_NUMBERS: Record<string, number> = { "-Infinity": -Infinity, Infinity: Infinity, NaN: NaN };
  const quoted = text.replace(/([:\[,]\s*)(-Infinity|Infinity|NaN)(?=\s*[,\]}])/g, '$1"__py_number:$2"');
  let parsed: unknown;
  try {
    parsed = JSON.parse(quoted, (_key, value: unknown) =>
      typeof value === "string" && value.startsWith("__py_number:") ? PY_NUMBERS[value.slice(12)] : value,
    );
  } catch (e) {
    throw new SchedulerError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  return validateSchedulerConfig(parsed, path);
}

/**
 * Writes a scheduler config as diffusers' scheduler_config.json, atomically (util/atomic.ts).
 * `lambda_min_clipped: -Infinity` (the default) is left out, since JSON cannot hold it.
 */
export function writeSchedulerConfig(path: string, config: SchedulerConfig): void {
  const checked = validateSchedulerConfig(config, path);
  const record: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(checked)) {
    if (key === "lambda_min_clipped" && value === -Infinity) continue;
    if (typeof value === "number" && !Number.isFinite(value)) {
      throw new SchedulerError(`${path}: field "${key}" is ${value}, which JSON cannot hold`);
    }
    record[key] = value;
  }
  writeJsonAtomic(path, record);
}

// ---- the interface ---------------------------------------------------------------------------

export interface StepOptions {
  /** DDIM: the weight of the noise (0 = deterministic DDIM, 1 = DDPM-like). Default 0. */
  readonly eta?: number;
  /** Draws the variance noise of stochastic steps (DDPM, DDIM with eta > 0). */
  readonly generator?: Generator;
  /** The variance noise itself (same shape as the sample); takes precedence over `generator`. */
  readonly noise?: Tensor;
}

export interface StepOutput {
  /** x_{t-1}: the sample to feed to the next step. */
  readonly prevSample: Tensor;
  /** x0 as predicted at this step (before any multistep combination). */
  readonly predOriginalSample: Tensor;
}

/** The common surface of every scheduler (diffusers' SchedulerMixin, in camelCase). */
export interface Scheduler {
  readonly config: SchedulerConfig;
  /** Model calls per step (1 for every scheduler here). */
  readonly order: number;
  /** Multiply the initial Gaussian noise by this (1 except for Euler's sigma parameterisation). */
  readonly initNoiseSigma: number;
  /** alpha_bar_t of the training noise schedule, t = 0 .. num_train_timesteps - 1. */
  readonly alphasCumprod: Float64Array;
  /** The integer training timesteps of the model calls, in sampling order (set by setTimesteps). */
  timesteps: Int32Array;
  /** Chooses the sampling timesteps for `n` steps and clears the multistep history. */
  setTimesteps(n: number): void;
  /** The model input at timestep t (Euler divides by sqrt(sigma^2 + 1); others return `sample`). */
  scaleModelInput(sample: Tensor, t: number): Tensor;
  /** One reverse step from x_t at timestep t, given the model's output for (scaled x_t, t). */
  step(modelOutput: Tensor, t: number, sample: Tensor, options?: StepOptions): StepOutput;
  /** The forward process q(x_t | x_0), one timestep per batch item (first axis). */
  addNoise(original: Tensor, noise: Tensor, timesteps: Int32Array): Tensor;
  /** v = sqrt(alpha_bar_t) * noise - sqrt(1 - alpha_bar_t) * x_0, one timestep per batch item. */
  getVelocity(sample: Tensor, noise: Tensor, timesteps: Int32Array): Tensor;
  /** Clears the multistep history and step counter (setTimesteps does this too). */
  reset(): void;
}

/** A scheduler config or call that cannot work; the message names the field or argument. */
export class SchedulerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SchedulerError";
  }
}

// ---- factory -----------------------------------------------------------------------------------

const SCHEDULERS: Readonly<Record<SchedulerClassName, (config: SchedulerConfig) => Scheduler>> = {
  DDPMScheduler: (config) => new DDPMScheduler(config),
  DDIMScheduler: (config) => new DDIMScheduler(config),
  PNDMScheduler: (config) => new PNDMScheduler(config),
  DPMSolverMultistepScheduler: (config) => new DPMSolverMultistepScheduler(config),
  EulerDiscreteScheduler: (config) => new EulerDiscreteScheduler(config),
};

/** Builds the scheduler named by `config._class_name`. */
export function createScheduler(config: SchedulerConfig): Scheduler {
  const checked = validateSchedulerConfig(config);
  return SCHEDULERS[checked._class_name](checked);
}

// ---- numpy-compatible helpers ---------------------------------------------------------------

/** numpy.linspace(start, stop, num): start + i * ((stop - start) / (num - 1)), last value = stop. */
export function linspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  if (num === 1) {
    out[0] = start;
    return out;
  }
  const step = (stop - start) / (num - 1);
  for (let i = 0; i < num; i++) out[i] = i * step + start;
  out[num - 1] = stop;
  return out;
}

/** numpy.round: to the nearest integer, ties to even (Math.round sends ties up). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** numpy.interp(x, arange(len(fp)), fp) for x in [0, len - 1] (clamped outside). */
export function interpAtIndex(fp: Float64Array, x: number): number {
  if (x <= 0) return fp[0]!;
  if (x >= fp.length - 1) return fp[fp.length - 1]!;
  const j = Math.floor(x);
  const slope = fp[j + 1]! - fp[j]!; // xp[j + 1] - xp[j] = 1
  return slope * (x - j) + fp[j]!;
}

// ---- noise schedule --------------------------------------------------------------------------

/**
 * beta_1..beta_T of the forward process q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I):
 *  - linear: linspace(beta_start, beta_end, T) (Ho et al. 2020);
 *  - scaled_linear: linspace(sqrt(beta_start), sqrt(beta_end), T)^2 (latent diffusion / SD);
 *  - squaredcos_cap_v2: Nichol & Dhariwal (2021) eq. 17, alpha_bar(u) = cos^2((u + 0.008) / 1.008 * pi/2),
 *    beta_i = min(1 - alpha_bar((i+1)/T) / alpha_bar(i/T), 0.999).
 */
export function betasFor(config: {
  readonly num_train_timesteps: number;
  readonly beta_start: number;
  readonly beta_end: number;
  readonly beta_schedule: BetaSchedule;
}): Float64Array {
  const T = config.num_train_timesteps;
  switch (config.beta_schedule) {
    case "linear":
      return linspace(config.beta_start, config.beta_end, T);
    case "scaled_linear": {
      const roots = linspace(Math.sqrt(config.beta_start), Math.sqrt(config.beta_end), T);
      return roots.map((r) => r ** 2);
    }
    case "squaredcos_cap_v2": {
      const alphaBar = (u: number): number => Math.cos(((u + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
      const betas = new Float64Array(T);
      for (let i = 0; i < T; i++) betas[i] = Math.min(1 - alphaBar((i + 1) / T) / alphaBar(i / T), 0.999);
      return betas;
    }
  }
}

/** alpha_bar_t = prod_{s <= t} (1 - beta_s). */
export function alphasCumprod(betas: Float64Array): Float64Array {
  const out = new Float64Array(betas.length);
  let prod = 1;
  for (let i = 0; i < betas.length; i++) {
    prod *= 1 - betas[i]!;
    out[i] = prod;
  }
  return out;
}

// ---- timestep spacing ------------------------------------------------------------------------

export interface SpacingOptions {
  /**
   * DPM-Solver: lay out n + 1 points (leading, linspace) and drop the lowest one, since the solver's
   * last step goes to sigma = 0 rather than to a timestep.
   */
  readonly dropFinalPoint?: boolean;
  /** The grid's top end instead of T (DPM-Solver's lambda_min_clipped lowers it). */
  readonly lastTimestep?: number;
  /** Euler: keep linspace values fractional (as float32) instead of rounding them. */
  readonly fractional?: boolean;
}

/**
 * The descending timestep grid of diffusers' `set_timesteps` ("Common Diffusion Noise Schedules
 * and Sample Steps are Flawed", Lin et al. 2023, table 2), with T = num_train_timesteps:
 *  - leading:  round(arange(0, n) * (T // n))[::-1] + steps_offset
 *  - trailing: round(arange(T, 0, -T / n)) - 1
 *  - linspace: round(linspace(0, T - 1, n))[::-1]
 * round() ties go to even, like numpy. numpy's arange(T, 0, -T/n) sometimes yields n + 1 values
 * (n = 61, 103, ... for T = 1000), the last of which becomes timestep -1 in diffusers; we keep n.
 */
export function timestepGrid(
  n: number,
  config: { readonly num_train_timesteps: number; readonly timestep_spacing: TimestepSpacing; readonly steps_offset: number },
  options: SpacingOptions = {},
): Float64Array {
  const T = config.num_train_timesteps;
  const last = options.lastTimestep ?? T;
  const points = options.dropFinalPoint === true ? n + 1 : n;
  let grid: Float64Array;
  switch (config.timestep_spacing) {
    case "leading": {
      const ratio = Math.floor(last / points);
      grid = new Float64Array(points);
      for (let i = 0; i < points; i++) grid[i] = (points - 1 - i) * ratio + config.steps_offset;
      break;
    }
    case "trailing": {
      // numpy's arange(last, 0, -T/n) computes start + i * delta with delta = (start + step) - start.
      const delta = last + -(T / n) - last;
      grid = new Float64Array(n);
      for (let i = 0; i < n; i++) grid[i] = roundHalfEven(last + i * delta) - 1;
      return grid;
    }
    case "linspace": {
      const ascending = linspace(0, last - 1, points);
      grid = new Float64Array(points);
      for (let i = 0; i < points; i++) {
        const v = ascending[points - 1 - i]!;
        grid[i] = options.fractional === true ? Math.fround(v) : roundHalfEven(v);
      }
      break;
    }
  }
  return options.dropFinalPoint === true ? grid.slice(0, n) : grid;
}

/** DDPM/DDIM/PNDM spacing as integer timesteps; every one must lie in [0, T). */
export function spacedTimesteps(
  n: number,
  config: { readonly num_train_timesteps: number; readonly timestep_spacing: TimestepSpacing; readonly steps_offset: number },
  who = "scheduler",
): Int32Array {
  checkStepCount(n, config.num_train_timesteps, who);
  return toTrainingTimesteps(timestepGrid(n, config), config, who);
}

/** n must be an integer in [1, T]. */
export function checkStepCount(n: number, T: number, who: string): void {
  if (!Number.isInteger(n) || n < 1 || n > T) {
    throw new SchedulerError(`${who}: the number of inference steps must be an integer in [1, ${T}], got ${n}`);
  }
}

/** Converts a grid of integer values to an Int32Array, checking each lies in [0, T). */
export function toTrainingTimesteps(
  grid: Float64Array,
  config: { readonly num_train_timesteps: number; readonly timestep_spacing: TimestepSpacing; readonly steps_offset: number },
  who: string,
): Int32Array {
  const T = config.num_train_timesteps;
  const out = new Int32Array(grid.length);
  for (let i = 0; i < grid.length; i++) {
    const t = grid[i]!;
    if (!Number.isInteger(t) || t < 0 || t >= T) {
      throw new SchedulerError(
        `${who}: ${grid.length} steps with timestep_spacing "${config.timestep_spacing}" and steps_offset ` +
          `${config.steps_offset} give timestep ${t}, outside [0, ${T}); use fewer steps or another spacing`,
      );
    }
    out[i] = t;
  }
  return out;
}

/** Throws unless t is an integer training timestep in [0, T). */
export function checkTimestep(t: number, T: number, who: string): void {
  if (!Number.isInteger(t) || t < 0 || t >= T) {
    throw new SchedulerError(`${who}: timestep ${t} is not an integer in [0, ${T})`);
  }
}

// ---- elementwise helpers -----------------------------------------------------------------------

/** A tensor or a stored history buffer (multistep schedulers keep Float32Array copies). */
export type Elementwise = Tensor | Float32Array;

function valuesOf(x: Elementwise): Float32Array {
  return x instanceof Float32Array ? x : x.f32;
}

/**
 * sum_k c_k * x_k, evaluated per element left to right in float64 and stored as float32 in a new
 * tensor of `shape`. Every scheduler formula is written with this.
 */
export function lincomb(shape: readonly number[], ...terms: [number, Elementwise][]): Tensor {
  const out = Tensor.empty([...shape]);
  const o = out.f32;
  const arrays = terms.map(([, x]) => valuesOf(x));
  const coeffs = terms.map(([c]) => c);
  for (const a of arrays) {
    if (a.length !== o.length) throw new SchedulerError(`scheduler: tensors of ${a.length} and ${o.length} elements do not match`);
  }
  const k = terms.length;
  for (let i = 0; i < o.length; i++) {
    let acc = coeffs[0]! * arrays[0]![i]!;
    for (let j = 1; j < k; j++) acc += coeffs[j]! * arrays[j]![i]!;
    o[i] = acc;
  }
  return out;
}

/** A new tensor with every element clamped to [lo, hi]. */
export function clamp(x: Tensor, lo: number, hi: number): Tensor {
  const out = Tensor.empty([...x.shape]);
  const src = x.f32;
  const dst = out.f32;
  for (let i = 0; i < src.length; i++) dst[i] = Math.min(Math.max(src[i]!, lo), hi);
  return out;
}

/**
 * The model output as (x0, epsilon), for x_t = sqrt(alpha_bar) x0 + sqrt(1 - alpha_bar) eps:
 *  - epsilon:      x0 = (x_t - sqrt(1 - alpha_bar) eps) / sqrt(alpha_bar)
 *  - v_prediction: v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x0 (Salimans & Ho 2022), so
 *                  x0 = sqrt(alpha_bar) x_t - sqrt(1 - alpha_bar) v, eps = sqrt(alpha_bar) v + sqrt(1 - alpha_bar) x_t
 *  - sample:       x0 is the output; eps = (x_t - sqrt(alpha_bar) x0) / sqrt(1 - alpha_bar)
 * Both results are fresh tensors.
 */
export function modelOutputToX0Eps(
  predictionType: PredictionType,
  modelOutput: Tensor,
  sample: Tensor,
  alphaProd: number,
): { x0: Tensor; eps: Tensor } {
  requireSameShape(modelOutput, sample, "modelOutputToX0Eps");
  const a = Math.sqrt(alphaProd);
  const b = Math.sqrt(1 - alphaProd);
  const shape = sample.shape;
  switch (predictionType) {
    case "epsilon":
      return { x0: lincomb(shape, [1 / a, sample], [-b / a, modelOutput]), eps: lincomb(shape, [1, modelOutput]) };
    case "v_prediction":
      return { x0: lincomb(shape, [a, sample], [-b, modelOutput]), eps: lincomb(shape, [a, modelOutput], [b, sample]) };
    case "sample":
      return { x0: lincomb(shape, [1, modelOutput]), eps: lincomb(shape, [1 / b, sample], [-a / b, modelOutput]) };
  }
}

export function requireSameShape(a: Tensor, b: Tensor, who: string): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new SchedulerError(`${who}: shapes [${a.shape.join(", ")}] and [${b.shape.join(", ")}] differ`);
  }
}

/**
 * The variance noise of a stochastic step: `options.noise` (checked against the sample's shape)
 * or a fresh draw from `options.generator`.
 */
export function varianceNoise(options: StepOptions, sample: Tensor, who: string): Elementwise {
  if (options.noise !== undefined) {
    requireSameShape(options.noise, sample, `${who}.step noise`);
    return options.noise;
  }
  if (options.generator !== undefined) return options.generator.normal(sample.size);
  throw new SchedulerError(`${who}.step: this step adds noise; pass options.generator or options.noise`);
}

/**
 * c0[b] * x + c1[b] * y with per-batch-item coefficients (batch = first axis), as float32.
 * Used by addNoise / getVelocity.
 */
export function perItemLincomb(
  x: Tensor,
  y: Tensor,
  timesteps: Int32Array,
  T: number,
  coefficients: (t: number) => [number, number],
  who: string,
): Tensor {
  requireSameShape(x, y, who);
  const batch = x.shape[0] ?? 1;
  if (x.rank === 0 || timesteps.length !== batch) {
    throw new SchedulerError(`${who}: ${timesteps.length} timesteps for a batch of ${x.rank === 0 ? "a scalar" : batch} (one per item)`);
  }
  const out = Tensor.empty([...x.shape]);
  const xs = x.f32;
  const ys = y.f32;
  const o = out.f32;
  const per = batch === 0 ? 0 : x.size / batch;
  for (let b = 0; b < batch; b++) {
    const t = timesteps[b]!;
    checkTimestep(t, T, who);
    const [c0, c1] = coefficients(t);
    for (let i = b * per; i < (b + 1) * per; i++) o[i] = c0 * xs[i]! + c1 * ys[i]!;
  }
  return out;
}

/** q(x_t | x_0): sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) noise (DDPM eq. 4). */
export function addNoiseVP(alphasCumprod: Float64Array, original: Tensor, noise: Tensor, timesteps: Int32Array): Tensor {
  return perItemLincomb(
    original,
    noise,
    timesteps,
    alphasCumprod.length,
    (t) => [Math.sqrt(alphasCumprod[t]!), Math.sqrt(1 - alphasCumprod[t]!)],
    "addNoise",
  );
}

/** v = sqrt(alpha_bar_t) noise - sqrt(1 - alpha_bar_t) x_0 (Salimans & Ho 2022, section 4). */
export function velocityVP(alphasCumprod: Float64Array, sample: Tensor, noise: Tensor, timesteps: Int32Array): Tensor {
  return perItemLincomb(
    sample,
    noise,
    timesteps,
    alphasCumprod.length,
    (t) => [-Math.sqrt(1 - alphasCumprod[t]!), Math.sqrt(alphasCumprod[t]!)],
    "getVelocity",
  );
}

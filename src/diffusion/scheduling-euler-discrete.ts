/**
 * @file Euler's method on the probability-flow ODE in the sigma parameterisation (Karras, Aittala,
 * Aila & Laine 2022, "Elucidating the Design Space of Diffusion-Based Generative Models",
 * https://arxiv.org/abs/2206.00364, algorithm 1 without the second-order correction), as diffusers'
 * EulerDiscreteScheduler with s_churn = 0 (deterministic), interpolation_type "linear" and no
 * Karras sigmas.
 *
 * The sample lives in sigma space, x = x_0 + sigma * eps (x_VP = x / sqrt(sigma^2 + 1)), so
 *  - the initial noise is scaled by initNoiseSigma = max sigma for "linspace" / "trailing" spacing
 *    and sqrt(max sigma^2 + 1) for "leading" (exactly diffusers' rule);
 *  - scaleModelInput divides by sqrt(sigma^2 + 1) to give the VP-trained model its usual input;
 *  - addNoise returns x_0 + sigma_t * noise.
 *
 * Timesteps: diffusers keeps them as floats; with "linspace" spacing they are fractional
 * (linspace(0, T - 1, n), e.g. 832.5), and its UNet embeds the fraction. Here `timesteps` holds
 * them rounded to the nearest integer (ties to even, like numpy), because the model call and the
 * ALTER router take integer training timesteps. The sigmas still come from the exact fractional
 * timesteps (np.interp on the training sigmas), so the ODE integration is diffusers'; only the
 * model sees t rounded. With "leading" / "trailing" spacing all timesteps are integers anyway.
 *
 * Notation (paper → code):
 *   sigma_i, sigma_{i+1}     sigma, sigmas[i + 1]  (final sigma 0, or sigma_min for "sigma_min")
 *   D_theta(x; sigma)        predOriginalSample    (denoised x_0)
 *   d_i = (x_i - D) / sigma_i   derivative
 *   x_{i+1} = x_i + (sigma_{i+1} - sigma_i) d_i
 */
import type { Tensor } from "../engine/index.js";
import {
  alphasCumprod,
  betasFor,
  checkStepCount,
  interpAtIndex,
  lincomb,
  perItemLincomb,
  requireSameShape,
  resolveConfig,
  roundHalfEven,
  timestepGrid,
  toTrainingTimesteps,
  velocityVP,
  type ConfigDefaults,
  type ResolvedConfig,
  type Scheduler,
  type SchedulerConfig,
  type StepOptions,
  type StepOutput,
  SchedulerError,
} from "./scheduler.js";

type EulerKeys =
  | "num_train_timesteps"
  | "beta_start"
  | "beta_end"
  | "beta_schedule"
  | "prediction_type"
  | "timestep_spacing"
  | "steps_offset"
  | "final_sigmas_type";

const DEFAULTS: ConfigDefaults<EulerKeys> = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: "linear",
  prediction_type: "epsilon",
  timestep_spacing: "linspace",
  steps_offset: 0,
  final_sigmas_type: "zero",
};

export class EulerDiscreteScheduler implements Scheduler {
  readonly config: ResolvedConfig<EulerKeys>;
  readonly order = 1;
  /** Integer timesteps for the model call (fractional linspace values rounded). */
  timesteps: Int32Array = new Int32Array(0);
  /** diffusers' float timesteps (float32 values) the sigmas are interpolated at. */
  exactTimesteps: Float64Array = new Float64Array(0);
  readonly alphasCumprod: Float64Array;
  /** sqrt((1 - alpha_bar_t) / alpha_bar_t) at every training timestep. */
  readonly trainSigmas: Float64Array;
  /** sigma of each step, then the final sigma (float32 values, as diffusers). */
  sigmas: Float64Array = new Float64Array(0);
  #stepIndex: number | null = null;

  constructor(config: SchedulerConfig = { _class_name: "EulerDiscreteScheduler" }) {
    this.config = resolveConfig(config, "EulerDiscreteScheduler", DEFAULTS);
    this.alphasCumprod = alphasCumprod(betasFor(this.config));
    this.trainSigmas = this.alphasCumprod.map((a) => Math.sqrt((1 - a) / a));
  }

  get initNoiseSigma(): number {
    let maxSigma = 0;
    for (const s of this.sigmas.length > 0 ? this.sigmas : this.trainSigmas) maxSigma = Math.max(maxSigma, s);
    const spacing = this.config.timestep_spacing;
    return spacing === "linspace" || spacing === "trailing" ? maxSigma : Math.sqrt(maxSigma ** 2 + 1);
  }

  setTimesteps(n: number): void {
    const cfg = this.config;
    checkStepCount(n, cfg.num_train_timesteps, "EulerDiscreteScheduler");
    // 1. diffusers' float timesteps (float32), and their integer versions for the model
    const exact = timestepGrid(n, cfg, { fractional: true });
    const rounded = toTrainingTimesteps(exact.map(roundHalfEven), cfg, "EulerDiscreteScheduler");
    // 2. sigmas interpolated at the exact timesteps, plus the final sigma, as float32
    const sigmas = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) sigmas[i] = Math.fround(interpAtIndex(this.trainSigmas, exact[i]!));
    sigmas[n] = Math.fround(cfg.final_sigmas_type === "sigma_min" ? this.trainSigmas[0]! : 0);
    this.exactTimesteps = exact;
    this.timesteps = rounded;
    this.sigmas = sigmas;
    this.reset();
  }

  /** diffusers' index_for_timestep: the first match, or the second if t repeats. */
  #index(t: number): number {
    if (this.#stepIndex !== null) return this.#stepIndex;
    if (this.timesteps.length === 0) throw new SchedulerError("EulerDiscreteScheduler: call setTimesteps first");
    const matches: number[] = [];
    this.timesteps.forEach((v, i) => {
      if (v === t) matches.push(i);
    });
    if (matches.length === 0) throw new SchedulerError(`EulerDiscreteScheduler: timestep ${t} is not in the schedule`);
    this.#stepIndex = matches.length > 1 ? matches[1]! : matches[0]!;
    return this.#stepIndex;
  }

  /** x / sqrt(sigma^2 + 1): the VP-scaled input the model was trained on. */
  scaleModelInput(sample: Tensor, t: number): Tensor {
    const sigma = this.sigmas[this.#index(t)]!;
    return lincomb(sample.shape, [1 / Math.sqrt(sigma ** 2 + 1), sample]);
  }

  step(modelOutput: Tensor, t: number, sample: Tensor, _options: StepOptions = {}): StepOutput {
    requireSameShape(modelOutput, sample, "EulerDiscreteScheduler.step");
    const i = this.#index(t);
    if (i >= this.timesteps.length) throw new SchedulerError("EulerDiscreteScheduler.step: all steps are done; call setTimesteps or reset");
    const shape = sample.shape;

    // 1. sigma_hat = sigma (s_churn = 0, so gamma = 0 and no noise is added)
    const sigma = this.sigmas[i]!;
    const sigmaHat = sigma;

    // 2. denoised x_0 from the model output
    let predOriginalSample: Tensor;
    switch (this.config.prediction_type) {
      case "epsilon":
        predOriginalSample = lincomb(shape, [1, sample], [-sigmaHat, modelOutput]);
        break;
      case "v_prediction": // c_out = -sigma / sqrt(sigma^2 + 1), c_skip = 1 / (sigma^2 + 1)
        predOriginalSample = lincomb(shape, [-sigma / Math.sqrt(sigma ** 2 + 1), modelOutput], [1 / (sigma ** 2 + 1), sample]);
        break;
      case "sample":
        predOriginalSample = lincomb(shape, [1, modelOutput]);
        break;
    }

    // 3. the ODE derivative d = (x - D) / sigma_hat
    const derivative = lincomb(shape, [1 / sigmaHat, sample], [-1 / sigmaHat, predOriginalSample]);

    // 4. Euler step to sigma_{i+1}
    const dt = this.sigmas[i + 1]! - sigmaHat;
    const prevSample = lincomb(shape, [1, sample], [dt, derivative]);
    derivative.dispose();
    this.#stepIndex = i + 1;
    return { prevSample, predOriginalSample };
  }

  /**
   * x_0 + sigma_t * noise at integer timesteps t (sigma-space forward process). diffusers looks the
   * sigma up in the schedule; for a scheduled integer timestep that is the same value (up to its
   * float32 rounding), and here any training timestep works.
   */
  addNoise(original: Tensor, noise: Tensor, timesteps: Int32Array): Tensor {
    return perItemLincomb(original, noise, timesteps, this.trainSigmas.length, (t) => [1, this.trainSigmas[t]!], "addNoise");
  }

  /** The VP velocity (diffusers' Euler has no get_velocity; this is the DDPM definition). */
  getVelocity(sample: Tensor, noise: Tensor, timesteps: Int32Array): Tensor {
    return velocityVP(this.alphasCumprod, sample, noise, timesteps);
  }

  reset(): void {
    this.#stepIndex = null;
  }
}

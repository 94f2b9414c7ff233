/**
 * @file DDIM (Song, Meng & Ermon 2021, "Denoising Diffusion Implicit Models",
 * https://arxiv.org/abs/2010.02502), as diffusers' DDIMScheduler: eq. 12 with sigma_t(eta) from
 * eq. 16. eta = 0 is the deterministic sampler. As in diffusers, the previous timestep is
 * t - T // n whatever the spacing.
 *
 * Notation (paper → code; the paper's alpha_t is diffusers' alphas_cumprod):
 *   alpha_t            alphaProdT
 *   alpha_{t-1}        alphaProdPrev     (final step: 1 if set_alpha_to_one, else alphas_cumprod[0])
 *   x_0 hat            predOriginalSample ("predicted x_0" in eq. 12)
 *   eps_theta          predEpsilon
 *   sigma_t            stdDevT           = eta * sqrt((1 - alpha_{t-1}) / (1 - alpha_t)) * sqrt(1 - alpha_t / alpha_{t-1})
 *   direction to x_t   sqrt(1 - alpha_{t-1} - sigma_t^2) * eps_theta
 */
import type { Tensor } from "../engine/index.js";
import {
  addNoiseVP,
  alphasCumprod,
  betasFor,
  checkTimestep,
  clamp,
  lincomb,
  modelOutputToX0Eps,
  requireSameShape,
  resolveConfig,
  spacedTimesteps,
  varianceNoise,
  velocityVP,
  type ConfigDefaults,
  type ResolvedConfig,
  type Scheduler,
  type SchedulerConfig,
  type StepOptions,
  type StepOutput,
  SchedulerError,
} from "./scheduler.js";

type DDIMKeys =
  | "num_train_timesteps"
  | "beta_start"
  | "beta_end"
  | "beta_schedule"
  | "prediction_type"
  | "timestep_spacing"
  | "steps_offset"
  | "clip_sample"
  | "clip_sample_range"
  | "set_alpha_to_one";

const DEFAULTS: ConfigDefaults<DDIMKeys> = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: "linear",
  prediction_type: "epsilon",
  timestep_spacing: "leading",
  steps_offset: 0,
  clip_sample: true,
  clip_sample_range: 1.0,
  set_alpha_to_one: true,
};

export class DDIMScheduler implements Scheduler {
  readonly config: ResolvedConfig<DDIMKeys>;
  readonly order = 1;
  readonly initNoiseSigma = 1;
  timesteps: Int32Array = new Int32Array(0);
  readonly alphasCumprod: Float64Array;
  /** alpha_bar used past t = 0. */
  readonly finalAlphaCumprod: number;
  #numInferenceSteps = 0;

  constructor(config: SchedulerConfig = { _class_name: "DDIMScheduler" }) {
    this.config = resolveConfig(config, "DDIMScheduler", DEFAULTS);
    this.alphasCumprod = alphasCumprod(betasFor(this.config));
    this.finalAlphaCumprod = this.config.set_alpha_to_one ? 1 : this.alphasCumprod[0]!;
  }

  setTimesteps(n: number): void {
    this.timesteps = spacedTimesteps(n, this.config, "DDIMScheduler");
    this.#numInferenceSteps = n;
  }

  scaleModelInput(sample: Tensor, _t: number): Tensor {
    return sample;
  }

  step(modelOutput: Tensor, t: number, sample: Tensor, options: StepOptions = {}): StepOutput {
    const cfg = this.config;
    if (this.#numInferenceSteps === 0) throw new SchedulerError("DDIMScheduler.step: call setTimesteps first");
    checkTimestep(t, cfg.num_train_timesteps, "DDIMScheduler.step");
    requireSameShape(modelOutput, sample, "DDIMScheduler.step");
    const eta = options.eta ?? 0;
    if (!(eta >= 0)) throw new SchedulerError(`DDIMScheduler.step: eta must be >= 0, got ${eta}`);

    // 1. previous timestep t - T // n
    const prevT = t - Math.floor(cfg.num_train_timesteps / this.#numInferenceSteps);

    // 2. alphas and betas
    const alphaProdT = this.alphasCumprod[t]!;
    const alphaProdPrev = prevT >= 0 ? this.alphasCumprod[prevT]! : this.finalAlphaCumprod;
    const betaProdT = 1 - alphaProdT;
    const betaProdPrev = 1 - alphaProdPrev;

    // 3. predicted x_0 and epsilon from the model output
    const { x0, eps: predEpsilon } = modelOutputToX0Eps(cfg.prediction_type, modelOutput, sample, alphaProdT);

    // 4. clip x_0 hat (epsilon stays the model's, as diffusers without use_clipped_model_output)
    const predOriginalSample = cfg.clip_sample ? clamp(x0, -cfg.clip_sample_range, cfg.clip_sample_range) : x0;

    // 5. sigma_t(eta), eq. 16
    const variance = (betaProdPrev / betaProdT) * (1 - alphaProdT / alphaProdPrev);
    const stdDevT = eta * Math.sqrt(variance);

    // 6. x_{t-1} = sqrt(alpha_{t-1}) x_0 + sqrt(1 - alpha_{t-1} - sigma_t^2) eps + sigma_t z   (eq. 12)
    const x0Coeff = Math.sqrt(alphaProdPrev);
    const epsCoeff = Math.sqrt(1 - alphaProdPrev - stdDevT ** 2);
    const shape = sample.shape;
    const prevSample =
      eta > 0
        ? lincomb(shape, [x0Coeff, predOriginalSample], [epsCoeff, predEpsilon], [stdDevT, varianceNoise(options, sample, "DDIMScheduler")])
        : lincomb(shape, [x0Coeff, predOriginalSample], [epsCoeff, predEpsilon]);
    return { prevSample, predOriginalSample };
  }

  addNoise(original: Tensor, noise: Tensor, timesteps: Int32Array): Tensor {
    return addNoiseVP(this.alphasCumprod, original, noise, timesteps);
  }

  getVelocity(sample: Tensor, noise: Tensor, timesteps: Int32Array): Tensor {
    return velocityVP(this.alphasCumprod, sample, noise, timesteps);
  }

  reset(): void {
    // DDIM keeps no history.
  }
}

/**
 * @file DDPM ancestral sampling (Ho, Jain & Abbeel 2020, "Denoising Diffusion Probabilistic
 * Models", https://arxiv.org/abs/2006.11239), as diffusers' DDPMScheduler (0.27+): on a spaced
 * schedule the "previous" timestep is the next one in `timesteps` (-1 after the last).
 *
 * Notation (paper → code):
 *   alpha_bar_t        alphaProdT        (alphas_cumprod[t])
 *   alpha_bar_{t'}     alphaProdPrev     (t' = the next timestep of the schedule; 1 when t' < 0)
 *   beta_t (spaced)    currentBetaT      = 1 - alpha_bar_t / alpha_bar_{t'}
 *   x_0 hat            predOriginalSample
 *   mu_tilde_t         predPrevSample    (eq. 7: coefficients on x_0 and x_t)
 *   beta_tilde_t       variance          (eq. 7; "fixed_small"), or beta_t ("fixed_large")
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

type DDPMKeys =
  | "num_train_timesteps"
  | "beta_start"
  | "beta_end"
  | "beta_schedule"
  | "prediction_type"
  | "timestep_spacing"
  | "steps_offset"
  | "clip_sample"
  | "clip_sample_range"
  | "variance_type";

const DEFAULTS: ConfigDefaults<DDPMKeys> = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: "linear",
  prediction_type: "epsilon",
  timestep_spacing: "leading",
  steps_offset: 0,
  clip_sample: true,
  clip_sample_range: 1.0,
  variance_type: "fixed_small",
};

export class DDPMScheduler implements Scheduler {
  readonly config: ResolvedConfig<DDPMKeys>;
  readonly order = 1;
  readonly initNoiseSigma = 1;
  timesteps: Int32Array = new Int32Array(0);
  readonly alphasCumprod: Float64Array;

  constructor(config: SchedulerConfig = { _class_name: "DDPMScheduler" }) {
    this.config = resolveConfig(config, "DDPMScheduler", DEFAULTS);
    this.alphasCumprod = alphasCumprod(betasFor(this.config));
  }

  setTimesteps(n: number): void {
    this.timesteps = spacedTimesteps(n, this.config, "DDPMScheduler");
  }

  scaleModelInput(sample: Tensor, _t: number): Tensor {
    return sample;
  }

  /** The next timestep of the schedule after t (-1 after the last; t - 1 before setTimesteps). */
  previousTimestep(t: number): number {
    if (this.timesteps.length === 0) return t - 1;
    const index = this.timesteps.indexOf(t);
    if (index < 0) throw new SchedulerError(`DDPMScheduler.step: timestep ${t} is not in the schedule set by setTimesteps`);
    return index + 1 < this.timesteps.length ? this.timesteps[index + 1]! : -1;
  }

  step(modelOutput: Tensor, t: number, sample: Tensor, options: StepOptions = {}): StepOutput {
    const cfg = this.config;
    checkTimestep(t, cfg.num_train_timesteps, "DDPMScheduler.step");
    requireSameShape(modelOutput, sample, "DDPMScheduler.step");
    const prevT = this.previousTimestep(t);

    // 1. alphas and betas of the (possibly spaced) step t -> t'
    const alphaProdT = this.alphasCumprod[t]!;
    const alphaProdPrev = prevT >= 0 ? this.alphasCumprod[prevT]! : 1;
    const betaProdT = 1 - alphaProdT;
    const betaProdPrev = 1 - alphaProdPrev;
    const currentAlphaT = alphaProdT / alphaProdPrev;
    const currentBetaT = 1 - currentAlphaT;

    // 2. predicted x_0 from the model output (eq. 15 for epsilon)
    let predOriginalSample = modelOutputToX0Eps(cfg.prediction_type, modelOutput, sample, alphaProdT).x0;

    // 3. clip x_0 hat
    if (cfg.clip_sample) predOriginalSample = clamp(predOriginalSample, -cfg.clip_sample_range, cfg.clip_sample_range);

    // 4. coefficients of the posterior mean mu_tilde_t(x_t, x_0) (eq. 7)
    const x0Coeff = (Math.sqrt(alphaProdPrev) * currentBetaT) / betaProdT;
    const xtCoeff = (Math.sqrt(currentAlphaT) * betaProdPrev) / betaProdT;

    // 5. standard deviation of the added noise (none at t = 0)
    let std = 0;
    if (t > 0) {
      const variance = Math.max((betaProdPrev / betaProdT) * currentBetaT, 1e-20); // beta_tilde_t
      switch (cfg.variance_type) {
        case "fixed_small":
          std = Math.sqrt(variance);
          break;
        case "fixed_small_log": // exp(0.5 * log(beta_tilde)), as diffusers writes it
          std = Math.exp(0.5 * Math.log(variance));
          break;
        case "fixed_large":
          std = Math.sqrt(currentBetaT);
          break;
      }
    }

    // 6. x_{t'} = mu_tilde_t + sigma_t z
    const shape = sample.shape;
    const prevSample =
      std !== 0
        ? lincomb(shape, [x0Coeff, predOriginalSample], [xtCoeff, sample], [std, varianceNoise(options, sample, "DDPMScheduler")])
        : lincomb(shape, [x0Coeff, predOriginalSample], [xtCoeff, sample]);
    return { prevSample, predOriginalSample };
  }

  addNoise(original: Tensor, noise: Tensor, timesteps: Int32Array): Tensor {
    return addNoiseVP(this.alphasCumprod, original, noise, timesteps);
  }

  getVelocity(sample: Tensor, noise: Tensor, timesteps: Int32Array): Tensor {
    return velocityVP(this.alphasCumprod, sample, noise, timesteps);
  }

  reset(): void {
    // DDPM keeps no history.
  }
}

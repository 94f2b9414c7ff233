/**
 * @file PNDM's pseudo linear multistep sampler, PLMS (Liu, Ren, Lin & Zhao 2022, "Pseudo Numerical
 * Methods for Diffusion Models on Manifolds", https://arxiv.org/abs/2202.09778), as diffusers'
 * PNDMScheduler with skip_prk_steps = true (Stable Diffusion's setting). The Runge-Kutta warm-up
 * (skip_prk_steps = false) is not supported.
 *
 * The schedule repeats its second timestep: for ascending spaced timesteps ts,
 * timesteps = reverse(concat(ts[:-1], ts[-2:-1], ts[-1:])), n + 1 model calls for n steps. The first
 * two calls form a second-order (Heun-like) warm-up: call 0 steps from x_t with eps_0 and keeps x_t;
 * call 1 (at the repeated timestep) averages its output with eps_0 and redoes the step from the kept
 * x_t. After that the Adams-Bashforth combinations of the last 2, 3, then 4 outputs are used.
 *
 * Notation (paper → code):
 *   e_t, e_{t-delta}, ...   ets (model outputs, newest last)
 *   e_t' (combined)         epsPrime        (eq. 12, AB coefficients 55, -59, 37, -9 over 24)
 *   phi(x_t, e_t', t, t-delta) the transfer of eq. 11:
 *     x_{t-delta} = sqrt(alpha_{t-delta} / alpha_t) x_t
 *                 - (alpha_{t-delta} - alpha_t) e' / (alpha_t sqrt(1 - alpha_{t-delta}) + sqrt(alpha_t (1 - alpha_t) alpha_{t-delta}))
 *   alpha_t                  alphaProdT (alphas_cumprod); delta = T // n (also for trailing / linspace, as diffusers)
 */
import type { Tensor } from "../engine/index.js";
import {
  addNoiseVP,
  alphasCumprod,
  betasFor,
  checkTimestep,
  lincomb,
  modelOutputToX0Eps,
  requireSameShape,
  resolveConfig,
  spacedTimesteps,
  velocityVP,
  type ConfigDefaults,
  type ResolvedConfig,
  type Scheduler,
  type SchedulerConfig,
  type StepOptions,
  type StepOutput,
  SchedulerError,
} from "./scheduler.js";

type PNDMKeys =
  | "num_train_timesteps"
  | "beta_start"
  | "beta_end"
  | "beta_schedule"
  | "prediction_type"
  | "timestep_spacing"
  | "steps_offset"
  | "set_alpha_to_one"
  | "skip_prk_steps";

const DEFAULTS: ConfigDefaults<PNDMKeys> = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: "linear",
  prediction_type: "epsilon",
  timestep_spacing: "leading",
  steps_offset: 0,
  set_alpha_to_one: false,
  skip_prk_steps: false,
};

export class PNDMScheduler implements Scheduler {
  readonly config: ResolvedConfig<PNDMKeys>;
  readonly order = 1;
  readonly initNoiseSigma = 1;
  timesteps: Int32Array = new Int32Array(0);
  readonly alphasCumprod: Float64Array;
  readonly finalAlphaCumprod: number;
  #numInferenceSteps = 0;
  /** Past model outputs (float32 copies, newest last, at most 4). */
  #ets: Float32Array[] = [];
  /** x_t kept by the first call for the second one. */
  #curSample: Float32Array | null = null;
  #counter = 0;

  constructor(config: SchedulerConfig = { _class_name: "PNDMScheduler" }) {
    this.config = resolveConfig(config, "PNDMScheduler", DEFAULTS);
    if (!this.config.skip_prk_steps) {
      throw new SchedulerError(
        'PNDMScheduler: skip_prk_steps = false (Runge-Kutta warm-up steps) is not supported; set "skip_prk_steps": true (PLMS only, as Stable Diffusion)',
      );
    }
    if (this.config.prediction_type === "sample") {
      throw new SchedulerError('PNDMScheduler: prediction_type "sample" is not supported; allowed values: "epsilon", "v_prediction"');
    }
    this.alphasCumprod = alphasCumprod(betasFor(this.config));
    this.finalAlphaCumprod = this.config.set_alpha_to_one ? 1 : this.alphasCumprod[0]!;
  }

  setTimesteps(n: number): void {
    const descending = spacedTimesteps(n, this.config, "PNDMScheduler");
    // ascending ts → concat(ts[:-1], ts[-2:-1], ts[-1:]) → descending again
    const ascending = descending.slice().reverse();
    const plms = [...ascending.slice(0, -1), ...ascending.slice(-2, -1), ...ascending.slice(-1)];
    this.timesteps = Int32Array.from(plms.reverse());
    this.#numInferenceSteps = n;
    this.reset();
  }

  scaleModelInput(sample: Tensor, _t: number): Tensor {
    return sample;
  }

  step(modelOutput: Tensor, t: number, sample: Tensor, _options: StepOptions = {}): StepOutput {
    const cfg = this.config;
    if (this.#numInferenceSteps === 0) throw new SchedulerError("PNDMScheduler.step: call setTimesteps first");
    checkTimestep(t, cfg.num_train_timesteps, "PNDMScheduler.step");
    requireSameShape(modelOutput, sample, "PNDMScheduler.step");
    const shape = sample.shape;
    const delta = Math.floor(cfg.num_train_timesteps / this.#numInferenceSteps);
    // Reported x_0: from this call's own output at (x_t, t), before any multistep combination.
    const predOriginalSample = modelOutputToX0Eps(cfg.prediction_type, modelOutput, sample, this.alphasCumprod[t]!).x0;

    // 1. the transfer's endpoints t -> prevT; the second call redoes the first call's step
    let from = t;
    let prevT = t - delta;
    if (this.#counter !== 1) {
      this.#ets = this.#ets.slice(-3);
      this.#ets.push(modelOutput.f32.slice());
    } else {
      prevT = t;
      from = t + delta;
    }
    checkTimestep(from, cfg.num_train_timesteps, "PNDMScheduler.step");

    // 2. the combined noise estimate e' (linear multistep, eq. 12) and the x_t it applies to
    const ets = this.#ets;
    let x: Tensor | Float32Array = sample;
    let epsPrime: Tensor;
    if (ets.length === 1 && this.#counter === 0) {
      epsPrime = lincomb(shape, [1, modelOutput]);
      this.#curSample = sample.f32.slice();
    } else if (ets.length === 1 && this.#counter === 1) {
      epsPrime = lincomb(shape, [0.5, modelOutput], [0.5, ets[0]!]);
      x = this.#curSample!;
      this.#curSample = null;
    } else if (ets.length === 2) {
      epsPrime = lincomb(shape, [1.5, ets[1]!], [-0.5, ets[0]!]);
    } else if (ets.length === 3) {
      epsPrime = lincomb(shape, [23 / 12, ets[2]!], [-16 / 12, ets[1]!], [5 / 12, ets[0]!]);
    } else {
      epsPrime = lincomb(shape, [55 / 24, ets[3]!], [-59 / 24, ets[2]!], [37 / 24, ets[1]!], [-9 / 24, ets[0]!]);
    }

    // 3. alphas at both ends
    const alphaProdT = this.alphasCumprod[from]!;
    const alphaProdPrev = prevT >= 0 ? this.alphasCumprod[prevT]! : this.finalAlphaCumprod;
    const betaProdT = 1 - alphaProdT;
    const betaProdPrev = 1 - alphaProdPrev;

    // 4. v_prediction: turn the combined output into epsilon with the current x_t
    if (cfg.prediction_type === "v_prediction") {
      epsPrime = lincomb(shape, [Math.sqrt(alphaProdT), epsPrime], [Math.sqrt(betaProdT), x]);
    }

    // 5. the transfer phi (eq. 11)
    const sampleCoeff = Math.sqrt(alphaProdPrev / alphaProdT);
    const denom = alphaProdT * Math.sqrt(betaProdPrev) + Math.sqrt(alphaProdT * betaProdT * alphaProdPrev);
    const prevSample = lincomb(shape, [sampleCoeff, x], [-(alphaProdPrev - alphaProdT) / denom, epsPrime]);
    this.#counter++;
    return { prevSample, predOriginalSample };
  }

  addNoise(original: Tensor, noise: Tensor, timesteps: Int32Array): Tensor {
    return addNoiseVP(this.alphasCumprod, original, noise, timesteps);
  }

  getVelocity(sample: Tensor, noise: Tensor, timesteps: Int32Array): Tensor {
    return velocityVP(this.alphasCumprod, sample, noise, timesteps);
  }

  reset(): void {
    this.#ets = [];
    this.#curSample = null;
    this.#counter = 0;
  }
}

/**
 * @file DPM-Solver++(2M), the multistep second-order solver in data prediction (Lu, Zhou, Bao,
 * Chen, Li & Zhu 2022, "DPM-Solver++", https://arxiv.org/abs/2211.01095, algorithm 2), as
 * diffusers' DPMSolverMultistepScheduler with algorithm_type "dpmsolver++" (solver_order 1 or 2,
 * solver_type "midpoint" or "heun").
 *
 * Schedule (as diffusers): timesteps are n + 1 points of the spacing with the lowest dropped
 * (leading, linspace; trailing as usual), sigmas = interp(timesteps, sqrt((1 - alpha_bar) / alpha_bar))
 * stored as float32, plus a final sigma: 0 for final_sigmas_type "zero" (the default) or the
 * smallest training sigma for "sigma_min". With "zero" the last step is always first order, so the
 * result is exactly the last predicted x0 (diffusers 0.27+ forces this; it also applies
 * lower_order_final for < 15 steps and euler_at_final).
 *
 * Notation (paper → code), with the VP pair derived from sigma as alpha = 1 / sqrt(sigma^2 + 1),
 * sigma_t = sigma * alpha:
 *   alpha_t, sigma_t         alphaT, sigmaT          (target of this step, sigmas[i + 1])
 *   alpha_s0, sigma_s0       alphaS0, sigmaS0        (current, sigmas[i]); s1 = previous (sigmas[i - 1])
 *   lambda = log(alpha / sigma)  the half log-SNR; h = lambda_t - lambda_s0, h_0 = lambda_s0 - lambda_s1
 *   r_0 = h_0 / h
 *   x_theta(x_s, s)          model outputs converted to x0 (m0 now, m1 previous step), kept in history
 *   D0 = m0, D1 = (m0 - m1) / r0
 *   first order:  x_t = (sigma_t / sigma_s0) x_s - alpha_t (e^{-h} - 1) D0        (DDIM-equivalent)
 *   midpoint 2M:  x_t = (sigma_t / sigma_s0) x_s - alpha_t (e^{-h} - 1) D0 - 0.5 alpha_t (e^{-h} - 1) D1
 *   heun 2M:      x_t = (sigma_t / sigma_s0) x_s - alpha_t (e^{-h} - 1) D0 + alpha_t ((e^{-h} - 1) / h + 1) D1
 */
import type { Tensor } from "../engine/index.js";
import {
  addNoiseVP,
  alphasCumprod,
  betasFor,
  checkStepCount,
  interpAtIndex,
  lincomb,
  requireSameShape,
  resolveConfig,
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

type DPMKeys =
  | "num_train_timesteps"
  | "beta_start"
  | "beta_end"
  | "beta_schedule"
  | "prediction_type"
  | "timestep_spacing"
  | "steps_offset"
  | "algorithm_type"
  | "solver_order"
  | "solver_type"
  | "lower_order_final"
  | "euler_at_final"
  | "final_sigmas_type"
  | "lambda_min_clipped";

const DEFAULTS: ConfigDefaults<DPMKeys> = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: "linear",
  prediction_type: "epsilon",
  timestep_spacing: "linspace",
  steps_offset: 0,
  algorithm_type: "dpmsolver++",
  solver_order: 2,
  solver_type: "midpoint",
  lower_order_final: true,
  euler_at_final: false,
  final_sigmas_type: "zero",
  lambda_min_clipped: -Infinity,
};

/** (alpha_t, sigma_t) of the VP process from the EDM-style sigma = sigma_t / alpha_t. */
function alphaSigma(sigma: number): [number, number] {
  const alpha = 1 / Math.sqrt(sigma ** 2 + 1);
  return [alpha, sigma * alpha];
}

export class DPMSolverMultistepScheduler implements Scheduler {
  readonly config: ResolvedConfig<DPMKeys>;
  readonly order = 1;
  readonly initNoiseSigma = 1;
  timesteps: Int32Array = new Int32Array(0);
  readonly alphasCumprod: Float64Array;
  /** sigma at each timestep of the schedule, then the final sigma (float32 values). */
  sigmas: Float64Array = new Float64Array(0);
  /** x0 predictions of the last solver_order steps (float32 copies, newest last). */
  #modelOutputs: Float32Array[] = [];
  #lowerOrderNums = 0;
  #stepIndex: number | null = null;

  constructor(config: SchedulerConfig = { _class_name: "DPMSolverMultistepScheduler" }) {
    this.config = resolveConfig(config, "DPMSolverMultistepScheduler", DEFAULTS);
    this.alphasCumprod = alphasCumprod(betasFor(this.config));
  }

  setTimesteps(n: number): void {
    const cfg = this.config;
    const T = cfg.num_train_timesteps;
    const who = "DPMSolverMultistepScheduler";
    checkStepCount(n, T, who);
    // 1. top of the grid: T minus the timesteps whose lambda is below lambda_min_clipped
    const ac = this.alphasCumprod;
    let clipped = 0;
    for (let i = T - 1; i >= 0; i--) {
      const lambda = Math.log(Math.sqrt(ac[i]!)) - Math.log(Math.sqrt(1 - ac[i]!));
      if (lambda < cfg.lambda_min_clipped) clipped++;
      else break;
    }
    // 2. timesteps: n + 1 grid points, the lowest dropped
    const grid = timestepGrid(n, cfg, { dropFinalPoint: true, lastTimestep: T - clipped });
    const timesteps = toTrainingTimesteps(grid, cfg, who);
    for (let i = 1; i < timesteps.length; i++) {
      if (timesteps[i]! >= timesteps[i - 1]!) {
        throw new SchedulerError(
          `${who}: ${n} steps with timestep_spacing "${cfg.timestep_spacing}" repeat timestep ${timesteps[i]}; use fewer steps`,
        );
      }
    }
    // 3. sigmas at those timesteps plus the final sigma, as float32 (diffusers stores them so)
    const trainSigmas = ac.map((a) => Math.sqrt((1 - a) / a));
    const sigmaLast = cfg.final_sigmas_type === "sigma_min" ? trainSigmas[0]! : 0;
    const sigmas = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) sigmas[i] = Math.fround(interpAtIndex(trainSigmas, timesteps[i]!));
    sigmas[n] = Math.fround(sigmaLast);
    this.timesteps = timesteps;
    this.sigmas = sigmas;
    this.reset();
  }

  scaleModelInput(sample: Tensor, _t: number): Tensor {
    return sample;
  }

  /** diffusers' index_for_timestep: the first match, the second if t repeats, the last if absent. */
  #initStepIndex(t: number): number {
    const matches: number[] = [];
    this.timesteps.forEach((v, i) => {
      if (v === t) matches.push(i);
    });
    if (matches.length === 0) return this.timesteps.length - 1;
    return matches.length > 1 ? matches[1]! : matches[0]!;
  }

  step(modelOutput: Tensor, t: number, sample: Tensor, _options: StepOptions = {}): StepOutput {
    const cfg = this.config;
    const n = this.timesteps.length;
    if (n === 0) throw new SchedulerError("DPMSolverMultistepScheduler.step: call setTimesteps first");
    requireSameShape(modelOutput, sample, "DPMSolverMultistepScheduler.step");
    if (this.#stepIndex === null) this.#stepIndex = this.#initStepIndex(t);
    const i = this.#stepIndex;
    if (i >= n) throw new SchedulerError("DPMSolverMultistepScheduler.step: all steps are done; call setTimesteps or reset");
    const shape = sample.shape;

    // 1. does this step fall back to first order? (final step; see the file comment)
    const lowerOrderFinal =
      i === n - 1 &&
      (cfg.euler_at_final || (cfg.lower_order_final && n < 15) || cfg.final_sigmas_type === "zero");

    // 2. convert the model output to the data prediction x_theta(x_s, s) with alpha_s0, sigma_s0
    const [alphaS0, sigmaS0] = alphaSigma(this.sigmas[i]!);
    let x0: Tensor;
    switch (cfg.prediction_type) {
      case "epsilon":
        x0 = lincomb(shape, [1 / alphaS0, sample], [-sigmaS0 / alphaS0, modelOutput]);
        break;
      case "v_prediction":
        x0 = lincomb(shape, [alphaS0, sample], [-sigmaS0, modelOutput]);
        break;
      case "sample":
        x0 = lincomb(shape, [1, modelOutput]);
        break;
    }
    this.#modelOutputs.push(x0.f32.slice());
    if (this.#modelOutputs.length > cfg.solver_order) this.#modelOutputs.shift();

    // 3. h = lambda_t - lambda_s0 (lambda_t = +inf when sigma_t = 0, so e^{-h} = 0)
    const [alphaT, sigmaT] = alphaSigma(this.sigmas[i + 1]!);
    const lambdaT = Math.log(alphaT) - Math.log(sigmaT);
    const lambdaS0 = Math.log(alphaS0) - Math.log(sigmaS0);
    const h = lambdaT - lambdaS0;
    const expm = Math.exp(-h) - 1;

    // 4. the update: first order, or 2M with D1 = (m0 - m1) / r0 expanded into m0 and m1
    let prevSample: Tensor;
    if (cfg.solver_order === 1 || this.#lowerOrderNums < 1 || lowerOrderFinal) {
      prevSample = lincomb(shape, [sigmaT / sigmaS0, sample], [-(alphaT * expm), x0]);
    } else {
      const [alphaS1, sigmaS1] = alphaSigma(this.sigmas[i - 1]!);
      const lambdaS1 = Math.log(alphaS1) - Math.log(sigmaS1);
      const r0 = (lambdaS0 - lambdaS1) / h;
      const m0 = this.#modelOutputs[this.#modelOutputs.length - 1]!;
      const m1 = this.#modelOutputs[this.#modelOutputs.length - 2]!;
      const c0 = -(alphaT * expm); // on D0
      const c1 = cfg.solver_type === "midpoint" ? (-0.5 * (alphaT * expm)) / r0 : (alphaT * (expm / h + 1)) / r0; // on m0 - m1
      prevSample = lincomb(shape, [sigmaT / sigmaS0, sample], [c0 + c1, m0], [-c1, m1]);
    }

    // 5. bookkeeping
    if (this.#lowerOrderNums < cfg.solver_order) this.#lowerOrderNums++;
    this.#stepIndex = i + 1;
    return { prevSample, predOriginalSample: x0 };
  }

  /** q(x_t | x_0) at integer timesteps (diffusers looks the sigma up in the schedule: same values). */
  addNoise(original: Tensor, noise: Tensor, timesteps: Int32Array): Tensor {
    return addNoiseVP(this.alphasCumprod, original, noise, timesteps);
  }

  getVelocity(sample: Tensor, noise: Tensor, timesteps: Int32Array): Tensor {
    return velocityVP(this.alphasCumprod, sample, noise, timesteps);
  }

  reset(): void {
    this.#modelOutputs = [];
    this.#lowerOrderNums = 0;
    this.#stepIndex = null;
  }
}

/**
 * @file Sampler names for the command line, and building a sampler on a model's noise schedule (what
 * diffusers' `Scheduler.from_config(pipe.scheduler.config)` does: same betas and prediction type,
 * another sampling algorithm).
 */
import { createScheduler, SchedulerError, validateSchedulerConfig, type Scheduler, type SchedulerClassName } from "./scheduler.js";

export const SAMPLERS: Readonly<Record<string, SchedulerClassName>> = {
  ddpm: "DDPMScheduler",
  ddim: "DDIMScheduler",
  pndm: "PNDMScheduler",
  "dpm++2m": "DPMSolverMultistepScheduler",
  euler: "EulerDiscreteScheduler",
};

/** `source` names the model's scheduler_config.json in errors about its contents. */
export function samplerFor(modelSchedulerConfig: Record<string, unknown>, sampler: string, source?: string): Scheduler {
  const className = SAMPLERS[sampler];
  if (className === undefined) throw new SchedulerError(`--sampler: unknown sampler "${sampler}"; use one of ${Object.keys(SAMPLERS).join(", ")}`);
  const extra = className === "PNDMScheduler" ? { skip_prk_steps: true } : {};
  return createScheduler(validateSchedulerConfig({ ...modelSchedulerConfig, _class_name: className, ...extra }, source));
}

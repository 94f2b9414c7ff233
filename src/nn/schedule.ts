/**
 * @file Learning-rate schedules as pure functions of the step (diffusers' get_scheduler names):
 * the caller sets `optimizer.lr = schedule(step)` before each step.
 */

export type LearningRateSchedule = (step: number) => number;

/** Linear warmup from 0 to `lr` over `warmupSteps`, then constant. */
export function constantWithWarmup(lr: number, warmupSteps: number): LearningRateSchedule {
  return (step) => (warmupSteps > 0 && step < warmupSteps ? (lr * (step + 1)) / warmupSteps : lr);
}

/** The schedules a command line can name (diffusers' names, without the `_with_warmup`). */
export const SCHEDULE_NAMES = ["constant", "cosine"] as const;
export type ScheduleName = (typeof SCHEDULE_NAMES)[number];

/** A named schedule: linear warmup, then constant, or a cosine decay to 0 at `totalSteps`. */
export function scheduleByName(name: ScheduleName, lr: number, warmupSteps: number, totalSteps: number): LearningRateSchedule {
  return name === "cosine" ? cosineWithWarmup(lr, warmupSteps, totalSteps) : constantWithWarmup(lr, warmupSteps);
}

/** Linear warmup, constant until `decayStart`, then a half-cosine decay from `lr` to `minLr` at `totalSteps`: a
 * late start settles the weights at the end without changing anything before it. */
export function constantThenCosine(lr: number, warmupSteps: number, decayStart: number, totalSteps: number, minLr = 0): LearningRateSchedule {
  const start = Math.max(warmupSteps, decayStart);
  const warm = constantWithWarmup(lr, warmupSteps);
  return (step) => {
    if (step < start) return warm(step);
    const progress = Math.min(1, (step - start) / Math.max(1, totalSteps - start));
    return minLr + 0.5 * (lr - minLr) * (1 + Math.cos(Math.PI * progress));
  };
}

/** Linear warmup, then a half-cosine decay from `lr` to `minLr` at `totalSteps`. */
export function cosineWithWarmup(lr: number, warmupSteps: number, totalSteps: number, minLr = 0): LearningRateSchedule {
  return constantThenCosine(lr, warmupSteps, warmupSteps, totalSteps, minLr);
}

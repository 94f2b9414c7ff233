/**
 * @file `alter calibrate`: re-routes a pruned model's plan by every expert's measured error against
 * the teacher, at the same MAC budget (src/alter/calibrate.ts); writes a new model folder.
 */
import type { Command } from "commander";
import { cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { loadModelFolder } from "../../models/pretrained.js";
import { loadImageDataset, splitValidation } from "../../data/fashion-mnist.js";
import { createScheduler, validateSchedulerConfig } from "../../diffusion/scheduler.js";
import { loadPlanFor } from "../../alter/inference.js";
import { PLAN_FILE, writePlan, type AlterPlan } from "../../alter/plan.js";
import { CALIBRATION_OBJECTIVES, calibrateRouter, calibrationGrid, measureExpertErrors, type CalibrationObjective } from "../../alter/calibrate.js";
import { writeJsonAtomic } from "../../util/atomic.js";
import { ProgressBar } from "../../util/progress.js";
import { UserError } from "../errors.js";
import { choice, existingDir, floatOption, intOption } from "../options.js";

/** Contiguous stretches of timesteps served by one expert. */
const runsOf = (router: readonly number[]): number => router.reduce((n, e, t) => n + (t > 0 && e !== router[t - 1] ? 1 : 0), 1);
const usage = (plan: AlterPlan): string => plan.experts.map((_, e) => plan.router.filter((x) => x === e).length).join("/");

export function registerCalibrate(program: Command): void {
  program
    .command("calibrate")
    .description("re-route a pruned model's timesteps to the experts with the lowest measured error against the teacher, within the same MAC budget; writes a new model folder (weights and expert masks unchanged)")
    .requiredOption("--teacher <dir>", "the teacher the model was pruned from")
    .requiredOption("--model <dir>", "a model folder written by alter prune")
    .requiredOption("--out <dir>", "new model folder (must not exist)")
    .option("--data <dir>", "training images (IDX or PNG folder; default $ALTER_DATA_DIR or /usr/share/datasets/fashion-mnist)")
    .option("--holdout <n>", "the validation images at the end of the data, never used (default: the prune run's --holdout)", intOption("--holdout", 0))
    .option("--images <n>", "training images the errors are measured on", intOption("--images", 1, 4096), 32)
    .option("--grid-step <n>", "measure every n-th timestep; each timestep takes its nearest measured one", intOption("--grid-step", 1, 1000), 10)
    .option("--objective <name>", "absolute: summed output MSE; relative: each timestep's MSE divided by the teacher's own error there", choice("--objective", CALIBRATION_OBJECTIVES), "relative")
    .option("--ratio <p>", "average fraction of the UNet's MACs to keep (default: what the plan keeps now)", floatOption("--ratio", 0, 1, true))
    .option("--seed <n>", "noise seed", intOption("--seed", 0), 0)
    .action((o: Record<string, unknown>) => {
      const out = o.out as string;
      if (existsSync(out)) throw new UserError(`--out ${out} already exists; choose a new folder or delete it`);
      const teacher = loadModelFolder(existingDir("--teacher", o.teacher as string));
      const modelDir = existingDir("--model", o.model as string);
      const model = loadModelFolder(modelDir);
      const plan = loadPlanFor(modelDir, model.unet);
      if (plan === null) throw new UserError(`${modelDir} has no ${PLAN_FILE}; calibrate a folder written by alter prune`);
      if (model.classEmbedder === null) throw new UserError(`${modelDir} has no class_embedder/; alter calibrates class-conditional models`);
      const schedulerConfig = validateSchedulerConfig(teacher.schedulerConfig, teacher.schedulerConfigPath);
      const T = schedulerConfig.num_train_timesteps ?? 1000;
      if (T !== plan.router.length) throw new UserError(`the teacher has ${T} training timesteps but the plan routes ${plan.router.length}; is --teacher the model it was pruned from?`);

      const holdout = (o.holdout as number | undefined) ?? Number(plan.settings.holdout ?? 0);
      const all = loadImageDataset(o.data as string | undefined, { channels: teacher.unet.config.in_channels as 1 | 3 });
      if (!Number.isInteger(holdout) || holdout < 0 || holdout >= all.count) throw new UserError(`--holdout ${holdout}: must be an integer in [0, ${all.count - 1}] (the data has ${all.count} images)`);
      const data = splitValidation(all, holdout).train;
      const n = Math.min(o.images as number, data.count);
      const grid = calibrationGrid(T, o.gridStep as number);
      const progress = new ProgressBar({ total: grid.length, label: "calibrate", unit: "timestep" });
      const errors = measureExpertErrors({
        teacher: teacher.unet.eval(), student: model.unet.eval(), embedder: model.classEmbedder, scheduler: createScheduler(schedulerConfig),
        prediction: schedulerConfig.prediction_type ?? "epsilon", plan, data, count: n, grid, seed: o.seed as number,
        onPoint: () => progress.tick(),
      });
      progress.done();
      const objective = o.objective as CalibrationObjective;
      let result;
      try {
        result = calibrateRouter(plan, errors, objective, (o.ratio as number | undefined) ?? plan.realised_ratio);
      } catch (err) {
        throw new UserError(`--ratio: ${(err as Error).message}`);
      }
      const calibrated: AlterPlan = {
        ...result.plan,
        settings: { ...plan.settings, calibration: { objective, images: n, grid_step: o.gridStep as number, seed: o.seed as number, holdout, source: modelDir, lambda: result.lambda } },
      };

      // Everything is written into a temporary folder that is renamed at the end: no half-written model.
      const partial = `${out}.partial-${process.pid}`;
      rmSync(partial, { recursive: true, force: true });
      mkdirSync(partial, { recursive: true });
      for (const entry of readdirSync(modelDir)) {
        if (entry === PLAN_FILE || entry.startsWith("checkpoint")) continue;
        cpSync(join(modelDir, entry), join(partial, entry), { recursive: true });
      }
      writePlan(join(partial, PLAN_FILE), calibrated);
      writeJsonAtomic(join(partial, "calibration.json"), {
        objective, grid: errors.grid, error: errors.error, teacher_error: errors.teacherError, lambda: result.lambda,
        objective_before: result.objectiveBefore, objective_after: result.objectiveAfter, router_before: plan.router,
      });
      renameSync(partial, out);
      console.log(
        `calibrated (${objective}): summed error ${result.objectiveBefore.toExponential(3)} -> ${result.objectiveAfter.toExponential(3)}; ` +
          `MACs kept ${(100 * plan.realised_ratio).toFixed(2)}% -> ${(100 * calibrated.realised_ratio).toFixed(2)}%; ` +
          `stretches of one expert ${runsOf(plan.router)} -> ${runsOf(calibrated.router)}; timesteps per expert ${usage(plan)} -> ${usage(calibrated)}; model in ${out}`,
      );
    });
}

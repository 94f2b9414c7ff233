/**
 * What the scripts share: `--name value` options (fork-run, step-sensitivity, hybrid-sampling), and a dense teacher
 * loaded beside an ALTER model folder with its plan's expert executors. Bad arguments print the usage and exit 2.
 */
import { loadModelFolder, type ModelFolder } from "../src/models/pretrained.js";
import { expertExecutors, loadPlanFor } from "../src/alter/inference.js";
import type { AlterPlan } from "../src/alter/plan.js";
import type { SkippingExecutor } from "../src/alter/masked.js";

/** `option("--n", "16")`: the value after `--n` on the command line, else the fallback. */
export function option(name: string, fallback?: string): string | undefined {
  const args = process.argv.slice(2), i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
}

export interface TeacherAndPruned {
  teacher: ModelFolder;
  model: ModelFolder;
  plan: AlterPlan;
  /** One layer-skipping executor per expert of the plan (index with `plan.router[t]`). */
  experts: SkippingExecutor[];
}

/** Loads `--teacher` and `--model`; exits with the usage when either is missing or the model is not an ALTER one. */
export function loadTeacherAndPruned(usage: string, valid = true): TeacherAndPruned {
  const teacherDir = option("--teacher"), modelDir = option("--model");
  if (teacherDir === undefined || modelDir === undefined || !valid) {
    console.error(`usage: ${usage}`);
    process.exit(2);
  }
  const teacher = loadModelFolder(teacherDir), model = loadModelFolder(modelDir);
  const plan = loadPlanFor(modelDir, model.unet);
  if (plan === null || model.classEmbedder === null || teacher.classEmbedder === null) {
    console.error(`${modelDir} must be a class-conditional model folder written by alter prune`);
    process.exit(2);
  }
  return { teacher, model, plan, experts: expertExecutors(plan) };
}

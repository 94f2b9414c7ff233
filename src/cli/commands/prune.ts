/**
 * @file `alter prune`: compresses a teacher into a mixture of layer-pruned temporal experts.
 */
import type { Command } from "commander";
import { loadModelFolder } from "../../models/pretrained.js";
import { loadImageDataset } from "../../data/fashion-mnist.js";
import { DEFAULT_PRUNE_SETTINGS, trainPruned, UNET_SCHEDULE_NAMES, type PruneMethod, type PruneSettings, type PruneVariant } from "../../alter/train.js";
import { choice, existingDir, floatOption, intOption } from "../options.js";
import { SCHEDULE_NAMES } from "../../nn/schedule.js";
import { DISTILL_WEIGHTINGS, type DistillWeighting } from "../../alter/losses.js";
import { CALIBRATION_OBJECTIVES, type CalibrationObjective } from "../../alter/calibrate.js";

const METHODS: PruneMethod[] = ["alter", "static", "manual", "two-stage"];
const VARIANTS: PruneVariant[] = ["paper", "reference"];

export function registerPrune(program: Command): void {
  const d = DEFAULT_PRUNE_SETTINGS;
  program
    .command("prune")
    .description("ALTER: train a hypernetwork that routes each timestep to a layer-pruned expert, co-optimised with the UNet; writes the fine-tuned model and alter_plan.json")
    .requiredOption("--teacher <dir>", "teacher model folder (from train-teacher)")
    .option("--data <dir>", "training images (IDX or PNG folder; default $ALTER_DATA_DIR or /usr/share/datasets/fashion-mnist)")
    .requiredOption("--out <dir>", "output model folder")
    .option("--ratio <p>", "fraction of the whole UNet's per-step MACs to keep", floatOption("--ratio", 0, 1, true), d.ratio)
    .option("--experts <n>", "number of experts N_e", intOption("--experts", 1, 64), d.experts)
    .option("--steps <n>", "UNet optimizer steps", intOption("--steps"), d.steps)
    .option("--hyper-steps <n>", "T_end: steps with hypernetwork updates, then the plan is frozen", intOption("--hyper-steps", 0), d.hyperSteps)
    .option("--batch <n>", "batch size", intOption("--batch"), d.batchSize)
    .option("--lr-unet <x>", "UNet learning rate", floatOption("--lr-unet", 0, 1, true), d.lrUnet)
    .option("--lr-unet-schedule <name>", "UNet rate after warmup: constant (the official script), cosine (decays to 0 at the last step, so the weights settle), or cosine-after-freeze (constant until T_end, then the cosine decay: the plan is the constant rate's)", choice("--lr-unet-schedule", UNET_SCHEDULE_NAMES), d.unetLrSchedule)
    .option("--ema-decay <x>", "save an exponential moving average of the UNet's weights over the fine-tuning with the frozen plan (e.g. 0.998; 0: the last step's weights)", floatOption("--ema-decay", 0, 1), d.emaDecay)
    .option("--lr-hyper <x>", "hypernetwork learning rate", floatOption("--lr-hyper", 0, 1, true), d.lrHyper)
    .option("--lr-hyper-schedule <name>", "after warmup: constant (the official script) or cosine (decays to 0 at T_end)", choice("--lr-hyper-schedule", SCHEDULE_NAMES), d.hyperLrSchedule)
    .option("--noise-anneal <f>", "decay the hypernetwork's Gumbel noise linearly to 0 over the last fraction f of T_end, so the budget is met by the deterministic plan that is frozen (0: never, the paper)", floatOption("--noise-anneal", 0, 1), d.noiseAnneal)
    .option("--noise-free-tail <f>", "end T_end with a fraction f of hypernetwork steps without Gumbel noise (the anneal ends where they start), so the ratio loss holds the very plan that freezes at the budget (0: none; ours)", floatOption("--noise-free-tail", 0, 1), d.noiseFreeTail)
    .option("--calibrate-at-freeze", "when the plan freezes at T_end, re-choose the router from every expert's measured error against the teacher within the plan's MACs (alter calibrate, before the fine-tuning; not in the paper)")
    .option("--calibrate-objective <name>", "with --calibrate-at-freeze: relative (each timestep's error divided by the teacher's own error there, which favours high noise) or absolute (the summed output errors, largest at low noise, so the larger experts serve the low-noise steps)", choice("--calibrate-objective", CALIBRATION_OBJECTIVES), d.calibrateObjective)
    .option("--no-fit-budget", "freeze the hypernetwork's deterministic plan as it is at T_end (the paper), instead of switching the mask entries nearest the threshold until the plan keeps the budget")
    .option("--remask-at-freeze", "when the plan freezes at T_end (after any calibration and budget fit), re-choose each used expert's layers by their measured single-drop error on the student, with the same router and no more of each expert's MACs (ours; not in the paper)")
    .option("--warmup <n>", "warmup steps of both optimizers", intOption("--warmup", 0), d.warmupSteps)
    .option("--variant <v>", "relaxation: paper (straight-through, deterministic plan) or reference (soft, sampled plan, as the official code)", choice("--variant", VARIANTS), d.variant)
    .option("--method <m>", "alter, or an ablation baseline: static, manual, two-stage", choice("--method", METHODS), d.method)
    .option("--lambda-denoise <x>", "weight of the denoising loss", floatOption("--lambda-denoise", 0), d.lambdaDenoise)
    .option("--lambda-output <x>", "weight of output distillation", floatOption("--lambda-output", 0), d.lambdaOutput)
    .option("--lambda-feature <x>", "weight of feature distillation", floatOption("--lambda-feature", 0), d.lambdaFeature)
    .option("--lambda-feature-after-freeze <x>", "weight of feature distillation in the fine-tuning after the plan freezes (default: --lambda-feature; ours)", floatOption("--lambda-feature-after-freeze", 0))
    .option("--normalize-features", "divide each feature-distillation term by the teacher feature's mean square (default)", d.normalizeFeatures)
    .option("--no-normalize-features", "plain MSE feature distillation, as the paper")
    .option("--distill-weighting <w>", "per-timestep weight of output and feature distillation: uniform (the paper) or noise-variance (1 - alpha_bar_t, mean 1: more weight where an error moves the final sample more; ours)", choice("--distill-weighting", DISTILL_WEIGHTINGS), d.distillWeighting)
    .option("--focus-steps <n>", "after the plan freezes, fine-tune on the timesteps of an n-step DDIM sampler (the model's timestep spacing) instead of all of them: the model is then tuned for that step count (0: every timestep, the paper; ours)", intOption("--focus-steps", 0), d.focusSteps)
    .option("--focus-fraction <f>", "with --focus-steps: the share of each batch drawn from the sampler's timesteps; the rest stay uniform over all timesteps", floatOption("--focus-fraction", 0, 1, true), d.focusFraction)
    .option("--lambda-ratio <x>", "weight of the MAC-budget loss", floatOption("--lambda-ratio", 0), d.lambdaRatio)
    .option("--lambda-balance <x>", "weight of the router balance loss", floatOption("--lambda-balance", 0), d.lambdaBalance)
    .option("--student <dir>", "start the student from this model folder's UNet instead of the teacher's, e.g. a model pruned at a larger budget, to prune in stages (the teacher stays the distillation target; ours, not in the paper)")
    .option("--seed <n>", "random seed", intOption("--seed", 0), d.seed)
    .option("--holdout <n>", "keep the last n training images out of training: the validation split for choosing hyperparameters (alter eval --reference validation)", intOption("--holdout", 0), d.holdout)
    .option("--checkpoint-every <n>", "steps between checkpoints", intOption("--checkpoint-every"), d.checkpointEvery)
    .option("--resume", "continue the run in --out from its checkpoint")
    .action(async (o: Record<string, unknown>) => {
      const teacher = loadModelFolder(existingDir("--teacher", o.teacher as string));
      const studentInit = o.student === undefined ? undefined : loadModelFolder(existingDir("--student", o.student as string));
      const data = loadImageDataset(o.data as string | undefined, { channels: teacher.unet.config.in_channels as 1 | 3 });
      const settings: PruneSettings = {
        ...d,
        method: o.method as PruneMethod, variant: o.variant as PruneVariant, ratio: o.ratio as number, experts: o.experts as number,
        steps: o.steps as number, hyperSteps: o.hyperSteps as number, batchSize: o.batch as number, lrUnet: o.lrUnet as number,
        unetLrSchedule: o.lrUnetSchedule as PruneSettings["unetLrSchedule"], emaDecay: o.emaDecay as number,
        lrHyper: o.lrHyper as number, hyperLrSchedule: o.lrHyperSchedule as PruneSettings["hyperLrSchedule"], noiseAnneal: o.noiseAnneal as number, noiseFreeTail: o.noiseFreeTail as number, calibrateAtFreeze: Boolean(o.calibrateAtFreeze), calibrateObjective: o.calibrateObjective as CalibrationObjective, fitBudget: o.fitBudget !== false, remaskAtFreeze: Boolean(o.remaskAtFreeze), warmupSteps: o.warmup as number, lambdaDenoise: o.lambdaDenoise as number,
        lambdaOutput: o.lambdaOutput as number, lambdaFeature: o.lambdaFeature as number, lambdaFeatureAfterFreeze: (o.lambdaFeatureAfterFreeze as number | undefined) ?? null, normalizeFeatures: Boolean(o.normalizeFeatures),
        distillWeighting: o.distillWeighting as DistillWeighting, focusSteps: o.focusSteps as number, focusFraction: o.focusFraction as number,
        lambdaRatio: o.lambdaRatio as number, lambdaBalance: o.lambdaBalance as number, studentInit: (o.student as string | undefined) ?? null, seed: o.seed as number,
        checkpointEvery: o.checkpointEvery as number, holdout: o.holdout as number,
      };
      const result = await trainPruned({ teacher, data, outDir: o.out as string, settings, studentInit, resume: Boolean(o.resume) });
      const p = result.plan;
      process.stderr.write(
        `alter: ${result.interrupted ? "stopped" : "finished"} at step ${result.step}; kept ${(p.realised_ratio * 100).toFixed(1)}% of the UNet's MACs ` +
          `(target ${(p.target_ratio * 100).toFixed(1)}%; ${(p.realised_prunable_ratio * 100).toFixed(1)}% of the prunable layers), ` +
          `${new Set(p.router).size} experts in use; model and alter_plan.json in ${o.out as string}` +
          (result.interrupted ? ". Continue with the same command plus --resume.\n" : "\n"),
      );
      if (result.interrupted) process.exitCode = 130;
    });
}

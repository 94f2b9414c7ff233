/**
 * @file `alter train-teacher`: trains a class-conditional UNet on an image folder or IDX dataset.
 */
import type { Command } from "commander";
import { readUNetConfig } from "../../models/config.js";
import { loadImageDataset } from "../../data/fashion-mnist.js";
import { DEFAULT_TEACHER_SETTINGS, trainTeacher, type TeacherTrainingSettings } from "../../diffusion/train-teacher.js";
import { choice, existingFile, floatOption, intOption } from "../options.js";
import { SCHEDULE_NAMES } from "../../nn/schedule.js";

export function registerTrainTeacher(program: Command): void {
  const d = DEFAULT_TEACHER_SETTINGS;
  program
    .command("train-teacher")
    .description("train a class-conditional diffusion UNet (the teacher) from scratch; resumable, Ctrl-C safe")
    .requiredOption("--config <file>", "diffusers UNet2DConditionModel config.json")
    .option("--data <dir>", "IDX files (Fashion-MNIST layout) or a PNG folder with labels.csv (default: $ALTER_DATA_DIR or /usr/share/datasets/fashion-mnist)")
    .requiredOption("--out <dir>", "output folder: model (diffusers layout), checkpoint.safetensors, train_log.jsonl")
    .option("--steps <n>", "total optimizer steps", intOption("--steps"), d.steps)
    .option("--batch <n>", "batch size", intOption("--batch"), d.batchSize)
    .option("--lr <x>", "peak learning rate (AdamW)", floatOption("--lr", 0, 1, true), d.lr)
    .option("--warmup <n>", "linear warmup steps", intOption("--warmup", 0), d.warmupSteps)
    .option("--lr-schedule <name>", "constant after warmup, or cosine: decays to 0 at --steps", choice("--lr-schedule", SCHEDULE_NAMES), d.lrSchedule)
    .option("--weight-decay <x>", "AdamW decoupled weight decay", floatOption("--weight-decay", 0, 1), d.weightDecay)
    .option("--grad-clip <x>", "global gradient-norm clip", floatOption("--grad-clip", 0, Infinity, true), d.gradClip)
    .option("--ema-decay <x>", "EMA decay of the exported weights", floatOption("--ema-decay", 0, 1), d.emaDecay)
    .option("--label-dropout <x>", "probability of the null label (for classifier-free guidance)", floatOption("--label-dropout", 0, 1), d.labelDropout)
    .option("--tokens <n>", "context tokens per class label", intOption("--tokens"), d.numTokens)
    .option("--seed <n>", "random seed", intOption("--seed", 0), d.seed)
    .option("--checkpoint-every <n>", "steps between checkpoints (and model exports)", intOption("--checkpoint-every"), d.checkpointEvery)
    .option("--resume", "continue the run in --out from its checkpoint")
    .option("--init-from <dir>", "start from the weights of a model folder (fresh optimizer), e.g. to keep training a shipped teacher")
    .action(async (o: Record<string, unknown>) => {
      const config = readUNetConfig(existingFile("--config", o.config as string));
      const data = loadImageDataset(o.data as string | undefined, { channels: config.in_channels as 1 | 3 });
      const settings: TeacherTrainingSettings = {
        steps: o.steps as number, batchSize: o.batch as number, lr: o.lr as number, warmupSteps: o.warmup as number,
        lrSchedule: o.lrSchedule as TeacherTrainingSettings["lrSchedule"],
        weightDecay: o.weightDecay as number, gradClip: o.gradClip as number, emaDecay: o.emaDecay as number,
        labelDropout: o.labelDropout as number, numTokens: o.tokens as number, seed: o.seed as number,
        checkpointEvery: o.checkpointEvery as number, logEvery: d.logEvery,
      };
      const result = await trainTeacher({ config, data, outDir: o.out as string, settings, resume: Boolean(o.resume), initFrom: o.initFrom as string | undefined });
      if (result.interrupted) {
        process.stderr.write(`alter: stopped at step ${result.step}; checkpoint ${result.checkpoint}. Continue with the same command plus --resume.\n`);
        process.exitCode = 130;
      } else {
        process.stderr.write(`alter: trained ${result.step} steps; model written to ${o.out as string}\n`);
      }
    });
}

/**
 * @file `alter eval`: the evaluation table (Markdown and JSON) over models and step counts.
 */
import type { Command } from "commander";
import { join } from "node:path";
import { loadFashionMnist, splitValidation } from "../../data/fashion-mnist.js";
import { FashionClassifier } from "../../metrics/classifier.js";
import { evaluate, markdownTable } from "../../eval/evaluate.js";
import { clearEvalProgress } from "../../eval/progress.js";
import { SAMPLERS } from "../../diffusion/samplers.js";
import { ProgressBar } from "../../util/progress.js";
import { writeFileAtomic, writeJsonAtomic } from "../../util/atomic.js";
import { UserError } from "../errors.js";
import { choice, existingDir, floatOption, intOption } from "../options.js";
import { DEFAULT_GUIDANCE, modelGuidance } from "../../diffusion/pipeline.js";
import { readModelIndex } from "../../models/pretrained.js";

function stepList(value: string): number[] {
  const steps = value.split(",").map((s) => Number(s.trim()));
  if (steps.length === 0 || steps.some((s) => !Number.isInteger(s) || s < 1 || s > 1000)) {
    throw new UserError(`--steps must be a comma-separated list of integers in [1, 1000], got "${value}"`);
  }
  return steps;
}

export function registerEval(program: Command): void {
  program
    .command("eval")
    .description(
      "evaluate models: per-image MACs, latency and speedup vs the dense model at 50 steps (same run), Fréchet distance and KID on our " +
        "Fashion-MNIST classifier's features (not Inception: the values are not comparable with published FIDs), class accuracy, and " +
        "SSIM/PSNR against the dense 50-step samples of the same seeds and labels",
    )
    .requiredOption("--models <dirs...>", "model folders; at least one dense (no alter_plan.json), the first of which is the 50-step reference")
    .option("--steps <list>", "comma-separated step counts", stepList, [50, 25, 20, 15])
    .option("--alter-steps <list>", "step counts for ALTER models (with alter_plan.json); default: --steps", stepList)
    .option("--n <n>", "images per row", intOption("--n", 2, 100000), 1000)
    .option("--sampler <name>", `one of ${Object.keys(SAMPLERS).join(", ")}`, "ddim")
    .option("--guidance <g>", `classifier-free guidance scale (default: the first model's alter_defaults.guidance, else ${DEFAULT_GUIDANCE})`, floatOption("--guidance", 0, 100))
    .option("--seed <n>", "base seed", intOption("--seed", 0), 0)
    .option("--batch <n>", "sampling batch size", intOption("--batch"), 50)
    .option("--classifier <dir>", "in-domain classifier folder", "models/fmnist-classifier")
    .option("--data <dir>", "real images (default $ALTER_DATA_DIR or /usr/share/datasets/fashion-mnist)")
    .option("--reference <split>", "real images the metrics compare against: test, or validation (the last --holdout training images; for choosing hyperparameters without touching the test set)", choice("--reference", ["test", "validation"]), "test")
    .option("--holdout <n>", "size of the validation split (as given to alter prune --holdout)", intOption("--holdout", 1), 5000)
    .option("--latency-repeats <n>", "timed repeats per latency measurement (median reported)", intOption("--latency-repeats"), 5)
    .option("--latency-batch <n>", "the larger batch for per-image latency", intOption("--latency-batch"), 16)
    .option("--out <dir>", "write eval.json and eval.md here")
    .option("--keep-progress", "keep the finished rows and reference images in --out after eval.json is written, so that a later eval into the same folder with more models (same settings) evaluates only the new ones (their latencies then come from different runs)")
    .option("--json", "print the rows as JSON instead of a Markdown table")
    .action((o: Record<string, unknown>) => {
      // Without --out there is no folder to keep the progress in: say so rather than ignore the flag.
      if (o.keepProgress && !o.out) throw new UserError("--keep-progress keeps the evaluation's progress in --out, and no --out was given: add --out DIR, or drop --keep-progress");
      const classifier = FashionClassifier.load(existingDir("--classifier", o.classifier as string));
      const real = o.reference === "validation"
        ? splitValidation(loadFashionMnist(o.data as string | undefined, "train"), Math.min(o.holdout as number, 59999)).validation
        : loadFashionMnist(o.data as string | undefined, "test");
      const progress = new ProgressBar({ total: 1, label: "eval", unit: "batch" });
      let last = 0;
      const rows = evaluate({
        models: (o.models as string[]).map((m) => existingDir("--models", m)),
        steps: o.steps as number[], alterSteps: o.alterSteps as number[] | undefined, n: o.n as number, sampler: o.sampler as string, guidance: (o.guidance as number | undefined) ?? modelGuidance(readModelIndex(existingDir("--models", (o.models as string[])[0]!))),
        seed: o.seed as number, batch: o.batch as number, classifier, real, latencyRepeats: o.latencyRepeats as number,
        latencyBatch: o.latencyBatch as number,
        progressDir: o.out as string | undefined,
        onResume: (stored) => process.stderr.write(`alter: resuming the evaluation in ${o.out as string}: ${stored} row(s) finished earlier are reused\n`),
        onProgress: (done, total, label) => {
          if (last === 0) progress.setTotal(total);
          progress.tick(done - last, { now: label });
          last = done;
        },
      });
      progress.done();
      const md = markdownTable(rows);
      if (o.out) {
        writeJsonAtomic(join(o.out as string, "eval.json"), { rows, settings: { ...o, models: o.models } });
        writeFileAtomic(join(o.out as string, "eval.md"), md);
        if (!o.keepProgress) clearEvalProgress(o.out as string);
      }
      console.log(o.json ? JSON.stringify(rows, null, 2) : md);
    });
}

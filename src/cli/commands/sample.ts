/**
 * @file `alter sample`: generates images from a model folder with any scheduler and step count.
 */
import type { Command } from "commander";
import { join } from "node:path";
import { mkdirSync } from "node:fs";
import { loadModelFolder } from "../../models/pretrained.js";
import { SAMPLERS, samplerFor } from "../../diffusion/samplers.js";
import { DEFAULT_GUIDANCE, modelGuidance, sampleImages, toUint8 } from "../../diffusion/pipeline.js";
import { imageGrid, writePng } from "../../data/png.js";
import { FASHION_MNIST_CLASSES } from "../../data/fashion-mnist.js";
import { ProgressBar } from "../../util/progress.js";
import { UserError } from "../errors.js";
import { existingDir, floatOption, intOption } from "../options.js";
import { loadPlanFor, planExecutors, realisedMacs } from "../../alter/inference.js";

function parseLabels(text: string, classes: number): number[] {
  const labels = text.split(",").map((s) => s.trim()).filter(Boolean).map((s) => {
    const byName = FASHION_MNIST_CLASSES.findIndex((c) => c.toLowerCase() === s.toLowerCase());
    const v = byName >= 0 ? byName : Number(s);
    if (!Number.isInteger(v) || v < 0 || v >= classes) throw new UserError(`--labels: "${s}" is not a class id in [0, ${classes}) or a class name`);
    return v;
  });
  if (labels.length === 0) throw new UserError("--labels is empty");
  return labels;
}

export function registerSample(program: Command): void {
  program
    .command("sample")
    .description("generate images from a model folder: individual PNGs and a labelled grid")
    .requiredOption("--model <dir>", "model folder (diffusers layout, e.g. from train-teacher or prune)")
    .option("--sampler <name>", `one of ${Object.keys(SAMPLERS).join(", ")}`, "ddim")
    .option("--steps <n>", "denoising steps", intOption("--steps", 1, 1000), 50)
    .option("--guidance <g>", `classifier-free guidance scale (1 = off; default: the model's alter_defaults.guidance, else ${DEFAULT_GUIDANCE})`, floatOption("--guidance", 0, 100))
    .option("--labels <list>", "comma-separated class ids or names, cycled to --n (default: every class)")
    .option("--n <n>", "number of images", intOption("--n", 1, 100000), 20)
    .option("--seed <n>", "random seed", intOption("--seed", 0), 0)
    .requiredOption("--out <dir>", "output folder")
    .option("--dense", "ignore the model's alter_plan.json and run every layer")
    .action((o: Record<string, unknown>) => {
      const modelDir = existingDir("--model", o.model as string);
      const model = loadModelFolder(modelDir);
      const plan = o.dense ? null : loadPlanFor(modelDir, model.unet);
      if (model.classEmbedder === null) throw new UserError(`${o.model as string} has no class_embedder/; alter samples class-conditional models`);
      const classes = model.classEmbedder.config.num_classes;
      const pool = o.labels ? parseLabels(o.labels as string, classes) : Array.from({ length: classes }, (_, i) => i);
      const n = o.n as number;
      const labels = Array.from({ length: n }, (_, i) => pool[i % pool.length]);
      const scheduler = samplerFor(model.schedulerConfig, o.sampler as string, model.schedulerConfigPath);
      const steps = o.steps as number;
      const progress = new ProgressBar({ total: steps, label: "sample", unit: "step" });
      const { images } = sampleImages(model.unet, model.classEmbedder, scheduler, {
        labels, steps, guidance: (o.guidance as number | undefined) ?? modelGuidance(model.index), seed: o.seed as number, onStep: () => progress.tick(),
        executorFor: plan === null ? undefined : planExecutors(plan),
      });
      progress.done();
      const out = o.out as string;
      mkdirSync(out, { recursive: true });
      const [, h, w, c] = images.shape;
      const pixels = toUint8(images);
      for (let i = 0; i < n; i++) writePng(join(out, `${String(i).padStart(5, "0")}_class${labels[i]}.png`), pixels.subarray(i * h * w * c, (i + 1) * h * w * c), w, h, c);
      const names = labels.map((l) => (classes === FASHION_MNIST_CLASSES.length ? FASHION_MNIST_CLASSES[l] : String(l)));
      const grid = imageGrid(images.f32, n, h, w, c, Math.min(10, n), 2, names);
      writePng(join(out, "grid.png"), grid.pixels, grid.width, grid.height, grid.channels);
      process.stderr.write(`alter: wrote ${n} images and grid.png to ${out}\n`);
      if (plan !== null) {
        const { total } = realisedMacs(plan, scheduler.timesteps);
        const dense = plan.total_macs * scheduler.timesteps.length;
        process.stderr.write(`alter: ALTER plan used: ${(total / 1e9).toFixed(3)} GMACs per image per guidance branch over ${steps} steps (${((100 * total) / dense).toFixed(1)}% of the dense model at the same steps)\n`);
      }
    });
}


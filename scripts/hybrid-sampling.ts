/**
 * `node --import tsx scripts/hybrid-sampling.ts --teacher DIR --model DIR [--n 1000] [--steps 20] [--seed 0] [--holdout 5000] [--out FILE]`
 *
 * Where along the sampling trajectory a pruned model loses its Fréchet distance. Samples are drawn like
 * `alter eval` draws them (DDIM, no guidance, batches of 50 with seed + batch index, labels i % 10), so the
 * all-teacher and all-ALTER rows reproduce `alter eval --reference validation`'s scores at the same seed; the other
 * rows run the teacher on one range of timesteps and the ALTER model's routed experts on the rest. The Fréchet
 * distance each range recovers is its share of the gap. Compared with the validation split (the last --holdout
 * training images), on the in-domain classifier's features.
 */
import { renameSync, writeFileSync } from "node:fs";
import { Generator, Tensor, keep, noGrad, scope } from "../src/engine/index.js";
import { samplerFor } from "../src/diffusion/samplers.js";
import { loadFashionMnist, splitValidation } from "../src/data/fashion-mnist.js";
import { FashionClassifier, embedImages } from "../src/metrics/classifier.js";
import { frechetFromFeatures } from "../src/metrics/frechet.js";
import { loadTeacherAndPruned, option } from "./teacher-and-pruned.js";

const n = Number(option("--n", "1000")), steps = Number(option("--steps", "20")), seed = Number(option("--seed", "0"));
const holdout = Number(option("--holdout", "5000")), batch = 50;
const { teacher, model, plan, experts } = loadTeacherAndPruned(
  "node --import tsx scripts/hybrid-sampling.ts --teacher DIR --model DIR [--n 1000] [--steps 20] [--seed 0] [--holdout 5000] [--out FILE]",
  n >= 2 && steps >= 1 && holdout >= 2,
);
const teacherDir = option("--teacher")!, modelDir = option("--model")!;
const classifier = FashionClassifier.load(option("--classifier", "models/fmnist-classifier")!);
const real = splitValidation(loadFashionMnist(undefined, "train"), holdout).validation;
const realFeatures = embedImages(classifier, real.images);
const dim = realFeatures.length / real.count;

/** The timesteps the teacher runs in each row; the ALTER model runs every other one. */
const variants: { name: string; teacherAt: (t: number) => boolean }[] = [
  { name: "all teacher", teacherAt: () => true },
  { name: "all ALTER", teacherAt: () => false },
  { name: "teacher at t >= 700", teacherAt: (t) => t >= 700 },
  { name: "teacher at 300 <= t < 700", teacherAt: (t) => t >= 300 && t < 700 },
  { name: "teacher at t < 300", teacherAt: (t) => t < 300 },
  { name: "teacher at t < 100", teacherAt: (t) => t < 100 },
];

const { sample_size: size, in_channels: channels } = teacher.unet.config;
const pixels = size * size * channels;
const rows = variants.map(({ name, teacherAt }) => {
  const started = Date.now();
  const images = new Float32Array(n * pixels);
  for (let start = 0, b = 0; start < n; start += batch, b++) {
    const count = Math.min(batch, n - start);
    const labels = Tensor.int32(Array.from({ length: count }, (_, i) => (start + i) % 10));
    const scheduler = samplerFor(teacher.schedulerConfig, "ddim");
    scheduler.setTimesteps(steps);
    noGrad(() => {
      // The same draws as sampleImages: the initial noise from the batch's seed (DDIM with eta 0 draws nothing more).
      const seedGen = new Generator(seed + b);
      const teacherContext = keep(teacher.classEmbedder!.forward(labels));
      const studentContext = keep(model.classEmbedder!.forward(labels));
      let x = keep(Tensor.randn([count, size, size, channels], seedGen).mul(scheduler.initNoiseSigma));
      for (const t of scheduler.timesteps) {
        const next = scope(() => {
          const input = scheduler.scaleModelInput(x, t);
          const eps = teacherAt(t)
            ? teacher.unet.forward(input, t, teacherContext)
            : model.unet.forward(input, t, studentContext, { executor: experts[plan.router[t]!] });
          return scheduler.step(eps, t, x).prevSample;
        });
        x.dispose();
        x = keep(next);
      }
      images.set(x.f32, start * pixels);
      for (const y of [x, teacherContext, studentContext]) y.dispose();
    });
    labels.dispose();
  }
  const features = embedImages(classifier, images);
  const frechet = frechetFromFeatures(features, realFeatures, n, real.count, dim);
  const row = { name, frechet, seconds: (Date.now() - started) / 1000 };
  console.log(`${name.padEnd(28)} Fréchet ${frechet.toFixed(3)}  (${row.seconds.toFixed(0)} s)`);
  return row;
});
const out = option("--out");
if (out !== undefined) {
  const result = { teacher: teacherDir, model: modelDir, n, steps, seed, holdout, sampler: "ddim", guidance: 1, rows };
  writeFileSync(out + ".tmp", JSON.stringify(result, null, 1) + "\n");
  renameSync(out + ".tmp", out);
}

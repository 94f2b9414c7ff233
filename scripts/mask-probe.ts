/**
 * `node --import tsx scripts/mask-probe.ts --teacher DIR --model DIR [--data DIR] [--n 32] [--steps 20] [--seed 7] [--out FILE]`
 *
 * Are the hypernetwork's expert masks good choices of layers for their MACs? On the dense teacher's own
 * weights (before any fine-tuning, so neither side is favoured by it), for the three ranges of an n-step
 * DDIM sampler's timesteps (t >= 700, 300 <= t < 700, t < 300):
 *  1. every prunable layer's single-drop error: the mean squared difference between the teacher's output
 *     with that one layer skipped and its full output, averaged over the range's sampler timesteps;
 *  2. the ALTER model's plan: the error of the routed expert's mask at each of those timesteps;
 *  3. a greedy mask: layers dropped in ascending order of single-drop error per MAC until the mask keeps
 *     no more of the MACs than the plan does on average in that range (so it is never the larger one),
 *     and its error measured with all its drops together;
 *  4. for scale, the ALTER model's own fine-tuned weights with its plan, against the same teacher outputs.
 * The inputs are the first `n` training images (`--data`, default the Fashion-MNIST install) noised at each timestep with one fixed draw of noise.
 */
import { writeFileSync } from "node:fs";
import { Generator, Tensor, keep, noGrad, scope } from "../src/engine/index.js";
import { samplerFor } from "../src/diffusion/samplers.js";
import { meanSquare } from "../src/alter/calibrate.js";
import { SkippingExecutor } from "../src/alter/masked.js";
import { keptFractions, maskAt } from "../src/alter/plan.js";
import { loadImageDataset } from "../src/data/fashion-mnist.js";
import { loadTeacherAndPruned, option } from "./teacher-and-pruned.js";

const n = Number(option("--n", "32")), steps = Number(option("--steps", "20")), seed = Number(option("--seed", "7"));
const { teacher, model, plan, experts } = loadTeacherAndPruned(
  "node --import tsx scripts/mask-probe.ts --teacher DIR --model DIR [--data DIR] [--n 32] [--steps 20] [--seed 7] [--out FILE]",
  Number.isInteger(n) && n >= 1 && Number.isInteger(steps) && steps >= 1,
);
const scheduler = samplerFor(teacher.schedulerConfig, "ddim");
scheduler.setTimesteps(steps);
const timesteps = Array.from(scheduler.timesteps);
const ranges = [
  { name: "t >= 700", has: (t: number) => t >= 700 },
  { name: "300 <= t < 700", has: (t: number) => t >= 300 && t < 700 },
  { name: "t < 300", has: (t: number) => t < 300 },
];
const L = plan.layers.length, index = experts[0]!.index;
const kept = (mask: ArrayLike<number>): number => keptFractions(mask, plan.layers, plan.total_macs).total;

const data = loadImageDataset(option("--data"), { channels: teacher.unet.config.in_channels as 1 | 3 });
const B = Math.min(n, data.count);
const report = noGrad(() => {
  const images = keep(Tensor.from(data.images.subarray(0, B * data.height * data.width * data.channels), [B, data.height, data.width, data.channels]));
  const labels = Tensor.int32(data.labels.subarray(0, B));
  const context = keep(teacher.classEmbedder!.forward(labels)), modelContext = keep(model.classEmbedder!.forward(labels));
  const noise = keep(Tensor.randn(images.shape, new Generator(seed)));
  /** Each sampler timestep's noised inputs and the full teacher's output on them, computed once. */
  const inputs = new Map(timesteps.map((t) => {
    const batchT = new Array<number>(B).fill(t);
    const noisy = keep(scheduler.addNoise(images, noise, Int32Array.from(batchT)));
    return [t, { batchT, noisy, full: keep(teacher.unet.forward(noisy, batchT, context)) }] as const;
  }));
  /** Mean squared difference from the full teacher at timestep t, for each mask on the teacher's weights. */
  const errorsAt = (t: number, masks: ArrayLike<number>[]): number[] =>
    scope(() => {
      const { batchT, noisy, full } = inputs.get(t)!;
      return masks.map((m) => meanSquare(teacher.unet.forward(noisy, batchT, context, { executor: new SkippingExecutor(index, m) }), full));
    });
  /** The same for the fine-tuned model with its routed expert. */
  const tunedErrorAt = (t: number): number =>
    scope(() => {
      const { batchT, noisy, full } = inputs.get(t)!;
      return meanSquare(model.unet.forward(noisy, batchT, modelContext, { executor: experts[plan.router[t]!]! }), full);
    });
  return ranges.map(({ name, has }) => {
    const ts = timesteps.filter(has);
    const singles = Array.from({ length: L }, (_, l) => Array.from({ length: L }, (_, k) => (k === l ? 0 : 1)));
    const singleErr = new Array<number>(L).fill(0);
    const planMasks = ts.map((t) => maskAt(plan, t));
    let planErr = 0, tunedErr = 0;
    ts.forEach((t, i) => {
      const errs = errorsAt(t, [...singles, planMasks[i]!]);
      errs.slice(0, L).forEach((e, l) => (singleErr[l] += e / ts.length));
      planErr += errs[L]! / ts.length;
      tunedErr += tunedErrorAt(t) / ts.length;
    });
    const planKept = planMasks.reduce((s, m) => s + kept(m), 0) / ts.length;
    // Cheapest error per MAC first; stop once the mask keeps no more than the plan.
    const order = Array.from({ length: L }, (_, l) => l).sort((a, b) => singleErr[a]! / plan.layers[a]!.macs - singleErr[b]! / plan.layers[b]!.macs);
    const greedy = new Array<number>(L).fill(1);
    for (const l of order) {
      if (kept(greedy) <= planKept) break;
      greedy[l] = 0;
    }
    const greedyErr = ts.reduce((s, t) => s + errorsAt(t, [greedy])[0]! / ts.length, 0);
    const line = `${name}: plan keeps ${(100 * planKept).toFixed(1)}% error ${planErr.toExponential(3)}; greedy keeps ${(100 * kept(greedy)).toFixed(1)}% error ${greedyErr.toExponential(3)} (${(greedyErr / planErr).toFixed(2)}x); ` +
      `the fine-tuned model with the plan ${tunedErr.toExponential(3)}`;
    process.stderr.write(`${line}\n`);
    return {
      range: name, timesteps: ts, plan_kept: planKept, plan_error: planErr, tuned_error: tunedErr, greedy_kept: kept(greedy), greedy_error: greedyErr, greedy_mask: greedy,
      plan_masks: planMasks, layers: plan.layers.map((l, i) => ({ name: l.name, macs: l.macs, single_drop_error: singleErr[i] })),
    };
  });
});
const out = option("--out");
if (out !== undefined) writeFileSync(out, `${JSON.stringify({ teacher: option("--teacher"), model: option("--model"), n: B, steps, seed, ranges: report }, null, 1)}\n`);

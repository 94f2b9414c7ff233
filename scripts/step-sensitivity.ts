/**
 * `node --import tsx scripts/step-sensitivity.ts --teacher DIR --model DIR [--n 16] [--steps 20] [--seed 1234] [--out FILE]`
 *
 * How much an error of the pruned model at one sampling step moves the final sample. For every step i of
 * a deterministic DDIM run, the teacher samples all steps except step i, where the ALTER model's routed
 * expert runs instead; the result is compared with the all-teacher sample from the same noise:
 *   e_i  mean squared difference of the expert's and the teacher's predicted noise at step i
 *   D_i  mean squared difference of the two final samples ([-1, 1] pixels)
 * D_i / e_i is the final sample's sensitivity to a noise-prediction error at that timestep; it decides
 * how the distillation loss should weigh timesteps (alter prune --distill-weighting, docs/alter.md §4).
 * Also prints D for the ALTER model at every step (errors compound) against the sum of the D_i, and the
 * expert's error at each state of that ALTER trajectory relative to e_i (does its input drift?).
 */
import { writeFileSync } from "node:fs";
import { Generator, Tensor, keep, noGrad, scope } from "../src/engine/index.js";
import { samplerFor } from "../src/diffusion/samplers.js";
import { meanSquare } from "../src/alter/calibrate.js";
import { loadTeacherAndPruned, option } from "./teacher-and-pruned.js";

const n = Number(option("--n", "16")), steps = Number(option("--steps", "20")), seed = Number(option("--seed", "1234"));
const { teacher, model, plan, experts } = loadTeacherAndPruned(
  "node --import tsx scripts/step-sensitivity.ts --teacher DIR --model DIR [--n 16] [--steps 20] [--seed 1234] [--out FILE]",
  n >= 1 && steps >= 1,
);
const teacherDir = option("--teacher")!, modelDir = option("--model")!;
const scheduler = samplerFor(teacher.schedulerConfig, "ddim");
const alphaBar = scheduler.alphasCumprod;
scheduler.setTimesteps(steps);
const timesteps = Array.from(scheduler.timesteps);

noGrad(() => {
  const labels = Tensor.int32(Array.from({ length: n }, (_, i) => i % 10));
  const teacherContext = keep(teacher.classEmbedder!.forward(labels));
  const studentContext = keep(model.classEmbedder!.forward(labels));
  const { sample_size: size, in_channels: channels } = teacher.unet.config;
  /** One DDIM step from x at step index i, by the teacher or (student) the routed expert. */
  const step = (x: Tensor, i: number, student: boolean): { next: Tensor; eps: Tensor } =>
    scope(() => {
      const t = timesteps[i]!, input = scheduler.scaleModelInput(x, t);
      const eps = student
        ? model.unet.forward(input, t, studentContext, { executor: experts[plan.router[t]!] })
        : teacher.unet.forward(input, t, teacherContext);
      return { next: keep(scheduler.step(eps, t, x).prevSample), eps: keep(eps) };
    });
  /** Runs steps from..end; `student(i)` picks the model of each. Returns the final sample. */
  const run = (x: Tensor, from: number, student: (i: number) => boolean): Tensor => {
    let y = x;
    for (let i = from; i < timesteps.length; i++) {
      const { next, eps } = step(y, i, student(i));
      eps.dispose();
      if (y !== x) y.dispose();
      y = next;
    }
    return y;
  };

  const noise = keep(Tensor.randn([n, size, size, channels], new Generator(seed)).mul(scheduler.initNoiseSigma));
  const states: Tensor[] = [noise];
  for (let i = 0; i < timesteps.length; i++) {
    const { next, eps } = step(states[i]!, i, false);
    eps.dispose();
    states.push(next);
  }
  const reference = states[timesteps.length]!;
  const rows = timesteps.map((t, i) => {
    const teacherEps = step(states[i]!, i, false);
    const expert = step(states[i]!, i, true);
    const e = meanSquare(expert.eps, teacherEps.eps);
    const final = run(expert.next, i + 1, () => false);
    const D = meanSquare(final, reference);
    for (const x of [teacherEps.next, teacherEps.eps, expert.eps, expert.next, final]) x.dispose(); // dispose is idempotent
    const row = { t, expert: plan.router[t]!, noise_variance: 1 - alphaBar[t]!, e, D, sensitivity: D / e };
    console.log(`t ${String(t).padStart(4)}  expert ${row.expert}  1-alpha_bar ${row.noise_variance.toFixed(3)}  e ${e.toExponential(2)}  D ${D.toExponential(2)}  D/e ${row.sensitivity.toFixed(3)}`);
    return row;
  });
  // The ALTER trajectory, and at each of its states the expert's error against the teacher there: larger than e on
  // the teacher's own states when the experts' inputs drift from what they were trained on.
  let x = noise;
  const ownErrors: number[] = [];
  for (let i = 0; i < timesteps.length; i++) {
    const expert = step(x, i, true), teacherThere = step(x, i, false);
    ownErrors.push(meanSquare(expert.eps, teacherThere.eps));
    for (const y of [expert.eps, teacherThere.eps, teacherThere.next]) y.dispose();
    if (x !== noise) x.dispose();
    x = expert.next;
  }
  const result = {
    teacher: teacherDir, model: modelDir, n, steps, seed, sampler: "ddim",
    rows: rows.map((r, i) => ({ ...r, e_on_alter_trajectory: ownErrors[i]! })),
    alter_D: meanSquare(x, reference), sum_D: rows.reduce((s, r) => s + r.D, 0),
  };
  console.log(`expert error on the ALTER trajectory / on the teacher's, per step: ${result.rows.map((r) => (r.e_on_alter_trajectory / r.e).toFixed(2)).join(" ")}`);
  console.log(`ALTER at every step: D ${result.alter_D.toExponential(3)}; sum of the single-step D ${result.sum_D.toExponential(3)}`);
  const out = option("--out");
  if (out !== undefined) writeFileSync(out, JSON.stringify(result, null, 1) + "\n");
});

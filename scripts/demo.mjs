// `npm run demo`: ALTER in a few minutes on 2 cores. Compresses the shipped Fashion-MNIST teacher
// into layer-pruned temporal experts (a short run on the committed data slice), then samples dense
// vs ALTER with the same seeds, prints MACs, latency and quality side by side, and writes an HTML
// report. Everything lands in demo-output/.
//   ALTER_DEMO_TEACHER=DIR   use another teacher folder
//   ALTER_DEMO_QUICK=1       an even shorter run (CI smoke test)
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";

const teacher = process.env.ALTER_DEMO_TEACHER ?? "models/fmnist-teacher";
const quick = process.env.ALTER_DEMO_QUICK === "1";
const out = "demo-output";

function alter(args) {
  console.log(`\n$ alter ${args.join(" ")}`);
  const r = spawnSync(process.execPath, ["bin/alter.js", ...args], { stdio: "inherit" });
  if (r.status !== 0) {
    console.error(`demo: \`alter ${args[0]}\` failed (exit ${r.status})`);
    process.exit(r.status ?? 1);
  }
}

if (!existsSync(`${teacher}/model_index.json`)) {
  console.error(`demo: no teacher at ${teacher}. Train one with: alter train-teacher --config configs/teacher-unet.json --out ${teacher}`);
  process.exit(1);
}
rmSync(`${out}/alter`, { recursive: true, force: true });

// 1. Compress: 65 % of the UNet's per-step MACs, 4 experts, a short co-optimisation (the budget is
// reached within about 40 hypernetwork steps), then most of the time on fine-tuning, which is what
// brings the quality back (docs/alter.md section 7). Learning rates: alter prune's defaults.
alter([
  "prune", "--teacher", teacher, "--data", "data/fashion-mnist-slice", "--out", `${out}/alter`,
  "--ratio", "0.65", "--experts", "4", "--batch", "16",
  "--steps", quick ? "12" : "500", "--hyper-steps", quick ? "8" : "100", "--checkpoint-every", "100",
]);

// 2. Samples of every class, dense at 50 steps and ALTER at 20 steps, same seed.
alter(["sample", "--model", teacher, "--steps", "50", "--n", "20", "--seed", "0", "--out", `${out}/dense-50`]);
alter(["sample", "--model", `${out}/alter`, "--steps", "20", "--n", "20", "--seed", "0", "--out", `${out}/alter-20`]);

// 3. MACs, latency (dense measured in the same run) and quality.
alter([
  "eval", "--models", teacher, `${out}/alter`, "--steps", "50,20", "--n", quick ? "20" : "200", "--batch", "50",
  "--data", "data/fashion-mnist-slice", "--latency-repeats", quick ? "1" : "3", "--latency-batch", "8", "--out", out,
]);

// 4. The report.
alter([
  "report", "--run", `${out}/alter`, "--out", `${out}/report.html`,
  "--samples", `dense 50 steps=${out}/dense-50`, `ALTER 20 steps=${out}/alter-20`, "--results", `${out}/eval.json`,
]);

const { rows } = JSON.parse(readFileSync(`${out}/eval.json`, "utf8"));
const dense50 = rows.find((r) => !r.alter && r.steps === 50);
const dense20 = rows.find((r) => !r.alter && r.steps === 20);
const alter20 = rows.find((r) => r.alter && r.steps === 20);
const col = (r) => [
  `${(r.macs_vs_dense50 * 100).toFixed(1)} %`.padStart(8), `${r.latency_ms_b1.toFixed(0)} ms`.padStart(9), `${r.speedup_vs_dense50.toFixed(2)}x`.padStart(7),
  r.frechet.toFixed(2).padStart(9), `${(r.class_accuracy * 100).toFixed(1)} %`.padStart(9),
].join("  ");
console.log(`
${alter20.n} images per row, measured in this run (Fréchet on our classifier's features: lower is better)
                         MACs   latency b1  speedup   Fréchet  class acc.
  dense teacher, 50 steps  ${col(dense50)}
  dense teacher, 20 steps  ${col(dense20)}
  ALTER,         20 steps  ${col(alter20)}   (keeps ${((100 * alter20.macs_per_image_g) / dense20.macs_per_image_g).toFixed(1)} % of the per-step MACs; target 65 %)
Open ${out}/report.html for the sample grids, the experts, the routing and the training curves.`);

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

// 1. Compress: 65 % of the UNet's per-step MACs, 4 experts, a short co-optimisation then fine-tuning.
alter([
  "prune", "--teacher", teacher, "--data", "data/fashion-mnist-slice", "--out", `${out}/alter`,
  "--ratio", "0.65", "--experts", "4", "--batch", "16", "--lr-hyper", "0.02", "--lr-unet", "1e-4",
  "--steps", quick ? "12" : "240", "--hyper-steps", quick ? "8" : "160", "--checkpoint-every", "100",
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
const alter20 = rows.find((r) => r.alter && r.steps === 20);
console.log(`
ALTER at 20 steps vs the dense teacher at 50 steps (${alter20.n} images, measured in this run):
  MACs per image     ${(alter20.macs_vs_dense50 * 100).toFixed(1)} % of dense-50
  latency (batch 1)  ${alter20.latency_ms_b1.toFixed(0)} ms vs ${dense50.latency_ms_b1.toFixed(0)} ms  -> ${alter20.speedup_vs_dense50.toFixed(2)}x faster
  Fréchet (ours)     ${alter20.frechet.toFixed(2)} vs ${dense50.frechet.toFixed(2)}   (lower is better; our classifier's features)
  class accuracy     ${(alter20.class_accuracy * 100).toFixed(1)} % vs ${(dense50.class_accuracy * 100).toFixed(1)} %
Open ${out}/report.html for the sample grids, the experts, the routing and the training curves.`);

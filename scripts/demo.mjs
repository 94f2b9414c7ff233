// `npm run demo`: what alter can do today, in a minute on 2 cores. (The full ALTER demo — compress
// the teacher, sample dense vs ALTER side by side, report — arrives with the ALTER issues.)
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const alter = (args) => {
  console.log(`\n$ alter ${args.join(" ")}`);
  const r = spawnSync(process.execPath, ["bin/alter.js", ...args], { stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

alter(["macs", "--config", "configs/teacher-unet.json", "--context-length", "4"]);
const teacher = "models/fmnist-teacher";
if (existsSync(`${teacher}/model_index.json`)) {
  alter(["sample", "--model", teacher, "--sampler", "ddim", "--steps", "50", "--n", "20", "--guidance", "3", "--out", "demo-output"]);
  console.log("\nwrote demo-output/grid.png (two samples of every Fashion-MNIST class)");
} else {
  console.log(`\n${teacher} is not shipped yet; train one with: alter train-teacher --config configs/teacher-unet.json --out runs/teacher`);
}

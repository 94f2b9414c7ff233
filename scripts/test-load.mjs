#!/usr/bin/env node
// `npm run test:load [-- --steps N]`: a long `alter prune` on the tiny model of the bad-input corpus
// (test/inputs/base), 10,000 steps by default, with checkpoints every 1,000 steps. Resident memory
// is read from train_log.jsonl (every record carries rss_mib) every 100 steps. Passes when memory is
// flat after warm-up (the first 10% of the steps): the largest sample after warm-up exceeds the
// sample at the end of warm-up by less than 5% (and the least-squares slope is printed).
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const i = process.argv.indexOf("--steps");
const steps = i >= 0 ? Number(process.argv[i + 1]) : 10_000;
if (!(Number.isInteger(steps) && steps >= 1000)) {
  console.error("usage: npm run test:load -- [--steps N >= 1000]");
  process.exit(2);
}

const work = mkdtempSync(join(tmpdir(), "alter-load-"));
cpSync(join(ROOT, "test", "inputs", "base"), work, { recursive: true });
const args = ["prune", "--teacher", "model", "--data", "data", "--out", "run", "--steps", String(steps), "--hyper-steps", String(steps / 5),
  "--batch", "2", "--experts", "2", "--checkpoint-every", "1000"];
console.log(`alter ${args.join(" ")}`);
const started = Date.now();
const r = spawnSync(process.execPath, [join(ROOT, "bin", "alter.js"), ...args], { cwd: work, stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, ALTER_DATA_DIR: "" } });
const seconds = (Date.now() - started) / 1000;
if (r.status !== 0) {
  console.error(`the run failed with status ${r.status}`);
  process.exit(1);
}
const records = readFileSync(join(work, "run", "train_log.jsonl"), "utf8").split("\n").filter((l) => l).map((l) => JSON.parse(l));
rmSync(work, { recursive: true, force: true });
const samples = records.filter((rec) => rec.step % 100 === 0).map((rec) => [rec.step, rec.rss_mib]);
const warm = steps / 10;
const after = samples.filter(([s]) => s >= warm);
const base = after[0][1];
const peak = Math.max(...after.map(([, m]) => m));
const n = after.length, mx = after.reduce((a, [s]) => a + s, 0) / n, my = after.reduce((a, [, m]) => a + m, 0) / n;
const slope = after.reduce((a, [s, m]) => a + (s - mx) * (m - my), 0) / after.reduce((a, [s]) => a + (s - mx) ** 2, 0);
console.log(`\n${steps} steps in ${seconds.toFixed(0)} s; RSS every 100 steps (MiB): ${samples.map(([, m]) => m).join(" ")}`);
console.log(
  `after warm-up (step ${warm}): ${base} MiB, peak ${peak} MiB (+${(peak - base).toFixed(1)} MiB, ${((100 * (peak - base)) / base).toFixed(1)}%), ` +
    `end ${after[n - 1][1]} MiB, slope ${(slope * 1000).toFixed(2)} MiB per 1,000 steps`,
);
const flat = peak - base < 0.05 * base;
console.log(flat ? "memory is flat after warm-up" : "FAIL: memory grows after warm-up");
process.exit(flat ? 0 : 1);

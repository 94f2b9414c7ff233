#!/usr/bin/env node
// `npm run test:faults [-- --quick]`: fault injection against the real `alter` CLI on a tiny model
// (the valid workspace of the bad-input corpus, test/inputs/base). Checks, and prints as figures:
//
//   kill -9      `alter train-teacher` and `alter prune` are killed at random moments, and on purpose
//                while a checkpoint is being written (ALTER_FAULTS=slow-write holds each write open),
//                then resumed, until they finish. After every kill each checkpoint file present must
//                parse completely and the newest must not be older than before the kill. The
//                finished run must equal an uninterrupted run bitwise (every weight of the exported
//                model and of the checkpoint) and its train_log.jsonl must be the uninterrupted log.
//   disk full    --out on a tmpfs that holds one checkpoint but not two: one-line ENOSPC error,
//                the previous checkpoint intact and resumable.
//   read-only    --out remounted read-only mid-run: one-line EROFS error, checkpoint intact.
//   Ctrl-C       SIGINT writes a checkpoint and exits 130 with a message; a second SIGINT exits,
//                without a checkpoint, when the step it interrupts ends.
//   NaN          ALTER_FAULTS=nan-loss makes a loss term NaN: the run stops with status 2 naming the
//                step, the term and the checkpoint to resume from.
//
// --quick (CI): 4 kills per command instead of 12. The disk tests need root (to mount a tmpfs);
// without it they are reported as skipped.
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const CLI = join(ROOT, "bin", "alter.js");
const { readSafetensors } = await import(join(ROOT, "dist", "src", "nn", "safetensors.js"));

const quick = process.argv.includes("--quick");
const KILLS_PER_COMMAND = quick ? 4 : 12;
let seed = 20261126;
const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);

const work = mkdtempSync(join(tmpdir(), "alter-faults-"));
cpSync(join(ROOT, "test", "inputs", "base"), work, { recursive: true });
const ENV = { ...process.env, ALTER_NUM_THREADS: "1", ALTER_DATA_DIR: "", ALTER_FAULTS: "" };

const COMMANDS = {
  "train-teacher": (out) => ["train-teacher", "--config", "unet.json", "--data", "data", "--out", out, "--steps", "90", "--batch", "8", "--warmup", "5", "--checkpoint-every", "3"],
  prune: (out) => ["prune", "--teacher", "model", "--data", "data", "--out", out, "--steps", "60", "--hyper-steps", "30", "--batch", "4", "--experts", "2", "--warmup", "2", "--checkpoint-every", "3"],
};

const failures = [];
const check = (ok, what) => {
  if (!ok) failures.push(what);
  process.stdout.write(`${ok ? "ok  " : "FAIL"} ${what}\n`);
  return ok;
};

function start(args, env = {}) {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: work, env: { ...ENV, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  child.out = "";
  child.err = "";
  child.stdout.on("data", (d) => (child.out += d));
  child.stderr.on("data", (d) => (child.err += d));
  child.done = new Promise((resolve) => child.on("close", (status, signal) => resolve({ status, signal })));
  return child;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const runToEnd = async (args, env) => {
  const child = start(args, env);
  const r = await child.done;
  return { ...r, stderr: child.err };
};

const CKPT_FILES = ["checkpoint.safetensors", "checkpoint.safetensors.next", "checkpoint.safetensors.prev"];
/** Parses every checkpoint file in `out`; returns the newest step, or throws naming a bad file. */
function newestCheckpointStep(out) {
  let newest = -1;
  for (const name of CKPT_FILES) {
    const path = join(work, out, name);
    if (!existsSync(path)) continue;
    const { metadata } = readSafetensors(path); // throws on any damage
    const state = JSON.parse(metadata.alter_state);
    const step = state.step + (state.hyperStep !== undefined && state.settings?.method === "two-stage" ? state.hyperStep : 0);
    newest = Math.max(newest, step);
  }
  return newest;
}
const hasTemporary = (out) => existsSync(join(work, out)) && readdirSync(join(work, out)).some((n) => n.endsWith(".tmp"));

function tensorsEqual(pathA, pathB) {
  const a = readSafetensors(pathA).tensors, b = readSafetensors(pathB).tensors;
  if (a.size !== b.size) return `${a.size} vs ${b.size} tensors`;
  for (const [name, t] of a) {
    const u = b.get(name);
    if (u === undefined) return `${name} missing`;
    if (t.data.length !== u.data.length) return `${name} length differs`;
    const x = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);
    const y = new Uint32Array(u.data.buffer, u.data.byteOffset, u.data.length);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return `${name}[${i}] differs`;
  }
  return null;
}
const logWithoutTimes = (out) =>
  readFileSync(join(work, out, "train_log.jsonl"), "utf8").split("\n").filter((l) => l).map((l) => {
    const r = JSON.parse(l);
    delete r.elapsed_s;
    delete r.rss_mib;
    return JSON.stringify(r);
  });

// ---- kill -9 and resume ------------------------------------------------------------------------------
const figures = {};
for (const [command, argsFor] of Object.entries(COMMANDS)) {
  const refOut = `${command}-reference`, out = `${command}-killed`;
  const t0 = Date.now();
  const ref = await runToEnd(argsFor(refOut));
  const refSeconds = (Date.now() - t0) / 1000;
  if (!check(ref.status === 0, `${command}: the uninterrupted reference run finishes (${refSeconds.toFixed(1)} s)`)) {
    process.stdout.write(ref.stderr.slice(-2000) + "\n");
    continue;
  }
  let kills = 0, duringWrite = 0, resumes = 0, badFiles = 0, regressions = 0, lastStep = -1;
  for (let attempt = 0; ; attempt++) {
    const resume = existsSync(join(work, out, "checkpoint.safetensors")) || existsSync(join(work, out, "checkpoint.safetensors.prev")) || existsSync(join(work, out, "checkpoint.safetensors.next"));
    if (resume) resumes++;
    const wantKill = kills < KILLS_PER_COMMAND;
    const targetWrite = wantKill && kills % 2 === 1; // every other kill lands inside a checkpoint write
    const child = start([...argsFor(out), ...(resume ? ["--resume"] : [])], targetWrite ? { ALTER_FAULTS: "slow-write=300" } : {});
    if (!wantKill) {
      const r = await child.done;
      check(r.status === 0, `${command}: the final resumed run finishes (status ${r.status})`);
      if (r.status !== 0) process.stdout.write(child.err.slice(-2000) + "\n");
      break;
    }
    let killedInWrite = false;
    if (targetWrite) {
      // Wait for a checkpoint write to be in progress (its temporary file exists), then kill.
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && child.exitCode === null) {
        if (hasTemporary(out)) {
          killedInWrite = true;
          break;
        }
        await sleep(5);
      }
    } else {
      await sleep(300 + random() * refSeconds * 600);
    }
    if (child.exitCode !== null) {
      // finished before the kill: start over from scratch so every kill hits a live run
      rmSync(join(work, out), { recursive: true, force: true });
      lastStep = -1;
      continue;
    }
    child.kill("SIGKILL");
    await child.done;
    kills++;
    if (killedInWrite || hasTemporary(out)) duringWrite++;
    try {
      const step = newestCheckpointStep(out);
      if (step < lastStep) regressions++;
      lastStep = Math.max(lastStep, step);
    } catch (err) {
      badFiles++;
      process.stdout.write(`     unreadable checkpoint after kill ${kills}: ${err.message}\n`);
    }
  }
  check(kills >= KILLS_PER_COMMAND, `${command}: ${kills} kill -9 (${duringWrite} during a checkpoint write), ${resumes} resumes`);
  check(badFiles === 0, `${command}: no checkpoint file half-written or unreadable after any kill (${badFiles} bad)`);
  check(regressions === 0, `${command}: the newest complete checkpoint never went backwards (${regressions} times)`);
  const modelDiff = tensorsEqual(join(work, refOut, "unet", "diffusion_pytorch_model.safetensors"), join(work, out, "unet", "diffusion_pytorch_model.safetensors"));
  check(modelDiff === null, `${command}: killed-and-resumed model equals the uninterrupted one bitwise${modelDiff ? ` (${modelDiff})` : ""}`);
  const ckptDiff = tensorsEqual(join(work, refOut, "checkpoint.safetensors"), join(work, out, "checkpoint.safetensors"));
  check(ckptDiff === null, `${command}: final checkpoint (weights, EMA, optimizer state) equal bitwise${ckptDiff ? ` (${ckptDiff})` : ""}`);
  const a = logWithoutTimes(refOut), b = logWithoutTimes(out);
  check(JSON.stringify(a) === JSON.stringify(b), `${command}: train_log.jsonl continues the curve: ${b.length} records equal to the uninterrupted run's ${a.length}`);
  figures[command] = { kills, duringWrite, resumes };
}

// ---- Ctrl-C -------------------------------------------------------------------------------------------
{
  const out = "sigint";
  const child = start(COMMANDS["train-teacher"](out).map((a) => (a === "90" ? "100000" : a)));
  while (!existsSync(join(work, out, "checkpoint.safetensors")) && child.exitCode === null) await sleep(20);
  child.kill("SIGINT");
  const t = Date.now();
  const r = await child.done;
  const step = newestCheckpointStep(out);
  check(r.status === 130 && /interrupt received/.test(child.err) && new RegExp(`stopped at step ${step}`).test(child.err),
    `Ctrl-C: checkpoint at step ${step} written, exit 130 with a message after ${Date.now() - t} ms`);
  // Each step is held 500 ms longer, as a real model's step would be, so both signals land inside one
  // step; with the tiny test model a step can end, write its checkpoint and exit between the two.
  const again = start([...COMMANDS["train-teacher"](out).map((a) => (a === "90" ? "100000" : a)), "--resume"], { ALTER_FAULTS: "slow-step=500" });
  // Wait for the progress bar: the Ctrl-C handler is installed by then (before it, Ctrl-C simply
  // ends a run that has not started training).
  while (!/resuming[\s\S]*train-teacher \[/.test(again.err) && again.exitCode === null) await sleep(20);
  again.kill("SIGINT");
  await sleep(30);
  again.kill("SIGINT");
  const t2 = Date.now();
  const r2 = await again.done;
  const waited = Date.now() - t2;
  check(r2.status === 130 && /second SIGINT, exiting now/.test(again.err) && waited < 3000,
    `Ctrl-C twice: exits at the end of the step it interrupts, without a checkpoint (${waited} ms after the second, steps held 500 ms) with status ${r2.status}`);
}

// ---- NaN ----------------------------------------------------------------------------------------------
{
  const r = await runToEnd(COMMANDS["train-teacher"]("nan-teacher"), { ALTER_FAULTS: "nan-loss=8" });
  const line = r.stderr.trim().split("\n").pop();
  check(r.status === 2 && /step 8: the loss is NaN \(denoising MSE\)/.test(line) && /step 6\)/.test(line) && /--resume/.test(line),
    `NaN in train-teacher: stops at the step, names the term and the checkpoint: ${line}`);
  const gi = await runToEnd(COMMANDS["train-teacher"]("inf-teacher"), { ALTER_FAULTS: "inf-grad=5" });
  const giline = gi.stderr.trim().split("\n").pop();
  check(gi.status === 2 && /step 5: the gradient norm is (Infinity|NaN)/.test(giline) && /step 3\)/.test(giline),
    `Inf gradient in train-teacher: stops at the step and names the checkpoint: ${giline}`);
  const gp = await runToEnd(COMMANDS.prune("inf-prune"), { ALTER_FAULTS: "inf-grad=4" });
  const gpline = gp.stderr.trim().split("\n").pop();
  check(gp.status === 2 && /step 4: the UNet gradient norm is (Infinity|NaN)/.test(gpline) && /step 3\)/.test(gpline),
    `Inf gradient in prune: stops at the step and names the checkpoint: ${gpline}`);
  const p = await runToEnd(COMMANDS.prune("nan-prune"), { ALTER_FAULTS: "nan-loss=5" });
  const pline = p.stderr.trim().split("\n").pop();
  check(p.status === 2 && /step 5: .*NaN/.test(pline) && /feature_kd = NaN/.test(pline) && /step 3\)/.test(pline),
    `NaN in prune: stops at the step, names the term and the checkpoint: ${pline}`);
}

// ---- disk full and read-only -------------------------------------------------------------------------
function mountTmpfs(dir, kib) {
  mkdirSync(dir, { recursive: true });
  return spawnSync("mount", ["-t", "tmpfs", "-o", `size=${kib}k`, "tmpfs", dir]).status === 0;
}
const umount = (dir) => spawnSync("umount", ["-l", dir]);
{
  const refDir = join(work, "train-teacher-reference");
  const ckptBytes = statSync(join(refDir, "checkpoint.safetensors")).size;
  const folderBytes = ["unet/diffusion_pytorch_model.safetensors", "class_embedder/diffusion_pytorch_model.safetensors"].reduce((s, f) => s + statSync(join(refDir, f)).size, 0);
  const full = join(work, "full");
  if (!mountTmpfs(full, Math.ceil((1.5 * ckptBytes + folderBytes + 64 * 1024) / 1024))) {
    process.stdout.write("skip disk full and read-only: mounting a tmpfs needs root\n");
    figures.disk = "skipped";
  } else {
    const r = await runToEnd(COMMANDS["train-teacher"]("full"));
    const line = r.stderr.trim().split("\n").pop();
    let step = -1;
    try {
      step = newestCheckpointStep("full");
    } catch (err) {
      line.concat(` [checkpoint unreadable: ${err.message}]`);
    }
    check(r.status === 2 && /ENOSPC/.test(line) && /--resume/.test(line) && step === 3,
      `disk full: one-line error, checkpoint of step ${step} intact: ${line}`);
    umount(full);

    const ro = join(work, "readonly");
    mountTmpfs(ro, 64 * 1024);
    const child = start(COMMANDS["train-teacher"]("readonly").map((a) => (a === "90" ? "100000" : a)));
    // After the first checkpoint and its model export are complete, so the next checkpoint write is what fails.
    while (!(existsSync(join(ro, "checkpoint.safetensors")) && existsSync(join(ro, "model_index.json"))) && child.exitCode === null) await sleep(10);
    spawnSync("mount", ["-o", "remount,ro", ro]);
    const r2 = await child.done;
    const line2 = child.err.trim().split("\n").pop();
    let step2 = -1;
    try {
      step2 = newestCheckpointStep("readonly");
    } catch {
      // reported below
    }
    check(r2.status === 2 && /EROFS/.test(line2) && step2 >= 3, `read-only output: one-line error, checkpoint of step ${step2} intact: ${line2}`);
    umount(ro);

    mountTmpfs(ro, 1024);
    spawnSync("mount", ["-o", "remount,ro", ro]);
    const r3 = await runToEnd(COMMANDS["train-teacher"]("readonly"));
    const line3 = r3.stderr.trim().split("\n").pop();
    check(r3.status === 2 && /EROFS/.test(line3) && !/\n\s+at /.test(r3.stderr), `read-only from the start: one-line error: ${line3}`);
    umount(ro);
  }
}

rmSync(work, { recursive: true, force: true });
const k = Object.entries(figures).filter(([n]) => n !== "disk").map(([n, f]) => `${n} ${f.kills} kills (${f.duringWrite} in a checkpoint write)`).join(", ");
process.stdout.write(`\n${failures.length === 0 ? "all fault checks passed" : `${failures.length} fault check(s) FAILED`}: ${k}\n`);
process.exit(failures.length === 0 ? 0 : 1);

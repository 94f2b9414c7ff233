#!/usr/bin/env node
// `npm run test:inputs`: every case of the bad-input corpus (test/inputs/cases.json) runs the real
// `alter` CLI in a fresh copy of the valid base workspace with the case's malformed file put in
// place. A malformed input passes when alter exits with status 2 within the time limit and prints
// exactly one line, `alter: ...`, with no stack trace, naming the file (or flag), the problem and
// the fix (each case lists what to look for). Control cases (the unmodified workspace) must exit 0.
//
// Options: --filter TEXT (only case ids containing TEXT), --jobs N (default 2), --verbose.
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, readFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const CORPUS = join(ROOT, "test", "inputs");
const CLI = join(ROOT, "bin", "alter.js");
const TIME_LIMIT_MS = 120_000;
// Peak memory allowed for a refused input: every corpus file is under 100 KB, so anything near a
// real model's footprint means a parser trusted a size field.
const RSS_LIMIT_MIB = 400;
const RSS_PROBE = join(CORPUS, "rss-probe.mjs");

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const filter = option("--filter", "");
const jobs = Number(option("--jobs", "2"));
const verbose = args.includes("--verbose");

const cases = JSON.parse(readFileSync(join(CORPUS, "cases.json"), "utf8")).filter((c) => c.id.includes(filter));

function runCase(c) {
  const work = mkdtempSync(join(tmpdir(), `alter-input-${c.id}-`));
  cpSync(join(CORPUS, "base"), work, { recursive: true });
  for (const [path, source] of Object.entries(c.put ?? {})) {
    rmSync(join(work, path), { recursive: true, force: true });
    if (source !== null) {
      mkdirSync(dirname(join(work, path)), { recursive: true });
      cpSync(join(CORPUS, "files", source), join(work, path));
    }
  }
  return new Promise((resolve) => {
    const started = Date.now();
    const rssFile = join(work, ".peak-rss");
    const child = spawn(process.execPath, ["--import", RSS_PROBE, CLI, ...c.args], {
      cwd: work,
      env: { ...process.env, ALTER_NUM_THREADS: "1", ALTER_DATA_DIR: "", ALTER_RSS_FILE: rssFile },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "", stderr = "", timedOut = false;
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, TIME_LIMIT_MS);
    child.on("close", (status) => {
      clearTimeout(timer);
      let peakMiB = NaN;
      try {
        peakMiB = Number(readFileSync(rssFile, "utf8")) / 1024;
      } catch {
        // killed before exit: no figure
      }
      rmSync(work, { recursive: true, force: true });
      resolve({ c, status, stdout, stderr, timedOut, peakMiB, ms: Date.now() - started });
    });
  });
}

/** The reasons a result fails its case (empty = pass). */
function judge({ c, status, stderr, timedOut, peakMiB }) {
  const problems = [];
  if (timedOut) return [`no answer within ${TIME_LIMIT_MS / 1000} s (hang)`];
  if (!(peakMiB <= RSS_LIMIT_MIB)) problems.push(`peak memory ${peakMiB.toFixed(0)} MiB (limit ${RSS_LIMIT_MIB} MiB)`);
  if (status !== c.status) problems.push(`exit status ${status}, expected ${c.status}`);
  if (c.status === 0) return problems;
  // Progress bars may precede the error on stderr; the error is the last line.
  const lines = stderr.replace(/\r/g, "\n").split("\n").map((l) => l.trimEnd()).filter((l) => l !== "");
  const errorLines = lines.filter((l) => !/^\S+ \[[#-]+\]/.test(l));
  if (/\n\s+at .+:\d+:\d+\)?/.test(stderr)) problems.push("prints a stack trace");
  if (errorLines.length !== 1) problems.push(`${errorLines.length} lines of error output, expected one`);
  const message = errorLines[errorLines.length - 1] ?? "";
  if (!message.startsWith("alter: ")) problems.push("the message does not start with `alter: `");
  if (c.names && !message.includes(c.names)) problems.push(`does not name ${c.names}`);
  if (c.problem && !new RegExp(c.problem, "i").test(message)) problems.push(`does not state the problem (/${c.problem}/i)`);
  if (c.fix && !new RegExp(c.fix, "i").test(message)) problems.push(`does not say the fix (/${c.fix}/i)`);
  return problems;
}

const results = [];
let next = 0;
async function worker() {
  while (next < cases.length) {
    const c = cases[next++];
    const r = await runCase(c);
    r.problems = judge(r);
    results.push(r);
    const mark = r.problems.length === 0 ? "ok  " : "FAIL";
    const message = r.stderr.trim().split("\n").filter((l) => l.startsWith("alter:")).pop() ?? "";
    process.stdout.write(`${mark} ${c.id.padEnd(32)} ${String(r.ms).padStart(5)} ms ${r.peakMiB.toFixed(0).padStart(4)} MiB  ${c.status === 0 ? "(control)" : message.slice(0, 150)}\n`);
    if (r.problems.length > 0 || verbose) {
      for (const p of r.problems) process.stdout.write(`       - ${p}\n`);
      if (r.problems.length > 0) process.stdout.write(`       stderr: ${JSON.stringify(r.stderr.slice(-1500))}\n`);
    }
  }
}
await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));

const failed = results.filter((r) => r.problems.length > 0);
const malformed = results.filter((r) => r.c.status !== 0);
const categories = [...new Set(malformed.map((r) => r.c.category))]
  .map((cat) => `${cat} ${malformed.filter((r) => r.c.category === cat).length}`)
  .join(", ");
process.stdout.write(
  `\n${results.length - failed.length}/${results.length} passed: ${malformed.length} malformed inputs (${categories}) ` +
    `and ${results.length - malformed.length} controls; ` +
    `slowest ${Math.max(...results.map((r) => r.ms))} ms, largest peak memory ${Math.max(...results.map((r) => r.peakMiB)).toFixed(0)} MiB\n`,
);
process.exit(failed.length === 0 ? 0 : 1);

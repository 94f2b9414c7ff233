/**
 * @file `alter report`: one self-contained HTML page about a pruning run (the folder `alter prune`
 * wrote): sample grids, expert patterns, routing timeline, training dynamics and results tables.
 * The run folder must hold a valid alter_plan.json; train_log.jsonl, samples and results are optional.
 */
import type { Command } from "commander";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { PLAN_FILE, readPlan } from "../../alter/plan.js";
import { JsonlLog } from "../../util/jsonl.js";
import { ReportError, writeReport, type ReportGrid, type ReportTable } from "../../report/html.js";
import { existingDir, existingFile } from "../options.js";
import { UserError } from "../errors.js";

/**
 * A --samples value: "PATH" or "LABEL=PATH"; PATH is a PNG file, or a folder written by
 * `alter sample` (its grid.png is used). The default label is the folder's (or file's) name.
 */
export function sampleGrid(spec: string): ReportGrid {
  const eq = spec.indexOf("=");
  const hasLabel = eq > 0 && !existsSync(spec);
  const path = hasLabel ? spec.slice(eq + 1) : spec;
  if (!existsSync(path)) throw new UserError(`--samples: "${path}" does not exist (give a PNG file or a folder written by alter sample)`);
  if (statSync(path).isDirectory()) {
    const grid = join(path, "grid.png");
    if (!existsSync(grid)) {
      const pngs = readdirSync(path).filter((f) => f.toLowerCase().endsWith(".png"));
      throw new UserError(`--samples: folder "${path}" has no grid.png${pngs.length ? ` (it has ${pngs.length} other PNG files; pass one of them directly)` : ""}; run alter sample --out ${path} first`);
    }
    return { label: hasLabel ? spec.slice(0, eq) : basename(resolve(path)), pngPath: grid };
  }
  if (!path.toLowerCase().endsWith(".png")) throw new UserError(`--samples: "${path}" is not a .png file`);
  return { label: hasLabel ? spec.slice(0, eq) : basename(path, ".png"), pngPath: path };
}

function isRowArray(v: unknown): v is Record<string, unknown>[] {
  return Array.isArray(v) && v.every((r) => r !== null && typeof r === "object" && !Array.isArray(r));
}

/**
 * Results tables from JSON: an array of rows (one table, "Results"), {title?, rows}, or
 * {tables: [{title, rows}, ...]} (also a bare array of such tables).
 */
export function parseResults(raw: unknown, source: string): ReportTable[] {
  const bad = (why: string): never => {
    throw new UserError(`--results ${source}: ${why}; expected an array of rows {model, steps, macs_per_image_g, latency_ms, speedup, frechet, kid, class_accuracy, ssim, psnr}, {title, rows}, or {tables: [{title, rows}]}`);
  };
  const table = (t: unknown, i: number): ReportTable => {
    if (t === null || typeof t !== "object" || Array.isArray(t)) return bad(`table ${i} is not an object`);
    const o = t as Record<string, unknown>;
    if (!isRowArray(o.rows)) return bad(`table ${i} has no "rows" list of objects`);
    return {
      title: typeof o.title === "string" ? o.title : i === 0 ? "Results" : `Results ${i + 1}`,
      rows: o.rows,
      ...(typeof o.paper === "string" ? { paper: o.paper } : {}),
      ...(typeof o.verdict === "string" ? { verdict: o.verdict } : {}),
      ...(Array.isArray(o.missing) ? { missing: o.missing.map(String) } : {}),
    };
  };
  if (Array.isArray(raw)) {
    if (raw.length > 0 && raw.every((t) => t !== null && typeof t === "object" && Array.isArray((t as Record<string, unknown>).rows))) return raw.map(table);
    if (isRowArray(raw)) return [{ title: "Results", rows: raw }];
    return bad("the array holds something other than row objects");
  }
  if (raw !== null && typeof raw === "object") {
    const o = raw as Record<string, unknown>;
    if (Array.isArray(o.tables)) return o.tables.map(table);
    if ("rows" in o) return [table(o, 0)];
  }
  return bad("unrecognised layout");
}

export function registerReport(program: Command): void {
  program
    .command("report")
    .description(
      "write one self-contained HTML report of a pruning run (no network needed to view it): sample grids, expert patterns\n" +
        "(experts x layers), the routing timeline, training dynamics (every loss term, kept ratio vs target) and results tables",
    )
    .requiredOption("--run <dir>", "pruning run folder written by alter prune (alter_plan.json, train_log.jsonl)")
    .requiredOption("--out <file>", "the HTML file to write")
    .option("--samples <path...>", "sample grids: PNG files or alter sample output folders (their grid.png); LABEL=PATH sets the caption")
    .option("--results <file>", "results tables as JSON (an array of rows {model, steps, macs_per_image_g, latency_ms, speedup, frechet, kid, class_accuracy, ssim, psnr})")
    .option("--title <text>", "page title (default: ALTER report: <run folder name>)")
    .action((o: { run: string; out: string; samples?: string[]; results?: string; title?: string }) => {
      const run = existingDir("--run", o.run);
      const planPath = join(run, PLAN_FILE);
      if (!existsSync(planPath)) {
        throw new UserError(`--run: "${run}" has no ${PLAN_FILE}; give the --out folder of a finished (or interrupted) alter prune run`);
      }
      const plan = readPlan(planPath);
      const logPath = join(run, "train_log.jsonl");
      const records = new JsonlLog(logPath).read();
      if (records.length === 0) process.stderr.write(`alter: warning: no training records in ${logPath}; the report has no training curves\n`);
      const grids = (o.samples ?? []).map(sampleGrid);
      let tables: ReportTable[] = [];
      if (o.results !== undefined) {
        const path = existingFile("--results", o.results);
        let raw: unknown;
        try {
          raw = JSON.parse(readFileSync(path, "utf8"));
        } catch (err) {
          throw new UserError(`--results ${path}: not valid JSON (${(err as Error).message})`);
        }
        tables = parseResults(raw, path);
      }
      if (existsSync(o.out) && statSync(o.out).isDirectory()) throw new UserError(`--out: "${o.out}" is a folder; give a file name such as report.html`);
      try {
        writeReport(o.out, { title: o.title ?? `ALTER report: ${basename(resolve(run))}`, plan, records, grids, tables, source: run });
      } catch (err) {
        if (err instanceof ReportError) throw new UserError(err.message);
        throw err;
      }
      process.stderr.write(`alter: wrote ${o.out} (${grids.length} sample grid${grids.length === 1 ? "" : "s"}, ${tables.length} table${tables.length === 1 ? "" : "s"}, ${records.length} log records)\n`);
    });
}

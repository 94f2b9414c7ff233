/**
 * @file The `alter report` page: one self-contained HTML file (inline CSS, inline SVG figures,
 * sample grids as base64 PNG data URLs, no scripts, no network: a Content-Security-Policy forbids
 * every fetch) with the run summary, sample grids per model, expert patterns, routing timeline,
 * training dynamics and results tables. Every figure is a <figure data-figure="..."> with a
 * numbered caption, so tests (and readers) can find each one.
 */
import { readFileSync } from "node:fs";
import type { AlterPlan } from "../alter/plan.js";
import { writeFileAtomic } from "../util/atomic.js";
import { esc, expertHeatmap, latestRun, keptRatioCurve, lossCurves, presentLossKeys, routingHistory, routingTimeline, type LogRecord } from "./figures.js";

/** A sample grid: a PNG file, or its bytes as base64 (with or without a data: prefix). */
export interface ReportGrid {
  label: string;
  pngPath?: string;
  base64?: string;
}

/** One results table; rows are objects, usually {model, steps, macs_per_image_g, latency_ms, ...}. */
export interface ReportTable {
  title: string;
  rows: Record<string, unknown>[];
  /** The claim the table tests (from `alter tables`), shown above it. */
  paper?: string;
  /** What held here, shown below it. */
  verdict?: string;
  /** Rows the table should have but the evaluation lacks. */
  missing?: readonly string[];
}

export interface ReportInput {
  title: string;
  plan: AlterPlan;
  records: readonly LogRecord[];
  grids?: readonly ReportGrid[];
  tables?: readonly ReportTable[];
  /** Where the run came from (shown in the header), e.g. the run folder. */
  source?: string;
  /** Shown in the footer; defaults to now. */
  generatedAt?: Date;
}

/**
 * The standard results columns, in order, with headers; `aliases` are the names `alter eval` uses
 * (eval.json rows), read when the standard key is absent. Other keys of the rows follow them.
 */
export const RESULT_COLUMNS: { key: string; header: string; digits?: number; aliases?: string[] }[] = [
  { key: "model", header: "model" },
  { key: "steps", header: "steps" },
  { key: "macs_per_image_g", header: "GMACs / image", digits: 3 },
  { key: "latency_ms", header: "latency (ms)", digits: 1, aliases: ["latency_ms_b1"] },
  { key: "speedup", header: "speed-up", digits: 2, aliases: ["speedup_vs_dense50"] },
  { key: "frechet", header: "Fréchet distance ↓", digits: 3 },
  { key: "kid", header: "KID ↓", digits: 4 },
  { key: "class_accuracy", header: "class accuracy ↑", digits: 3 },
  { key: "ssim", header: "SSIM ↑", digits: 3 },
  { key: "psnr", header: "PSNR (dB) ↑", digits: 2 },
];

/** Headers and rounding of the other columns `alter eval` writes. */
const EXTRA_COLUMNS: Record<string, { header: string; digits?: number }> = {
  macs_vs_dense50: { header: "MACs vs dense-50", digits: 3 },
  latency_ms_per_image_batch: { header: "ms / image (batched)", digits: 1 },
  kid_std: { header: "KID std", digits: 4 },
  n: { header: "images" },
  alter: { header: "ALTER plan" },
};

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export class ReportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ReportError";
  }
}

/** The PNG of a grid as a data URL; refuses anything that is not a PNG. */
export function gridDataUrl(grid: ReportGrid): string {
  let bytes: Buffer;
  if (grid.pngPath !== undefined) {
    try {
      bytes = readFileSync(grid.pngPath);
    } catch (err) {
      throw new ReportError(`sample grid "${grid.label}": cannot read ${grid.pngPath} (${(err as Error).message})`);
    }
  } else if (grid.base64 !== undefined) {
    bytes = Buffer.from(grid.base64.replace(/^data:image\/png;base64,/, ""), "base64");
  } else {
    throw new ReportError(`sample grid "${grid.label}" has neither a PNG path nor base64 data`);
  }
  if (bytes.length < PNG_SIGNATURE.length || !bytes.subarray(0, 8).equals(PNG_SIGNATURE)) {
    throw new ReportError(`sample grid "${grid.label}"${grid.pngPath ? ` (${grid.pngPath})` : ""} is not a PNG image`);
  }
  return `data:image/png;base64,${bytes.toString("base64")}`;
}

/** Width and height from a PNG's IHDR chunk (for the <img> size attributes). */
function pngSize(dataUrl: string): { width: number; height: number } | null {
  const bytes = Buffer.from(dataUrl.slice(dataUrl.indexOf(",") + 1, dataUrl.indexOf(",") + 1 + 44), "base64");
  if (bytes.length < 24) return null;
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

/** A table cell: numbers rounded, missing values "-". */
export function formatCell(value: unknown, digits?: number): string {
  if (value === undefined || value === null || value === "" || (typeof value === "number" && !Number.isFinite(value))) return "-";
  if (typeof value === "number") {
    if (Number.isInteger(value) && digits === undefined) return value.toLocaleString("en-US");
    return digits === undefined ? String(Number(value.toPrecision(4))) : value.toFixed(digits);
  }
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function tableHtml(table: ReportTable, index: number): string {
  const known = new Set(RESULT_COLUMNS.flatMap((c) => [c.key, ...(c.aliases ?? [])]));
  const extra: string[] = [];
  for (const row of table.rows) for (const k of Object.keys(row)) if (!known.has(k) && !extra.includes(k)) extra.push(k);
  const value = (row: Record<string, unknown>, c: { key: string; aliases?: string[] }): unknown => {
    if (row[c.key] !== undefined) return row[c.key];
    for (const a of c.aliases ?? []) if (row[a] !== undefined) return row[a];
    return undefined;
  };
  // Standard columns no row fills are left out (tables from `alter tables` name their own columns).
  const standard = table.rows.length === 0 ? RESULT_COLUMNS : RESULT_COLUMNS.filter((c) => table.rows.some((row) => value(row, c) !== undefined));
  const columns = [...standard, ...extra.map((key) => ({ key, header: EXTRA_COLUMNS[key]?.header ?? key, digits: EXTRA_COLUMNS[key]?.digits, aliases: undefined }))];
  const head = columns.map((c, i) => `<th scope="col"${i === 0 ? "" : ` class="num"`}>${esc(c.header)}</th>`).join("");
  const body = table.rows.length === 0
    ? `<tr><td colspan="${columns.length}" class="empty">no rows</td></tr>`
    : table.rows.map((row) => `<tr>${columns.map((c, i) => {
      const v = formatCell(value(row, c), c.digits);
      return i === 0 ? `<th scope="row">${esc(v)}</th>` : `<td class="num">${esc(v)}</td>`;
    }).join("")}</tr>`).join("\n");
  const paper = table.paper ? `<p class="claim"><b>Paper:</b> ${esc(table.paper)}.</p>` : "";
  const verdict = table.verdict ? `<p class="verdict"><b>Here:</b> ${esc(table.verdict)}.</p>` : "";
  const missing = table.missing && table.missing.length > 0 ? `<p class="empty">Missing rows: ${esc(table.missing.join(", "))}.</p>` : "";
  return `<div class="table-wrap" data-table="${index}">${paper}<table><caption>Table ${index + 1}. ${esc(table.title)}</caption><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>${verdict}${missing}</div>`;
}

const CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #fafafa; color: #1d1d1f; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 24px 48px; }
h1 { font-size: 26px; margin: 0 0 6px; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #ddd; }
.sub { color: #555; margin: 0 0 18px; }
nav ol { margin: 6px 0 0; padding-left: 20px; columns: 2; }
.summary { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 10px; margin: 16px 0; }
.stat { background: #fff; border: 1px solid #e2e2e2; border-radius: 8px; padding: 10px 12px; }
.stat .k { color: #666; font-size: 12px; }
.stat .v { font-size: 20px; font-weight: 600; }
figure { margin: 14px 0 22px; background: #fff; border: 1px solid #e2e2e2; border-radius: 8px; padding: 12px; overflow-x: auto; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption { color: #444; font-size: 13.5px; margin-top: 8px; }
figcaption b { color: #1d1d1f; }
.grids { display: flex; flex-wrap: wrap; gap: 14px; }
.grids figure { margin: 0; flex: 0 1 auto; }
.grids img { display: block; image-rendering: pixelated; min-width: 128px; max-width: 100%; height: auto; }
.table-wrap { overflow-x: auto; margin: 12px 0 20px; }
table { border-collapse: collapse; background: #fff; font-size: 13.5px; min-width: 60%; }
caption { text-align: left; font-weight: 600; padding: 0 0 6px; }
th, td { border: 1px solid #e2e2e2; padding: 5px 9px; }
thead th { background: #f1f3f5; }
tbody th { text-align: left; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.empty, p.empty { color: #777; font-style: italic; }
p.claim { margin: 14px 0 4px; color: #444; }
p.verdict { margin: 6px 0 14px; }
details { margin: 8px 0; }
pre { background: #fff; border: 1px solid #e2e2e2; border-radius: 6px; padding: 10px; overflow-x: auto; font-size: 12.5px; }
footer { color: #777; font-size: 12.5px; margin-top: 40px; }
`;

function pct(v: number): string {
  return `${(v * 100).toFixed(1)}%`;
}

/** The complete report page. */
export function renderReport(input: ReportInput): string {
  const { plan } = input;
  const { records, dropped } = latestRun(input.records);
  const grids = input.grids ?? [];
  const tables = input.tables ?? [];
  let figureNo = 0;
  const figure = (id: string, body: string, caption: string): string =>
    `<figure data-figure="${esc(id)}" id="fig-${esc(id)}">${body}<figcaption><b>Figure ${++figureNo}.</b> ${caption}</figcaption></figure>`;

  const used = new Set(plan.router).size;
  const steps = records.map((r) => r.step).filter((s): s is number => typeof s === "number");
  const lastStep = steps.length ? Math.max(...steps) : undefined;
  const hyperSteps = records.filter((r) => r.frozen !== true && typeof r.step === "number").length;
  const stat = (k: string, v: string): string => `<div class="stat"><div class="k">${esc(k)}</div><div class="v">${esc(v)}</div></div>`;
  const summary = [
    stat("kept MACs (realised / target)", `${pct(plan.realised_ratio)} / ${pct(plan.target_ratio)}`),
    stat("kept prunable MACs", `${pct(plan.realised_prunable_ratio)} / ${pct(plan.target_prunable_ratio)}`),
    stat("experts used", `${used} of ${plan.experts.length}`),
    stat("prunable layers", String(plan.layers.length)),
    stat("training timesteps", String(plan.router.length)),
    stat("GMACs per UNet evaluation (dense)", (plan.total_macs / 1e9).toFixed(3)),
    stat("logged steps", lastStep === undefined ? "-" : `${records.length} (last step ${lastStep})`),
    ...(dropped > 0 ? [stat("log records superseded (a restarted run) or without a step", String(dropped))] : []),
  ].join("");

  const sections: string[] = [];
  const toc: string[] = [];
  const section = (id: string, heading: string, body: string): void => {
    toc.push(`<li><a href="#${id}">${esc(heading)}</a></li>`);
    sections.push(`<section id="${id}"><h2>${esc(heading)}</h2>${body}</section>`);
  };

  // Sample grids.
  if (grids.length > 0) {
    const items = grids.map((g, i) => {
      const url = gridDataUrl(g);
      const size = pngSize(url);
      const scale = size && size.width < 256 ? Math.ceil(256 / size.width) : 1;
      const dims = size ? ` width="${size.width * scale}" height="${size.height * scale}"` : "";
      return figure(`grid-${i}`, `<img src="${url}" alt="${esc(`sample grid: ${g.label}`)}"${dims}>`, `Samples from <b>${esc(g.label)}</b>${size ? ` (${size.width}x${size.height} px)` : ""}.`);
    });
    section("samples", "Sample grids", `<div class="grids">${items.join("")}</div>`);
  }

  section("experts", "Expert patterns", figure("expert-heatmap", expertHeatmap(plan),
    `Which prunable layers each expert keeps (rows: experts; columns: layers in the plan's flat order, short names; the grey strip above shows each layer's MACs). ` +
      `Right: each expert's kept fraction of the prunable and of all MACs, and the share of training timesteps routed to it. Hover a cell for the full layer name.`));

  section("routing", "Routing", figure("routing-timeline", routingTimeline(plan),
    `The router: the expert serving each training timestep t (${plan.router.length} timesteps; inference rounds the sampler's timestep to the nearest). ` +
      `${used} of ${plan.experts.length} experts in use; the realised kept ratio averages the experts uniformly over t.`) +
    (records.some((r) => Array.isArray(r.routing))
      ? figure("routing-history", routingHistory(records, plan.experts.length),
        "How the timesteps were shared among experts during training (logged routing histograms); the split stops changing once the plan is frozen.")
      : ""));

  const lossKeys = presentLossKeys(records);
  const targetPrunable = plan.target_prunable_ratio;
  const dynamics = records.length === 0
    ? `<p class="empty">No training log (train_log.jsonl) was found for this run, so there are no training curves.</p>`
    : figure("loss-curves", lossCurves(records, lossKeys),
      `Every logged loss term against the training step (${lossKeys.length} term${lossKeys.length === 1 ? "" : "s"}); ` +
        `blue: steps with hypernetwork updates (${hyperSteps} logged), grey: the plan frozen while the UNet keeps fine-tuning.`) +
      figure("kept-ratio", keptRatioCurve(records, plan.target_ratio, { targetPrunable }),
        `The realised kept fraction of MACs of the current hard plan against the target ${pct(plan.target_ratio)} ` +
          `(and of the prunable MACs against ${pct(targetPrunable)}), with the same phase shading.`);
  section("dynamics", "Training dynamics", dynamics);

  section("results", "Results", tables.length === 0
    ? `<p class="empty">No results tables were given (pass --results FILE.json).</p>`
    : tables.map((t, i) => tableHtml(t, i)).join("\n"));

  section("settings", "Run settings", `<details><summary>settings of the run (from alter_plan.json)</summary><pre>${esc(JSON.stringify(plan.settings, null, 2))}</pre></details>`);

  const generated = (input.generatedAt ?? new Date()).toISOString();
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="generator" content="alter report">
<title>${esc(input.title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<header>
<h1>${esc(input.title)}</h1>
<p class="sub">ALTER pruning report${input.source ? ` for <code>${esc(input.source)}</code>` : ""}: layer-pruned temporal experts.</p>
<div class="summary">${summary}</div>
<nav><b>Contents</b><ol>${toc.join("")}</ol></nav>
</header>
${sections.join("\n")}
<footer>Generated by <code>alter report</code> at ${esc(generated)}. Self-contained: no scripts, fonts or network requests.</footer>
</main>
</body>
</html>
`;
}

/** Renders the report and writes it atomically (a reader never sees a half-written page). */
export function writeReport(path: string, input: ReportInput): void {
  writeFileAtomic(path, renderReport(input));
}

/**
 * @file The figures of `alter report`, each a self-contained SVG string (no scripts, no external
 * fonts or images), built by hand from d3-scale (positions, ticks) and d3-shape (line paths), which
 * need no DOM and no browser:
 * - expertHeatmap: experts x prunable layers, kept/skipped cells, each expert's kept MAC fraction;
 * - routingTimeline: the expert the router picks at every training timestep;
 * - lossCurves: one small panel per loss term over training steps;
 * - keptRatioCurve: the realised kept-MAC ratio over steps against the target, with the
 *   hypernetwork phase and the frozen-plan phase shaded.
 * Every figure has a <title> and <desc> for screen readers; cells and curves carry <title> tooltips.
 */
import { scaleBand, scaleLinear, scaleLog, type ScaleContinuousNumeric } from "d3-scale";
import { line } from "d3-shape";
import type { AlterPlan } from "../alter/plan.js";
import { keptFractions } from "../alter/plan.js";

/** One record of train_log.jsonl (only the numeric and boolean fields are used). */
export type LogRecord = Record<string, unknown>;

/** The loss terms alter prune logs, in the order the report shows them. */
export const LOSS_KEYS = ["unet_loss", "denoise", "output_kd", "feature_kd", "hyper_loss", "perf", "ratio_loss", "balance"] as const;

/** Human captions of the logged terms. */
export const TERM_LABELS: Record<string, string> = {
  unet_loss: "UNet loss (total)",
  denoise: "denoising loss",
  output_kd: "output distillation",
  feature_kd: "feature distillation",
  hyper_loss: "hypernetwork loss (total)",
  perf: "performance loss L_perf",
  ratio_loss: "MAC-budget loss",
  balance: "router balance loss",
  kept_soft: "soft kept fraction (prunable)",
};

const FONT = `font-family="system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"`;
const TABLEAU10 = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
const HYPER_SHADE = "#dbe9f6";
const FROZEN_SHADE = "#efefef";

/** A categorical colour for expert `e` (Tableau 10, then evenly spaced hues). */
export function expertColor(e: number): string {
  if (e < TABLEAU10.length) return TABLEAU10[e];
  return `hsl(${Math.round((e * 137.508) % 360)}, 55%, 50%)`;
}

/** Escapes text for XML/HTML content and attribute values. */
export function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

/** Rounds a coordinate to 2 decimals (smaller files, stable output). */
function r2(v: number): number {
  return Math.round(v * 100) / 100;
}

/**
 * Drops the inner points of every horizontal run of a polyline (same y as both neighbours): the drawn
 * line is unchanged, and a series that stays flat for most of a long run (the routing after the freeze,
 * 20,000 steps of it) costs two points instead of thousands.
 */
export function dropFlatPoints(points: readonly [number, number][]): [number, number][] {
  return points.filter((p, i) => i === 0 || i === points.length - 1 || !(points[i - 1][1] === p[1] && points[i + 1][1] === p[1]));
}

function svgOpen(width: number, height: number, figure: string, title: string, desc: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="figure-svg" data-svg="${esc(figure)}" width="${r2(width)}" height="${r2(height)}" ` +
    `viewBox="0 0 ${r2(width)} ${r2(height)}" role="img" ${FONT} font-size="11">` +
    `<title>${esc(title)}</title><desc>${esc(desc)}</desc><rect class="background" x="0" y="0" width="${r2(width)}" height="${r2(height)}" fill="#ffffff"/>`
  );
}

function text(x: number, y: number, content: string, attrs = ""): string {
  return `<text x="${r2(x)}" y="${r2(y)}"${attrs ? " " + attrs : ""}>${esc(content)}</text>`;
}

/** A placeholder figure saying why there is nothing to draw (still a valid, visible SVG). */
function emptyFigure(figure: string, title: string, message: string, width = 520, height = 120): string {
  return (
    svgOpen(width, height, figure, title, message) +
    `<rect x="8" y="8" width="${width - 16}" height="${height - 16}" fill="none" stroke="#bbbbbb" stroke-dasharray="4 3"/>` +
    text(width / 2, height / 2 + 4, message, `text-anchor="middle" fill="#666666"`) +
    `</svg>`
  );
}

/**
 * Compact number for tick labels: thousands grouped (training steps run to tens of thousands, and
 * neighbouring ticks must read differently), exponents only for the very large and very small.
 */
export function formatTick(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e7 || a < 1e-3) return v.toExponential(1).replace("e+", "e").replace(".0e", "e");
  if (a >= 1e3) return Math.round(v).toLocaleString("en-US");
  if (a >= 100) return String(Math.round(v));
  return String(Number(v.toPrecision(3)));
}

function bottomAxis(x: (v: number) => number, ticks: number[], y: number, x0: number, x1: number, label?: string, labelY?: number): string {
  let out = `<g class="axis axis-x"><line x1="${r2(x0)}" x2="${r2(x1)}" y1="${r2(y)}" y2="${r2(y)}" stroke="#333333"/>`;
  for (const t of ticks) {
    const px = x(t);
    out += `<line x1="${r2(px)}" x2="${r2(px)}" y1="${r2(y)}" y2="${r2(y + 4)}" stroke="#333333"/>`;
    out += text(px, y + 15, formatTick(t), `text-anchor="middle" fill="#333333"`);
  }
  if (label) out += text((x0 + x1) / 2, labelY ?? y + 30, label, `text-anchor="middle" fill="#333333"`);
  return out + `</g>`;
}

function leftAxis(y: (v: number) => number, ticks: number[], x: number, y0: number, y1: number, gridTo?: number, format = formatTick): string {
  let out = `<g class="axis axis-y"><line x1="${r2(x)}" x2="${r2(x)}" y1="${r2(y0)}" y2="${r2(y1)}" stroke="#333333"/>`;
  for (const t of ticks) {
    const py = y(t);
    if (gridTo !== undefined) out += `<line x1="${r2(x)}" x2="${r2(gridTo)}" y1="${r2(py)}" y2="${r2(py)}" stroke="#e4e4e4"/>`;
    out += `<line x1="${r2(x - 4)}" x2="${r2(x)}" y1="${r2(py)}" y2="${r2(py)}" stroke="#333333"/>`;
    out += text(x - 6, py + 3.5, format(t), `text-anchor="end" fill="#333333"`);
  }
  return out + `</g>`;
}

/**
 * A short label for a diffusers layer path: "down_blocks.1.resnets.0" -> "d1.r0",
 * "up_blocks.2.attentions.1.transformer_blocks.0" -> "u2.a1", "mid_block.resnets.1" -> "m.r1"
 * (a transformer block other than the first gets a suffix: "u2.a1.3").
 */
export function shortLayerName(name: string): string {
  const m = /^(down_blocks|up_blocks|mid_block)(?:\.(\d+))?\.(resnets|attentions)\.(\d+)(?:\.transformer_blocks\.(\d+))?$/.exec(name);
  if (!m) return name.length > 12 ? name.split(".").map((p) => (/^\d+$/.test(p) ? p : p[0])).join("") : name;
  const block = m[1] === "mid_block" ? "m" : `${m[1][0]}${m[2] ?? ""}`;
  const layer = m[3] === "resnets" ? `r${m[4]}` : `a${m[4]}${m[5] !== undefined && m[5] !== "0" ? "." + m[5] : ""}`;
  return `${block}.${layer}`;
}

/** Contiguous runs of equal values: [start, endExclusive, value]. */
function runs<T>(values: readonly T[]): [number, number, T][] {
  const out: [number, number, T][] = [];
  let start = 0;
  for (let i = 1; i <= values.length; i++) {
    if (i === values.length || values[i] !== values[start]) {
      out.push([start, i, values[start]]);
      start = i;
    }
  }
  return out;
}

/** The share of training timesteps routed to each expert. */
function routerShares(plan: AlterPlan): number[] {
  const counts = new Array<number>(plan.experts.length).fill(0);
  for (const e of plan.router) counts[e]++;
  return counts.map((c) => c / Math.max(1, plan.router.length));
}

function pct(v: number, digits = 1): string {
  return `${(v * 100).toFixed(digits)}%`;
}

/**
 * Experts (rows) x prunable layers (columns): a filled cell keeps the layer, a pale one skips it.
 * A strip above the columns shows each layer's share of the prunable MACs; the right margin gives
 * each expert's kept fraction of the prunable and of the total MACs and its share of timesteps.
 */
export function expertHeatmap(plan: AlterPlan): string {
  const NL = plan.layers.length, NE = plan.experts.length;
  const title = "Expert patterns";
  if (NL === 0 || NE === 0) return emptyFigure("expert-heatmap", title, "the plan has no layers or experts");
  const labels = plan.layers.map((l) => shortLayerName(l.name));
  const longestLabel = Math.max(...labels.map((l) => l.length));
  const cell = Math.max(10, Math.min(32, Math.floor(760 / NL)));
  const rowH = Math.max(18, Math.min(30, cell + 4));
  const left = 78, top = 44 + Math.ceil(longestLabel * 6.2 * Math.SQRT1_2) + 10;
  const gridW = cell * NL, gridH = rowH * NE;
  const annW = 390;
  const width = Math.max(left + gridW + 12 + annW, left + 600), height = top + gridH + 48;
  const x = scaleBand<number>().domain(plan.layers.map((_, i) => i)).range([left, left + gridW]).paddingInner(0.08);
  const y = scaleBand<number>().domain(plan.experts.map((_, e) => e)).range([top, top + gridH]).paddingInner(0.15);
  const shares = routerShares(plan);
  const prunableMacs = plan.layers.reduce((s, l) => s + l.macs, 0);
  const maxMacs = Math.max(...plan.layers.map((l) => l.macs));

  let out = svgOpen(width, height, "expert-heatmap", title,
    `${NE} experts by ${NL} prunable layers; filled cells are kept layers. Right: kept fraction of prunable and total MACs, and share of timesteps routed to the expert.`);
  // Layer MAC strip.
  const stripTop = 26, stripH = 14;
  out += text(left - 6, stripTop + 11, "MACs", `text-anchor="end" fill="#555555" font-size="10"`);
  plan.layers.forEach((l, i) => {
    const h = Math.max(1, (stripH * l.macs) / maxMacs);
    out += `<rect class="mac-bar" x="${r2(x(i)!)}" y="${r2(stripTop + stripH - h)}" width="${r2(x.bandwidth())}" height="${r2(h)}" fill="#9aa5b1">` +
      `<title>${esc(`${l.name} (${l.kind}): ${l.macs.toLocaleString("en-US")} MACs, ${pct(l.macs / prunableMacs)} of the prunable MACs`)}</title></rect>`;
  });
  // Column labels (rotated).
  plan.layers.forEach((l, i) => {
    const cx = x(i)! + x.bandwidth() / 2, ly = top - 6;
    out += `<text x="${r2(cx)}" y="${r2(ly)}" transform="rotate(-45 ${r2(cx)} ${r2(ly)})" font-size="10" fill="${l.kind === "transformer" ? "#7a3e9d" : "#333333"}">${esc(labels[i])}</text>`;
  });
  // Cells.
  plan.experts.forEach((mask, e) => {
    const cy = y(e)!;
    out += text(left - 8, cy + y.bandwidth() / 2 + 4, `expert ${e}`, `text-anchor="end" fill="#222222"`);
    mask.forEach((keep, i) => {
      const l = plan.layers[i];
      out += `<rect class="cell ${keep ? "kept" : "skipped"}" x="${r2(x(i)!)}" y="${r2(cy)}" width="${r2(x.bandwidth())}" height="${r2(y.bandwidth())}" ` +
        `fill="${keep ? expertColor(e) : "#f1f1f1"}" stroke="${keep ? "none" : "#d5d5d5"}"><title>${esc(`expert ${e}: ${keep ? "keeps" : "skips"} ${l.name}`)}</title></rect>`;
    });
    const f = keptFractions(mask, plan.layers, plan.total_macs);
    const unused = shares[e] === 0;
    out += text(left + gridW + 12, cy + y.bandwidth() / 2 + 4,
      `keeps ${pct(f.prunable)} of prunable, ${pct(f.total)} of all MACs · ${pct(shares[e])} of timesteps${unused ? " (unused)" : ""}`,
      `fill="${unused ? "#999999" : "#222222"}" font-size="10.5"`);
  });
  // Legend.
  const ly = top + gridH + 22;
  out += `<rect x="${left}" y="${ly - 9}" width="11" height="11" fill="${expertColor(0)}"/>` + text(left + 16, ly, "kept layer");
  out += `<rect x="${left + 90}" y="${ly - 9}" width="11" height="11" fill="#f1f1f1" stroke="#d5d5d5"/>` + text(left + 106, ly, "skipped layer");
  out += text(left + 200, ly, "labels: d/m/u = down/mid/up block, r = resnet, a = transformer (purple)", `fill="#555555" font-size="10"`);
  out += text(left, ly + 16, `plan: target ${pct(plan.target_ratio)} of the UNet's MACs, realised ${pct(plan.realised_ratio)} (prunable: target ${pct(plan.target_prunable_ratio)}, realised ${pct(plan.realised_prunable_ratio)})`, `fill="#555555" font-size="10"`);
  return out + `</svg>`;
}

/**
 * The router over training timesteps: one lane per expert with a bar where that expert serves the
 * timestep, and a colour band (the expert of each timestep) underneath.
 */
export function routingTimeline(plan: AlterPlan): string {
  const T = plan.router.length, NE = plan.experts.length;
  const title = "Routing timeline";
  if (T === 0 || NE === 0) return emptyFigure("routing-timeline", title, "the plan has no router");
  const left = 70, right = 170, top = 16;
  const laneH = Math.max(14, Math.min(26, Math.floor(200 / NE)));
  const plotW = 720, lanesH = laneH * NE, bandGap = 10, bandH = 18;
  const width = left + plotW + right, height = top + lanesH + bandGap + bandH + 46;
  const x = scaleLinear().domain([0, T]).range([left, left + plotW]);
  const y = scaleBand<number>().domain(plan.experts.map((_, e) => e)).range([top, top + lanesH]).paddingInner(0.2);
  const shares = routerShares(plan);
  let out = svgOpen(width, height, "routing-timeline", title,
    `The expert used at each of the ${T} training timesteps (0 = least noise). Lanes: one per expert; band: expert colour by timestep.`);
  // Lanes.
  plan.experts.forEach((_, e) => {
    const ly = y(e)!;
    out += `<rect class="lane" x="${left}" y="${r2(ly)}" width="${plotW}" height="${r2(y.bandwidth())}" fill="#f6f6f6"/>`;
    out += text(left - 8, ly + y.bandwidth() / 2 + 4, `expert ${e}`, `text-anchor="end" fill="#222222"`);
    out += text(left + plotW + 8, ly + y.bandwidth() / 2 + 4, `${pct(shares[e])} of timesteps`, `fill="${shares[e] ? "#222222" : "#999999"}" font-size="10.5"`);
  });
  const segments = runs(plan.router);
  for (const [t0, t1, e] of segments) {
    const tip = esc(`timesteps ${t0}-${t1 - 1}: expert ${e}`);
    out += `<rect class="segment" x="${r2(x(t0))}" y="${r2(y(e)!)}" width="${r2(Math.max(0.5, x(t1) - x(t0)))}" height="${r2(y.bandwidth())}" fill="${expertColor(e)}"><title>${tip}</title></rect>`;
  }
  // Colour band.
  const by = top + lanesH + bandGap;
  for (const [t0, t1, e] of segments) {
    out += `<rect class="band" x="${r2(x(t0))}" y="${r2(by)}" width="${r2(Math.max(0.5, x(t1) - x(t0)))}" height="${bandH}" fill="${expertColor(e)}"><title>${esc(`timesteps ${t0}-${t1 - 1}: expert ${e}`)}</title></rect>`;
  }
  out += text(left - 8, by + bandH / 2 + 4, "router", `text-anchor="end" fill="#222222"`);
  out += bottomAxis(x, x.ticks(10).filter((t) => t <= T), by + bandH + 4, left, left + plotW, "training timestep t (0 = clean, T-1 = pure noise)");
  out += text(left + plotW + 8, by + bandH / 2 + 4, `${segments.length} segment${segments.length === 1 ? "" : "s"}`, `fill="#555555" font-size="10.5"`);
  return out + `</svg>`;
}

function numberAt(record: LogRecord, key: string): number | undefined {
  const v = record[key];
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/**
 * The records of the latest run in a log: a step that does not increase starts over (a run
 * restarted into the same folder, or resumed after records were written past its checkpoint), so
 * the earlier records from that step on are dropped. Records without a numeric step are dropped.
 */
export function latestRun(records: readonly LogRecord[]): { records: LogRecord[]; dropped: number } {
  const kept: LogRecord[] = [];
  for (const r of records) {
    const s = numberAt(r, "step");
    if (s === undefined) continue;
    while (kept.length > 0 && numberAt(kept[kept.length - 1], "step")! >= s) kept.pop();
    kept.push(r);
  }
  return { records: kept, dropped: records.length - kept.length };
}

/** The phases of training: steps with hypernetwork updates and steps with the plan frozen. */
export function phases(records: readonly LogRecord[]): { frozen: boolean; from: number; to: number }[] {
  const withStep = records.filter((r) => numberAt(r, "step") !== undefined);
  if (withStep.length === 0) return [];
  const flags = withStep.map((r) => r.frozen === true);
  return runs(flags).map(([i0, i1, frozen]) => ({
    frozen,
    from: i0 === 0 ? numberAt(withStep[0], "step")! : (numberAt(withStep[i0 - 1], "step")! + numberAt(withStep[i0], "step")!) / 2,
    to: i1 === withStep.length ? numberAt(withStep[withStep.length - 1], "step")! : (numberAt(withStep[i1 - 1], "step")! + numberAt(withStep[i1], "step")!) / 2,
  }));
}

function shadePhases(records: readonly LogRecord[], x: (v: number) => number, y0: number, y1: number): string {
  let out = "";
  for (const p of phases(records)) {
    const a = x(p.from), b = x(p.to);
    out += `<rect class="phase ${p.frozen ? "frozen" : "hyper"}" x="${r2(a)}" y="${r2(y0)}" width="${r2(Math.max(1, b - a))}" height="${r2(y1 - y0)}" fill="${p.frozen ? FROZEN_SHADE : HYPER_SHADE}">` +
      `<title>${p.frozen ? "plan frozen (UNet fine-tuning only)" : "hypernetwork updates"}: steps ${formatTick(p.from)}-${formatTick(p.to)}</title></rect>`;
  }
  return out;
}

function series(records: readonly LogRecord[], key: string): [number, number][] {
  const pts: [number, number][] = [];
  for (const r of records) {
    const s = numberAt(r, "step"), v = numberAt(r, key);
    if (s !== undefined && v !== undefined) pts.push([s, v]);
  }
  return pts;
}

function stepDomain(records: readonly LogRecord[]): [number, number] {
  const steps = records.map((r) => numberAt(r, "step")).filter((s): s is number => s !== undefined);
  if (steps.length === 0) return [0, 1];
  const lo = Math.min(...steps), hi = Math.max(...steps);
  return lo === hi ? [lo - 0.5, hi + 0.5] : [lo, hi];
}

/** The logged loss terms present in `records`, in LOSS_KEYS order. */
export function presentLossKeys(records: readonly LogRecord[]): string[] {
  return LOSS_KEYS.filter((k) => records.some((r) => numberAt(r, k) !== undefined));
}

/**
 * One panel per loss term against the training step (3 panels per row). A term whose values span
 * more than three decades and are all positive is drawn on a log axis. Phases are shaded as in
 * keptRatioCurve. `keys` defaults to every logged loss term.
 */
export function lossCurves(records: readonly LogRecord[], keys: readonly string[] = presentLossKeys(records)): string {
  const title = "Training losses";
  const present = keys.filter((k) => series(records, k).length > 0);
  if (present.length === 0) return emptyFigure("loss-curves", title, "no loss terms in the training log");
  const cols = Math.min(3, present.length), rows = Math.ceil(present.length / cols);
  const panelW = 300, panelH = 190, mL = 54, mR = 12, mT = 24, mB = 34;
  const legendH = 22;
  const width = cols * panelW, height = rows * panelH + legendH;
  const steps = stepDomain(records);
  let out = svgOpen(width, height, "loss-curves", title, `Loss terms over training steps: ${present.join(", ")}. Shaded: hypernetwork phase (blue) and frozen-plan phase (grey).`);
  present.forEach((key, i) => {
    const ox = (i % cols) * panelW, oy = Math.floor(i / cols) * panelH;
    const pts = series(records, key);
    const values = pts.map((p) => p[1]);
    let lo = Math.min(...values), hi = Math.max(...values);
    const useLog = lo > 0 && hi / lo > 1e3;
    if (lo === hi) {
      const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
      lo -= pad;
      hi += pad;
    }
    const x = scaleLinear().domain(steps).range([ox + mL, ox + panelW - mR]);
    const y: ScaleContinuousNumeric<number, number> = (useLog ? scaleLog() : scaleLinear()).domain([lo, hi]).range([oy + panelH - mB, oy + mT]).nice();
    let yTicks = y.ticks(5);
    if (useLog && yTicks.length > 6) yTicks = yTicks.filter((t) => Math.abs(Math.log10(t) - Math.round(Math.log10(t))) < 1e-9);
    const [y0, y1] = y.range();
    out += `<g class="panel" data-term="${esc(key)}">`;
    out += shadePhases(records, x, y1, y0);
    out += leftAxis(y, yTicks, ox + mL, y0, y1, ox + panelW - mR);
    out += bottomAxis(x, x.ticks(4), y0, ox + mL, ox + panelW - mR, "step", y0 + 28);
    const path = line<[number, number]>().x((p) => r2(x(p[0]))).y((p) => r2(y(p[1])))(pts) ?? "";
    const color = TABLEAU10[i % TABLEAU10.length];
    out += `<path class="curve" d="${path}" fill="none" stroke="${color}" stroke-width="1.6"><title>${esc(`${key}: ${pts.length} points, last ${formatTick(values[values.length - 1])}`)}</title></path>`;
    if (pts.length === 1) out += `<circle class="point" cx="${r2(x(pts[0][0]))}" cy="${r2(y(pts[0][1]))}" r="3" fill="${color}"/>`;
    out += text(ox + 8, oy + 15, `${TERM_LABELS[key] ?? key}${useLog ? " (log)" : ""}`, `font-weight="600" fill="#222222"`);
    out += text(ox + panelW - mR, oy + 15, `last ${formatTick(values[values.length - 1])}`, `text-anchor="end" fill="#555555" font-size="10"`);
    out += `</g>`;
  });
  const ly = rows * panelH + 14;
  out += `<rect x="${mL}" y="${ly - 9}" width="12" height="11" fill="${HYPER_SHADE}"/>` + text(mL + 17, ly, "hypernetwork updates");
  out += `<rect x="${mL + 150}" y="${ly - 9}" width="12" height="11" fill="${FROZEN_SHADE}" stroke="#dddddd"/>` + text(mL + 167, ly, "plan frozen (UNet fine-tuning)");
  return out + `</svg>`;
}

export interface KeptRatioOptions {
  /** The target as a fraction of the prunable MACs (drawn against kept_prunable / kept_soft). */
  targetPrunable?: number;
}

/**
 * The realised kept fraction of the UNet's MACs over training steps (and of the prunable MACs, and
 * the hypernetwork's soft estimate, when logged) against the target, with the hypernetwork phase
 * shaded blue and the frozen-plan phase grey.
 */
export function keptRatioCurve(records: readonly LogRecord[], target: number, options: KeptRatioOptions = {}): string {
  const title = "Kept MAC ratio";
  const curves = [
    { key: "kept_ratio", label: "kept ratio (of all MACs)", color: "#1f5f9e", dash: "" },
    { key: "kept_prunable", label: "kept (of prunable MACs)", color: "#e07b12", dash: "6 3" },
    { key: "kept_soft", label: "soft estimate (of prunable)", color: "#59a14f", dash: "2 3" },
  ].map((c) => ({ ...c, pts: series(records, c.key) })).filter((c) => c.pts.length > 0);
  if (curves.length === 0) return emptyFigure("kept-ratio", title, "no kept_ratio in the training log");
  const mL = 54, mR = 210, mT = 18, mB = 42, plotW = 640, plotH = 250;
  const width = mL + plotW + mR, height = mT + plotH + mB;
  const x = scaleLinear().domain(stepDomain(records)).range([mL, mL + plotW]);
  const all = curves.flatMap((c) => c.pts.map((p) => p[1])).concat([target], options.targetPrunable !== undefined ? [options.targetPrunable] : []);
  const y = scaleLinear().domain([Math.min(0, ...all), Math.max(1, ...all)]).range([mT + plotH, mT]).nice();
  const [y0, y1] = y.range();
  let out = svgOpen(width, height, "kept-ratio", title, `Kept fraction of MACs over training steps against the target ${target}.`);
  out += shadePhases(records, x, y1, y0);
  out += leftAxis(y, y.ticks(5), mL, y0, y1, mL + plotW, (v) => pct(v, 0));
  out += bottomAxis(x, x.ticks(8), y0, mL, mL + plotW, "training step");
  const targetLine = (v: number, label: string, color: string): string =>
    `<line class="target" x1="${mL}" x2="${mL + plotW}" y1="${r2(y(v))}" y2="${r2(y(v))}" stroke="${color}" stroke-width="1.4" stroke-dasharray="8 4"><title>${esc(`${label}: ${pct(v)}`)}</title></line>`;
  out += targetLine(target, "target (of all MACs)", "#c0392b");
  if (options.targetPrunable !== undefined && curves.some((c) => c.key !== "kept_ratio")) {
    out += targetLine(options.targetPrunable, "target (of prunable MACs)", "#e8a0a0");
  }
  for (const c of curves) {
    const path = line()(dropFlatPoints(c.pts.map(([step, v]): [number, number] => [r2(x(step)), r2(y(v))]))) ?? "";
    const last = c.pts[c.pts.length - 1][1];
    out += `<path class="curve" data-series="${c.key}" d="${path}" fill="none" stroke="${c.color}" stroke-width="1.8"${c.dash ? ` stroke-dasharray="${c.dash}"` : ""}><title>${esc(`${c.label}: last ${pct(last)}`)}</title></path>`;
    if (c.pts.length === 1) out += `<circle class="point" cx="${r2(x(c.pts[0][0]))}" cy="${r2(y(c.pts[0][1]))}" r="3" fill="${c.color}"/>`;
  }
  // Legend.
  let ly = mT + 8;
  const lx = mL + plotW + 14;
  const entry = (draw: string, label: string): void => {
    out += draw + text(lx + 30, ly + 4, label);
    ly += 18;
  };
  for (const c of curves) entry(`<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="${c.color}" stroke-width="1.8"${c.dash ? ` stroke-dasharray="${c.dash}"` : ""}/>`, `${c.label}`);
  entry(`<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="#c0392b" stroke-width="1.4" stroke-dasharray="8 4"/>`, `target ${pct(target)}`);
  if (options.targetPrunable !== undefined && curves.some((c) => c.key !== "kept_ratio")) {
    entry(`<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="#e8a0a0" stroke-width="1.4" stroke-dasharray="8 4"/>`, `target of prunable ${pct(options.targetPrunable)}`);
  }
  entry(`<rect x="${lx}" y="${ly - 6}" width="24" height="12" fill="${HYPER_SHADE}"/>`, "hypernetwork updates");
  entry(`<rect x="${lx}" y="${ly - 6}" width="24" height="12" fill="${FROZEN_SHADE}" stroke="#dddddd"/>`, "plan frozen");
  const finals = curves.find((c) => c.key === "kept_ratio");
  if (finals) {
    ly += 6;
    out += text(lx, ly + 4, `final: ${pct(finals.pts[finals.pts.length - 1][1])} vs target ${pct(target)}`, `fill="#555555" font-size="10.5"`);
  }
  return out + `</svg>`;
}

/**
 * How the router's timesteps were shared among experts over training (the logged `routing`
 * histograms, as stacked areas): shows experts being born, merged or starved before the freeze.
 */
export function routingHistory(records: readonly LogRecord[], numExperts: number): string {
  const title = "Routing over training";
  const rows: { step: number; shares: number[] }[] = [];
  for (const r of records) {
    const s = numberAt(r, "step"), h = r.routing;
    if (s === undefined || !Array.isArray(h) || h.length === 0 || !h.every((v) => typeof v === "number" && Number.isFinite(v) && v >= 0)) continue;
    const total = (h as number[]).reduce((a, b) => a + b, 0);
    if (total <= 0) continue;
    rows.push({ step: s, shares: Array.from({ length: Math.max(numExperts, h.length) }, (_, e) => ((h as number[])[e] ?? 0) / total) });
  }
  if (rows.length === 0) return emptyFigure("routing-history", title, "no routing histograms in the training log");
  const NE = rows[0].shares.length;
  const mL = 54, mR = 130, mT = 14, mB = 42, plotW = 640, plotH = 180;
  const width = mL + plotW + mR, height = mT + plotH + mB;
  const x = scaleLinear().domain(stepDomain(records)).range([mL, mL + plotW]);
  const y = scaleLinear().domain([0, 1]).range([mT + plotH, mT]);
  let out = svgOpen(width, height, "routing-history", title, `Share of training timesteps routed to each of ${NE} experts over training steps.`);
  const lower = rows.map(() => 0);
  for (let e = 0; e < NE; e++) {
    const upper = rows.map((row, i) => lower[i] + row.shares[e]);
    if (upper.some((u, i) => u > lower[i])) {
      const edge = (level: number[]) => dropFlatPoints(rows.map((row, i): [number, number] => [r2(x(row.step)), r2(y(level[i]))])).map(([px, py]) => `${px},${py}`);
      const top = edge(upper);
      const bottom = edge(lower).reverse();
      const pts = rows.length === 1 ? [`${mL},${r2(y(upper[0]))}`, `${mL + plotW},${r2(y(upper[0]))}`, `${mL + plotW},${r2(y(lower[0]))}`, `${mL},${r2(y(lower[0]))}`] : [...top, ...bottom];
      out += `<path class="area" d="M${pts.join("L")}Z" fill="${expertColor(e)}" fill-opacity="0.85"><title>${esc(`expert ${e}: last ${pct(rows[rows.length - 1].shares[e])} of timesteps`)}</title></path>`;
    }
    upper.forEach((u, i) => (lower[i] = u));
  }
  out += leftAxis(y, y.ticks(5), mL, y.range()[0], y.range()[1], undefined, (v) => pct(v, 0));
  out += bottomAxis(x, x.ticks(8), mT + plotH, mL, mL + plotW, "training step");
  for (let e = 0; e < NE; e++) {
    const ly = mT + 8 + e * 17;
    out += `<rect x="${mL + plotW + 14}" y="${ly - 6}" width="12" height="12" fill="${expertColor(e)}"/>` + text(mL + plotW + 32, ly + 4, `expert ${e}`);
  }
  return out + `</svg>`;
}

/**
 * @file The paper's result tables rebuilt from `alter eval` rows (eval.json), each with the claim the
 * paper makes next to it, so a reader sees at once what held on our teacher:
 *
 *   Table 1/2   dense teacher at 50/25/20/15 steps vs ALTER at budgets 0.65 and 0.60
 *   Table 3     ablation at one budget: Static / Manual / TwoStage / ALTER
 *   Table 10    budget sweep 0.65 / 0.60 / 0.55 / 0.50 (ALTER, 10 experts)
 *   Fig. 4c     number of experts 5 / 10 / 15 at 0.65
 *   Calibration our router calibration (alter calibrate): each calibrated row beside its learned-router row
 *   Targets     the reproduction's own pass/fail targets (issue 6): ALTER 0.65's wall-clock speedup and
 *               quality, and whether every expert turns its saved MACs into saved time
 *
 * Rows are recognised from the plan settings eval records (method, target ratio, experts); missing
 * rows are listed as missing rather than silently dropped. The paper's tables take only rows with
 * the learned router; calibrated rows appear in their own table and as an extra quality target.
 */
import type { EvalRow } from "./evaluate.js";

export interface PaperTable {
  id: string;
  title: string;
  /** What the paper reports (SD-2.1), to compare the direction. */
  paper: string;
  columns: string[];
  rows: (string | number | null)[][];
  /** What held here, computed from the rows (or why it cannot be said). */
  verdict: string;
  missing: string[];
}

const METHOD_NAMES: Record<string, string> = { static: "Static", manual: "Manual", "two-stage": "TwoStage", alter: "ALTER" };

/** The paper's name for a prune method ("two-stage" -> "TwoStage"); unknown names pass through. */
export const methodName = (method: string | undefined): string => METHOD_NAMES[method ?? "alter"] ?? method ?? "ALTER";
const COLUMNS = ["model", "steps", "MACs vs dense-50", "MACs per step", "speedup vs dense-50 (b1)", "per-step speedup", "Fréchet (ours)", "KID (ours)", "class acc.", "SSIM", "PSNR"];

const fmt = (v: number | null | undefined, digits: number): string | null => (v === null || v === undefined || !Number.isFinite(v) ? null : v.toFixed(digits));
const pct = (v: number | null | undefined): string | null => (v === null || v === undefined ? null : `${(100 * v).toFixed(1)}%`);

const CALIBRATION_NAMES: Record<NonNullable<EvalRow["calibration"]>, string> = { "after-training": "calibrated", "at-freeze": "calibrated at T_end", "at-freeze-absolute": "calibrated at T_end (absolute error)" };

function label(r: EvalRow): string {
  if (!r.alter) return "dense teacher";
  const method = methodName(r.method);
  const notes = [r.calibration && CALIBRATION_NAMES[r.calibration], r.distill_weighting && `${r.distill_weighting} distillation`, r.loss_weights && `loss weights: ${r.loss_weights}`, r.student_init && `started from ${r.student_init}`].filter(Boolean);
  return `${method} p=${r.target_ratio?.toFixed(2)} N_e=${r.experts}` + (notes.length > 0 ? ` (${notes.join(", ")})` : "");
}

/** MACs of one UNet evaluation as a share of the dense teacher's: what a plan's budget is about. */
const perStepMacs = (r: EvalRow): number => (r.macs_vs_dense50 * 50) / r.steps;
/** How many times fewer MACs a pruned row costs than the dense row at the same step count. */
const macRatio = (dense: EvalRow, r: EvalRow): number => dense.macs_per_image_g / r.macs_per_image_g;

function cells(r: EvalRow): (string | number | null)[] {
  const perStepSpeedup = r.per_step_speedup === undefined ? null : `${r.per_step_speedup.toFixed(2)}x`;
  return [label(r), r.steps, pct(r.macs_vs_dense50), pct(perStepMacs(r)), fmt(r.speedup_vs_dense50, 2), perStepSpeedup, fmt(r.frechet, 2), fmt(r.kid, 3), pct(r.class_accuracy), fmt(r.ssim, 3), fmt(r.psnr, 2)];
}

const near = (a: number | undefined, b: number): boolean => a !== undefined && Math.abs(a - b) < 1e-6;
/** A pruned row of this method, budget and size. */
const isPlan = (r: EvalRow, method: string, ratio: number, experts: number | undefined): boolean =>
  r.alter && (r.method ?? "alter") === method && near(r.target_ratio, ratio) && r.experts === experts;
/** How a row's training departed from the paper's besides the router calibration (ours; absent when as the paper's). */
const TRAINING_DEPARTURES = ["distill_weighting", "loss_weights", "student_init"] as const;
/** Two rows whose training departed from the paper's in the same ways (calibration aside). */
const sameTraining = (a: EvalRow, b: EvalRow): boolean => TRAINING_DEPARTURES.every((key) => a[key] === b[key]);
/** A pruned row trained as the paper does (learned router, unweighted distillation, the default loss weights, a student started from the teacher). */
const asPaper = (r: EvalRow): boolean => r.alter && r.calibration === undefined && TRAINING_DEPARTURES.every((key) => r[key] === undefined);
/** Such a row of this method, budget and size. */
const isAlter = (r: EvalRow, ratio: number, experts = 10, method = "alter"): boolean => asPaper(r) && isPlan(r, method, ratio, experts);

/** The ALTER rows' preferred step count: 20 (the paper's) when present, else the most common. */
function mainSteps(rows: readonly EvalRow[]): number {
  const alterSteps = rows.filter((r) => r.alter).map((r) => r.steps);
  if (alterSteps.includes(20)) return 20;
  const counts = new Map<number, number>();
  for (const s of alterSteps) counts.set(s, (counts.get(s) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 20;
}

/** "a < b < c" ordering check on Fréchet distance (lower is better). */
function ordering(named: [string, EvalRow | undefined][]): string {
  const present = named.filter((n): n is [string, EvalRow] => n[1] !== undefined);
  if (present.length < 2) return "not enough rows to compare";
  const sorted = [...present].sort((a, b) => b[1].frechet - a[1].frechet);
  return `measured (worst to best Fréchet): ${sorted.map(([n, r]) => `${n} ${r.frechet.toFixed(2)}`).join(" < ")}`;
}

export function paperTables(rows: readonly EvalRow[]): PaperTable[] {
  const steps = mainSteps(rows);
  const dense = (s: number) => rows.find((r) => !r.alter && r.steps === s);
  const tables: PaperTable[] = [];

  // Table 1/2: dense at several step counts vs ALTER at 0.65 and 0.60.
  {
    const missing: string[] = [];
    const picked: EvalRow[] = [];
    for (const s of [50, 25, 20, 15]) {
      const r = dense(s);
      if (r) picked.push(r);
      else missing.push(`dense teacher at ${s} steps`);
    }
    for (const ratio of [0.65, 0.6]) {
      const r = rows.find((x) => isAlter(x, ratio) && x.steps === steps);
      if (r) picked.push(r);
      else missing.push(`ALTER p=${ratio} N_e=10 at ${steps} steps`);
    }
    const a65 = rows.find((x) => isAlter(x, 0.65) && x.steps === steps);
    const d50 = dense(50), dSame = dense(steps);
    let verdict = "ALTER 0.65 or the dense rows are missing";
    if (a65 && d50) {
      verdict =
        `ALTER 0.65 at ${steps} steps: Fréchet ${a65.frechet.toFixed(2)} vs dense-50 ${d50.frechet.toFixed(2)} ` +
        `(${a65.frechet <= d50.frechet ? "matches or beats it, as in the paper" : "worse, unlike the paper"})` +
        (dSame ? `, vs dense-${steps} ${dSame.frechet.toFixed(2)} (${a65.frechet <= dSame.frechet ? "no worse" : "worse"})` : "") +
        `; ${(100 * a65.macs_vs_dense50).toFixed(1)}% of dense-50 MACs (paper 25.9%), wall-clock speedup ${a65.speedup_vs_dense50.toFixed(2)}x (paper 3.64x)`;
      const perStep = a65.per_step_speedup ?? (dSame ? dSame.latency_ms_b1 / a65.latency_ms_b1 : undefined);
      if (dSame && perStep !== undefined) verdict += `; per-step speedup vs dense-${steps} ${perStep.toFixed(2)}x against a MAC ratio of ${macRatio(dSame, a65).toFixed(2)}x`;
    }
    tables.push({
      id: "table-1-2", title: `Table 1/2: dense teacher vs ALTER (${steps} steps)`,
      paper: "SD-2.1: ALTER 0.65 at 20 steps FID 25.25 vs the 50-step original 27.29, 25.9% of its MACs, 3.64x faster",
      columns: COLUMNS, rows: picked.map(cells), verdict, missing,
    });
  }

  // Table 3: ablation at 0.65.
  {
    const named: [string, EvalRow | undefined][] = ["static", "manual", "two-stage", "alter"].map((m) => [
      METHOD_NAMES[m]!,
      // Static has one expert whatever --experts said: any size matches.
      rows.find((x) => asPaper(x) && isPlan(x, m, 0.65, m === "static" ? x.experts : 10) && x.steps === steps),
    ]);
    tables.push({
      id: "table-3", title: `Table 3: ablation at p = 0.65 (${steps} steps)`,
      paper: "quality Static < Manual < TwoStage < ALTER",
      columns: COLUMNS, rows: named.filter(([, r]) => r).map(([, r]) => cells(r!)),
      verdict: ordering(named), missing: named.filter(([, r]) => !r).map(([n]) => `${n} at 0.65`),
    });
  }

  // Table 10: budget sweep.
  {
    const named: [string, EvalRow | undefined][] = [0.65, 0.6, 0.55, 0.5].map((p) => [`p=${p}`, rows.find((x) => isAlter(x, p) && x.steps === steps)]);
    const present = named.filter((n): n is [string, EvalRow] => n[1] !== undefined);
    // Ordered by the MACs each plan really kept, which need not follow the targets.
    const byMacs = [...present].sort((a, b) => perStepMacs(b[1]) - perStepMacs(a[1]));
    const monotone = byMacs.every(([, r], i) => i === 0 || r.frechet >= byMacs[i - 1]![1].frechet);
    tables.push({
      id: "table-10", title: `Table 10: budget sweep (ALTER, 10 experts, ${steps} steps)`,
      paper: "quality degrades gracefully as the budget falls from 0.65 to 0.50",
      columns: COLUMNS, rows: named.filter(([, r]) => r).map(([, r]) => cells(r!)),
      verdict: present.length < 2
        ? "not enough rows to compare"
        : `measured Fréchet by realised MACs per step: ${byMacs.map(([n, r]) => `${n} (${pct(perStepMacs(r))}) ${r.frechet.toFixed(2)}`).join(", ")}; ` +
          (monotone ? "quality falls steadily with the budget" : "not monotone in the budget"),
      missing: named.filter(([, r]) => !r).map(([n]) => `ALTER ${n}`),
    });
  }

  // Fig. 4c: number of experts.
  {
    const named: [string, EvalRow | undefined][] = [5, 10, 15].map((e) => [`N_e=${e}`, rows.find((x) => isAlter(x, 0.65, e) && x.steps === steps)]);
    tables.push({
      id: "fig-4c", title: `Fig. 4c: number of experts at p = 0.65 (${steps} steps)`,
      paper: "10 experts beat 5 and 15",
      columns: COLUMNS, rows: named.filter(([, r]) => r).map(([, r]) => cells(r!)),
      verdict: ordering(named), missing: named.filter(([, r]) => !r).map(([n]) => `ALTER 0.65 ${n}`),
    });
  }
  tables.push(calibrationTable(rows, steps));
  tables.push(targetsTable(rows, steps));
  return tables;
}

/** Each calibrated row after the learned-router row it was made from (same method, budget, experts and steps). */
function calibrationTable(rows: readonly EvalRow[], steps: number): PaperTable {
  const picked: EvalRow[] = [];
  const compared: string[] = [];
  const missing: string[] = [];
  for (const r of rows.filter((x) => x.alter && x.calibration !== undefined && x.steps === steps)) {
    const learned = rows.find((x) =>
      isPlan(x, r.method ?? "alter", r.target_ratio ?? NaN, r.experts) && x.calibration === undefined && sameTraining(x, r) && x.steps === steps);
    if (learned) {
      if (!picked.includes(learned)) picked.push(learned);
      compared.push(`${label(r)} ${r.frechet.toFixed(2)} vs learned ${learned.frechet.toFixed(2)}`);
    } else {
      missing.push(`${label({ ...r, calibration: undefined })} with the learned router`);
    }
    picked.push(r);
  }
  return {
    id: "calibration", title: `Router calibration, ours (${steps} steps)`,
    paper: "not in the paper: the router re-chosen by each expert's measured error against the teacher, within the same MACs",
    columns: COLUMNS, rows: picked.map(cells),
    verdict: compared.length > 0 ? `Fréchet ${compared.join("; ")}` : picked.length > 0 ? "no learned-router row to compare with" : "no calibrated rows",
    missing,
  };
}

/** How far a per-step speedup may fall from the MAC ratio and still count as "within 10%". */
const SPEEDUP_TOLERANCE = 0.1;

/**
 * Issue 6's targets, each with the measured value and whether it was met. The per-step target
 * compares every pruned model with the dense teacher at the same step count, timed in turns with it.
 */
function targetsTable(rows: readonly EvalRow[], steps: number): PaperTable {
  const out: (string | number | null)[][] = [];
  const missing: string[] = [];
  const yes = (ok: boolean): string => (ok ? "yes" : "no");
  const a65 = rows.find((x) => isAlter(x, 0.65) && x.steps === 20);
  const d20 = rows.find((r) => !r.alter && r.steps === 20);
  if (a65) out.push(["ALTER 0.65, 20 steps: wall-clock speedup over dense-50 >= 3.3x", `${a65.speedup_vs_dense50.toFixed(2)}x`, yes(a65.speedup_vs_dense50 >= 3.3)]);
  else missing.push("ALTER p=0.65 N_e=10 at 20 steps");
  if (a65 && d20) out.push(["ALTER 0.65, 20 steps: Fréchet no worse than dense-20", `${a65.frechet.toFixed(2)} vs ${d20.frechet.toFixed(2)}`, yes(a65.frechet <= d20.frechet)]);
  else if (!d20) missing.push("dense teacher at 20 steps");
  // The same target for the best calibrated ALTER 0.65 row, if any (our addition, reported apart).
  const calibrated = rows
    .filter((x) => isPlan(x, "alter", 0.65, 10) && x.calibration !== undefined && x.steps === 20)
    .sort((a, b) => a.frechet - b.frechet)[0];
  if (calibrated && d20) {
    out.push([`${label(calibrated)}, 20 steps: Fréchet no worse than dense-20 (router calibration, ours)`, `${calibrated.frechet.toFixed(2)} vs ${d20.frechet.toFixed(2)}`, yes(calibrated.frechet <= d20.frechet)]);
  }
  let within = 0, timed = 0;
  for (const r of rows.filter((x) => x.alter && x.steps === steps)) {
    const dense = rows.find((d) => !d.alter && d.steps === r.steps);
    if (!dense || r.per_step_speedup === undefined) continue;
    const ratio = macRatio(dense, r);
    const gap = r.per_step_speedup / ratio - 1;
    const ok = Math.abs(gap) <= SPEEDUP_TOLERANCE;
    timed++;
    if (ok) within++;
    out.push([`${label(r)}: per-step speedup within 10% of the MAC ratio`, `${r.per_step_speedup.toFixed(2)}x vs ${ratio.toFixed(2)}x (${(100 * gap).toFixed(1)}%)`, yes(ok)]);
  }
  const met = out.filter((r) => r[2] === "yes").length;
  return {
    id: "targets", title: "Targets of the reproduction (issue 6)",
    paper: "SD-2.1: 3.64x faster than the 50-step original at 20 steps, with FID no worse; 35% of per-step compute pruned",
    columns: ["target", "measured", "met"], rows: out,
    verdict: out.length === 0 ? "no rows to check" : `${met} of ${out.length} targets met` + (timed > 0 ? `; ${within} of ${timed} pruned models within 10% of their MAC ratio` : ""),
    missing,
  };
}

/** All tables as one Markdown document. */
export function tablesMarkdown(tables: readonly PaperTable[]): string {
  const out: string[] = [];
  for (const t of tables) {
    out.push(`### ${t.title}`, "", `Paper: ${t.paper}.`, "");
    if (t.rows.length > 0) {
      out.push(`| ${t.columns.join(" | ")} |`, `|${t.columns.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`);
      for (const r of t.rows) out.push(`| ${r.map((c) => (c === null ? "-" : String(c))).join(" | ")} |`);
      out.push("");
    }
    out.push(`Here: ${t.verdict}.`);
    if (t.missing.length > 0) out.push(``, `Missing rows: ${t.missing.join(", ")}.`);
    out.push("");
  }
  return out.join("\n");
}

/** JSON with rows as objects keyed by column (the shape `alter report --results` reads). */
export function tablesJson(tables: readonly PaperTable[]): { tables: Record<string, unknown>[] } {
  return {
    tables: tables.map((t) => ({
      id: t.id, title: t.title, paper: t.paper, verdict: t.verdict, missing: t.missing,
      rows: t.rows.map((r) => Object.fromEntries(t.columns.map((c, i) => [c, r[i]]))),
    })),
  };
}

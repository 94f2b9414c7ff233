/**
 * `alter report` end to end on synthetic inputs (a plan, a training log with both phases, two
 * sample grids and a results table in a temp folder): the page is self-contained (no scripts, no
 * external URLs), the CLI refuses bad run folders with clear messages, and, in headless Chromium,
 * every [data-figure] renders with a non-zero box and SVG shapes (or a decoded image for grids)
 * without a single network request. A full-page screenshot is kept in artifacts/. Without
 * /usr/bin/chromium the browser test is skipped, unless CI is set (then it fails).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Command } from "commander";
import { writePlan, withRealisedRatios, PLAN_FILE, type AlterPlan } from "../../src/alter/plan.js";
import { writePng } from "../../src/data/png.js";
import { registerReport } from "../../src/cli/commands/report.js";
import { renderReport } from "../../src/report/html.js";
import { dropFlatPoints, expertHeatmap, formatTick, keptRatioCurve, latestRun, lossCurves, phases, routingHistory, routingTimeline, shortLayerName } from "../../src/report/figures.js";

const ROOT = join(import.meta.dirname, "..", "..");
const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** A plan shaped like a real tiny run: 4 experts (one unused) over 10 layers, T = 1000. */
function syntheticPlan(): AlterPlan {
  const names = [
    "down_blocks.0.resnets.0", "down_blocks.0.resnets.1", "down_blocks.1.attentions.0.transformer_blocks.0", "down_blocks.1.resnets.1",
    "up_blocks.0.attentions.1.transformer_blocks.0", "up_blocks.0.resnets.1", "up_blocks.1.resnets.1", "up_blocks.1.resnets.2",
    "mid_block.attentions.0.transformer_blocks.0", "mid_block.resnets.1",
  ];
  const layers = names.map((name, i) => ({ name, kind: name.includes("attentions") ? "transformer" as const : "resnet" as const, macs: 1e6 * (1 + (i % 4)) }));
  const experts = [
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    [1, 0, 1, 1, 0, 1, 1, 0, 1, 0],
    [0, 0, 1, 0, 0, 1, 0, 0, 1, 0],
    [1, 1, 0, 1, 1, 1, 1, 1, 0, 1],
  ];
  const router = Array.from({ length: 1000 }, (_, t) => (t < 180 ? 0 : t < 520 ? 1 : 2));
  return withRealisedRatios({
    format: "alter-plan", version: 1, num_train_timesteps: 1000, layers, total_macs: 2.4e7, experts, router,
    target_ratio: 0.6, target_prunable_ratio: 0.5, settings: { method: "alter", variant: "paper", experts: 4, steps: 60, hyperSteps: 40, seed: 0 },
  });
}

/** 60 logged steps: hypernetwork updates for 40, then the plan frozen; the UNet loss only every other step. */
function syntheticLog(): Record<string, unknown>[] {
  return Array.from({ length: 60 }, (_, i) => {
    const step = i + 1, frozen = step > 40;
    const kept = frozen ? 0.61 : 1 - 0.39 * (1 - Math.exp(-step / 10));
    const r: Record<string, unknown> = {
      step, unet_step: step, hyper_step: Math.min(step, 40), frozen,
      denoise: 0.3 * Math.exp(-step / 30) + 0.05, output_kd: 0.1 * Math.exp(-step / 20) + 0.01, feature_kd: 2e-3 * Math.exp(-step / 15),
      kept_ratio: kept, kept_prunable: (kept - 0.2) / 0.8, target_ratio: 0.6,
      routing: [Math.max(0, 400 - 6 * step), 300 + 3 * step, 300 + 3 * step, 0], elapsed_s: step * 0.7,
    };
    if (step % 2 === 0) r.unet_loss = (r.denoise as number) + (r.output_kd as number);
    if (!frozen) Object.assign(r, { hyper_loss: 0.4 * Math.exp(-step / 12) + 0.02, perf: 0.2, ratio_loss: Math.abs(Math.log(kept / 0.6)), kept_soft: (kept - 0.2) / 0.8 + 0.02, balance: 1 + 0.5 / step });
    return r;
  });
}

/** A small grey-gradient PNG (as alter sample would write). */
function writeGrid(path: string, width: number, height: number, shift: number): void {
  const pixels = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) pixels[y * width + x] = (x * 4 + y * 2 + shift) & 255;
  writePng(path, pixels, width, height, 1);
}

function makeRun(): { run: string; samples: string[]; results: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "alter-report-"));
  const run = join(dir, "run");
  mkdirSync(run);
  writePlan(join(run, PLAN_FILE), syntheticPlan());
  writeFileSync(join(run, "train_log.jsonl"), syntheticLog().map((r) => JSON.stringify(r)).join("\n") + "\n{\"step\": 61, \"torn");
  const teacherSamples = join(dir, "teacher-samples");
  mkdirSync(teacherSamples);
  writeGrid(join(teacherSamples, "grid.png"), 64, 40, 0);
  const alterGrid = join(dir, "alter-grid.png");
  writeGrid(alterGrid, 64, 40, 90);
  const results = join(dir, "results.json");
  writeFileSync(results, JSON.stringify([
    { model: "teacher", steps: 50, macs_per_image_g: 1.2345, latency_ms: 812.4, speedup: 1, frechet: 12.3, kid: 0.0123, class_accuracy: 0.81, ssim: null, psnr: null },
    { model: "ALTER 60%", steps: 50, macs_per_image_g: 0.74, latency_ms: 520.1, speedup: 1.56, frechet: 14.1, class_accuracy: 0.79, ssim: 0.9, psnr: 27.31 },
  ]));
  return { run, samples: [teacherSamples, `ALTER 60%=${alterGrid}`], results, dir };
}

async function runReport(args: string[]): Promise<void> {
  const program = new Command("alter").exitOverride().configureOutput({ writeErr: () => {} });
  registerReport(program);
  await program.parseAsync(["report", ...args], { from: "user" });
}

function silenced<T>(fn: () => Promise<T>): Promise<T> {
  const write = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  return fn().finally(() => (process.stderr.write = write));
}

const EXPECTED_FIGURES = ["grid-0", "grid-1", "expert-heatmap", "routing-timeline", "routing-history", "loss-curves", "kept-ratio"];

describe("alter report", () => {
  const inputs = makeRun();
  const out = join(inputs.dir, "report.html");

  test("the CLI writes one self-contained page with every figure, caption and table", async () => {
    await silenced(() => runReport(["--run", inputs.run, "--out", out, "--samples", ...inputs.samples, "--results", inputs.results]));
    const html = readFileSync(out, "utf8");
    for (const id of EXPECTED_FIGURES) assert.ok(html.includes(`data-figure="${id}"`), `missing figure ${id}`);
    assert.equal((html.match(/<figcaption>/g) ?? []).length, EXPECTED_FIGURES.length, "one caption per figure");
    assert.ok(!/<script/i.test(html), "no scripts");
    assert.ok(!/(src|href)\s*=\s*"(https?:)?\/\//i.test(html), "no external resources");
    assert.ok(!/url\(\s*['"]?https?:/i.test(html), "no external CSS resources");
    assert.equal((html.match(/src="data:image\/png;base64,/g) ?? []).length, 2, "both grids inlined");
    assert.ok(html.includes("ALTER 60%") && html.includes("teacher-samples"), "grid labels");
    // Results: missing and null values are "-"; every loss term has a panel.
    assert.ok(html.includes("Fréchet distance"), "results header");
    assert.match(html, /<th scope="row">ALTER 60%<\/th>(<td class="num">[^<]*<\/td>){5}<td class="num">-<\/td>/, "the missing KID is shown as -");
    // eval.json rows (alter eval's names) fill the standard columns through aliases.
    const evalPage = renderReport({ title: "eval", plan: syntheticPlan(), records: [], tables: [{ title: "eval", rows: [
      { model: "dense", alter: false, steps: 50, n: 64, macs_per_image_g: 1.5, macs_vs_dense50: 1, latency_ms_b1: 12.34, latency_ms_per_image_batch: 5, speedup_vs_dense50: 1.25, frechet: 1, kid: 0.1, kid_std: 0.01, class_accuracy: 0.9, ssim: null, psnr: null },
    ] }] });
    assert.match(evalPage, /<th scope="row">dense<\/th><td class="num">50<\/td><td class="num">1.500<\/td><td class="num">12.3<\/td><td class="num">1.25<\/td>/);
    assert.ok(evalPage.includes("MACs vs dense-50") && evalPage.includes(">no<"), "eval's extra columns");
    // alter tables' output: its own columns only (no empty standard ones), with the claim, the verdict and the gaps.
    const tablesPage = renderReport({ title: "tables", plan: syntheticPlan(), records: [], tables: [{
      title: "Targets", paper: "3.64x faster", verdict: "1 of 2 targets met", missing: ["ALTER p=0.5"],
      rows: [{ target: "speedup >= 3.3x", measured: "4.10x", met: "yes" }, { target: "Fréchet <= dense-20", measured: "34 vs 6.6", met: "no" }],
    }] });
    assert.match(tablesPage, /<thead><tr><th scope="col">target<\/th><th scope="col" class="num">measured<\/th><th scope="col" class="num">met<\/th><\/tr><\/thead>/);
    assert.match(tablesPage, /<th scope="row">speedup &gt;= 3.3x<\/th><td class="num">4.10x<\/td><td class="num">yes<\/td>/);
    assert.ok(tablesPage.includes("<b>Paper:</b> 3.64x faster.") && tablesPage.includes("<b>Here:</b> 1 of 2 targets met.") && tablesPage.includes("Missing rows: ALTER p=0.5."));
    for (const term of ["unet_loss", "denoise", "output_kd", "feature_kd", "hyper_loss", "perf", "ratio_loss", "balance"]) {
      assert.ok(html.includes(`data-term="${term}"`), `no panel for ${term}`);
    }
  });

  test("figures: short layer names, phases, empty inputs still give a visible SVG", () => {
    assert.equal(shortLayerName("down_blocks.1.resnets.0"), "d1.r0");
    assert.equal(shortLayerName("up_blocks.2.attentions.1.transformer_blocks.0"), "u2.a1");
    assert.equal(shortLayerName("up_blocks.2.attentions.1.transformer_blocks.3"), "u2.a1.3");
    assert.equal(shortLayerName("mid_block.resnets.1"), "m.r1");
    const latest = latestRun([{ step: 1 }, { step: 2 }, { step: 3 }, { note: "no step" }, { step: 2, x: 1 }, { step: 3, x: 1 }]);
    assert.deepEqual(latest.records, [{ step: 1 }, { step: 2, x: 1 }, { step: 3, x: 1 }]);
    assert.equal(latest.dropped, 3);
    const ph = phases(syntheticLog());
    assert.deepEqual(ph.map((p) => p.frozen), [false, true]);
    assert.equal(ph[0].from, 1);
    assert.equal(ph[1].from, 40.5);
    assert.equal(ph[1].to, 60);
    for (const svg of [lossCurves([]), keptRatioCurve([], 0.5), lossCurves([{ step: 3, denoise: 0.2 }]), keptRatioCurve([{ step: 3, kept_ratio: 0.7 }], 0.5)]) {
      assert.match(svg, /^<svg [^>]*width="\d/);
      assert.match(svg, /<(rect|path|circle|line)/);
    }
    const plan = syntheticPlan();
    assert.equal((expertHeatmap(plan).match(/class="cell kept"/g) ?? []).length, plan.experts.flat().filter((v) => v === 1).length);
    assert.equal((routingTimeline(plan).match(/class="segment"/g) ?? []).length, 3);
    // Tick labels: neighbouring ticks of a 20,000-step axis read differently; tiny and huge values keep two digits.
    assert.deepEqual([2000, 10000, 12000, 14000, 20000].map(formatTick), ["2,000", "10,000", "12,000", "14,000", "20,000"]);
    assert.deepEqual([0, 0.5, 0.125, 250, 1.5e-4, 2e-4, 3.5e7].map(formatTick), ["0", "0.5", "0.125", "250", "1.5e-4", "2e-4", "3.5e7"]);
    // Flat stretches of a series are drawn with their two ends only; every other point stays.
    assert.deepEqual(dropFlatPoints([[0, 1], [1, 1], [2, 1], [3, 2], [4, 2], [5, 3]]), [[0, 1], [2, 1], [3, 2], [4, 2], [5, 3]]);
    assert.deepEqual(dropFlatPoints([[0, 5]]), [[0, 5]]);
    const routingPoints = (records: { step: number; routing: number[] }[]) =>
      [...routingHistory(records, 2).matchAll(/class="area" d="([^"]*)"/g)].reduce((n, m) => n + m[1].split("L").length, 0);
    const changing = Array.from({ length: 400 }, (_, i) => ({ step: i + 1, routing: [1 + (i % 7), 5] }));
    const frozenAfter10 = Array.from({ length: 400 }, (_, i) => ({ step: i + 1, routing: i < 10 ? [1 + (i % 7), 5] : [3, 5] }));
    assert.ok(routingPoints(changing) > 400, "a routing that changes every step keeps its points");
    assert.ok(routingPoints(frozenAfter10) < 60, `a routing frozen after step 10 needs few points, got ${routingPoints(frozenAfter10)}`);
    const keptPoints = (records: { step: number; kept_ratio: number }[]) => (keptRatioCurve(records, 0.5).match(/data-series="kept_ratio" d="([^"]*)"/)?.[1] ?? "").split(/[ML]/).length - 1;
    assert.equal(keptPoints(Array.from({ length: 300 }, (_, i) => ({ step: i + 1, kept_ratio: i < 20 ? 0.5 + 0.01 * (i % 3) : 0.6 }))), 22);
    assert.equal(keptPoints(Array.from({ length: 300 }, (_, i) => ({ step: i + 1, kept_ratio: 0.4 + 0.1 * (i % 2) }))), 300);
    const page = renderReport({ title: "no log <b>", plan, records: [] });
    assert.ok(page.includes("No training log") && page.includes("no log &lt;b&gt;"));
  });

  test("the CLI refuses missing and invalid run folders with clear messages", async () => {
    const missing = join(inputs.dir, "nope");
    await assert.rejects(runReport(["--run", missing, "--out", out]), (e: Error) => e.name === "UserError" && e.message.includes("does not exist"));
    const empty = mkdtempSync(join(inputs.dir, "empty-"));
    await assert.rejects(runReport(["--run", empty, "--out", out]), (e: Error) => e.name === "UserError" && e.message.includes("alter_plan.json"));
    const broken = mkdtempSync(join(inputs.dir, "broken-"));
    writeFileSync(join(broken, PLAN_FILE), JSON.stringify({ ...syntheticPlan(), router: [0, 1] }));
    await assert.rejects(runReport(["--run", broken, "--out", out]), (e: Error) => e.name === "PlanError" && e.message.includes("router"));
    writeFileSync(join(broken, PLAN_FILE), "{ not json");
    await assert.rejects(runReport(["--run", broken, "--out", out]), (e: Error) => e.name === "PlanError" && e.message.includes("not valid JSON"));
    const notPng = join(inputs.dir, "fake.png");
    writeFileSync(notPng, "hello");
    await assert.rejects(silenced(() => runReport(["--run", inputs.run, "--out", out, "--samples", notPng])), (e: Error) => e.name === "UserError" && e.message.includes("not a PNG"));
    const badResults = join(inputs.dir, "bad.json");
    writeFileSync(badResults, JSON.stringify({ foo: 1 }));
    await assert.rejects(silenced(() => runReport(["--run", inputs.run, "--out", out, "--results", badResults])), (e: Error) => e.name === "UserError" && e.message.includes("--results"));
  });

  const haveChromium = existsSync(CHROMIUM);
  const skip = haveChromium ? false : process.env.CI ? false : `${CHROMIUM} not found; install the Debian package "chromium" to run the browser check (required when CI is set)`;
  test("every figure renders in headless Chromium without network requests; screenshot kept", { skip, timeout: 120_000 }, async () => {
    assert.ok(haveChromium, `${CHROMIUM} is missing but CI is set: CI must install the Debian package "chromium" (apt-get install -y chromium)`);
    if (!existsSync(out)) await silenced(() => runReport(["--run", inputs.run, "--out", out, "--samples", ...inputs.samples, "--results", inputs.results]));
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const pageUrl = pathToFileURL(out).href;
      const requests: string[] = [];
      page.on("request", (r) => {
        if (r.url() !== pageUrl && !r.url().startsWith("data:")) requests.push(r.url());
      });
      const consoleErrors: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") consoleErrors.push(m.text());
      });
      await page.goto(pageUrl, { waitUntil: "load" });
      // Runs in the page (a string, since this project compiles without DOM types).
      const figures = (await page.evaluate(`Array.from(document.querySelectorAll("[data-figure]")).map((el) => {
        const box = el.getBoundingClientRect();
        const img = el.querySelector("img");
        return {
          id: el.getAttribute("data-figure"),
          width: box.width,
          height: box.height,
          svgShapes: el.querySelectorAll("svg rect, svg path, svg circle, svg line, svg polygon, svg polyline").length,
          svgBox: (() => { const s = el.querySelector("svg"); if (!s) return 0; const b = s.getBoundingClientRect(); return b.width * b.height; })(),
          img: img ? { complete: img.complete, naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight } : null,
          caption: (el.querySelector("figcaption") || { textContent: "" }).textContent,
        };
      })`)) as { id: string; width: number; height: number; svgShapes: number; svgBox: number; img: { complete: boolean; naturalWidth: number; naturalHeight: number } | null; caption: string }[];
      assert.deepEqual(figures.map((f) => f.id).sort(), [...EXPECTED_FIGURES].sort());
      for (const f of figures) {
        assert.ok(f.width > 0 && f.height > 0, `figure ${f.id} has an empty box (${f.width}x${f.height})`);
        assert.match(f.caption, /^Figure \d+\./, `figure ${f.id} has no caption`);
        if (f.id.startsWith("grid-")) {
          assert.ok(f.img && f.img.complete && f.img.naturalWidth === 64 && f.img.naturalHeight === 40, `grid ${f.id} did not load: ${JSON.stringify(f.img)}`);
        } else {
          assert.ok(f.svgShapes > 10, `figure ${f.id} has only ${f.svgShapes} SVG shapes`);
          assert.ok(f.svgBox > 0, `figure ${f.id}'s SVG has no area`);
        }
      }
      assert.deepEqual(requests, [], "the report made network requests");
      assert.deepEqual(consoleErrors, [], "console errors (e.g. a Content-Security-Policy violation)");
      const artifacts = join(ROOT, "artifacts");
      mkdirSync(artifacts, { recursive: true });
      await page.screenshot({ path: join(artifacts, "report-screenshot.png"), fullPage: true });
      assert.ok(existsSync(join(artifacts, "report-screenshot.png")));
    } finally {
      await browser.close();
    }
  });
});

/**
 * The schedulers against tools/make_scheduler_fixtures.py (diffusers' formulas re-derived in numpy):
 * timestep lists, full sampling loops on a toy model, betas, spacing, addNoise / getVelocity; plus
 * config validation and file round trips, and "any step count gives valid integer timesteps".
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Generator, Tensor } from "../../src/engine/index.js";
import {
  SCHEDULER_CLASS_NAMES,
  alphasCumprod,
  betasFor,
  createScheduler,
  readSchedulerConfig,
  spacedTimesteps,
  writeSchedulerConfig,
  type Scheduler,
  type SchedulerConfig,
  type TimestepSpacing,
} from "../../src/diffusion/scheduler.js";
import { DDPMScheduler } from "../../src/diffusion/scheduling-ddpm.js";
import { DDIMScheduler } from "../../src/diffusion/scheduling-ddim.js";
import { PNDMScheduler } from "../../src/diffusion/scheduling-pndm.js";
import { DPMSolverMultistepScheduler } from "../../src/diffusion/scheduling-dpmsolver-multistep.js";
import { EulerDiscreteScheduler } from "../../src/diffusion/scheduling-euler-discrete.js";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "schedulers");
const load = (name: string): any => JSON.parse(readFileSync(join(FIXTURES, name), "utf8"));
const sampling = load("sampling.json");
const schedules = load("schedules.json");

/** |a - b| <= rtol * max(|b_i|, mean |b|) elementwise (relative, with a floor for values near 0). */
function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let mean = 0;
  for (let i = 0; i < expected.length; i++) mean += Math.abs(expected[i]!) / expected.length;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const b = expected[i]!;
    const tol = rtol * Math.max(Math.abs(b), mean);
    if (!(Math.abs(a - b) <= tol)) {
      assert.fail(`${what}[${i}]: got ${a}, expected ${b} (|diff| ${Math.abs(a - b)} > ${tol})`);
    }
  }
}

/** The toy model of the fixtures: 0.1 * x + 0.05 * sin(t / 100). */
function model(x: Tensor, t: number): Tensor {
  const out = Tensor.empty([...x.shape]);
  const s = 0.05 * Math.sin(t / 100);
  for (let i = 0; i < x.size; i++) out.f32[i] = 0.1 * x.f32[i]! + s;
  return out;
}

describe("sampling loops match the reference", () => {
  for (const c of sampling.cases) {
    test(c.name, () => {
      const scheduler = createScheduler(c.config as SchedulerConfig);
      scheduler.setTimesteps(c.steps);
      assert.deepEqual([...scheduler.timesteps], c.timesteps, "timesteps");
      assertClose([scheduler.initNoiseSigma], [c.init_noise_sigma], 1e-6, "initNoiseSigma");
      const sigma = scheduler.initNoiseSigma;
      let x = Tensor.from(sampling.initial_sample.map((v: number) => v * sigma), [2, 8]);
      scheduler.timesteps.forEach((t, k) => {
        const out = model(scheduler.scaleModelInput(x, t), t);
        const noise = c.noise === null ? undefined : Tensor.from(c.noise[k], [2, 8]);
        const { prevSample, predOriginalSample } = scheduler.step(out, t, x, { eta: c.eta, noise });
        x = prevSample;
        if (c.trace[k] !== undefined) {
          assertClose(x.f32, c.trace[k], 1e-5, `sample after step ${k}`);
          assertClose(predOriginalSample.f32, c.pred_original[k], 1e-5, `x0 at step ${k}`);
        }
      });
      assertClose(x.f32, c.final, 1e-5, "final sample");
    });
  }
});

describe("noise schedule and spacing", () => {
  test("betas and alphas_cumprod of the three schedules", () => {
    for (const b of schedules.betas) {
      const cfg = { num_train_timesteps: 1000, ...b.config };
      const betas = betasFor(cfg);
      const ac = alphasCumprod(betas);
      assertClose(b.index.map((i: number) => betas[i]), b.betas, 1e-9, `${cfg.beta_schedule} betas`);
      assertClose(b.index.map((i: number) => ac[i]), b.alphas_cumprod, 1e-9, `${cfg.beta_schedule} alphas_cumprod`);
    }
  });

  test("leading / trailing / linspace timesteps (numpy rounding, ties to even)", () => {
    for (const s of schedules.spacing) {
      const cfg = { num_train_timesteps: 1000, timestep_spacing: s.timestep_spacing as TimestepSpacing, steps_offset: s.steps_offset };
      assert.deepEqual([...spacedTimesteps(s.steps, cfg)], s.timesteps, `${s.timestep_spacing}+${s.steps_offset} n=${s.steps}`);
    }
  });

  test("addNoise and getVelocity, one timestep per batch item", () => {
    for (const [key, method] of [["add_noise", "addNoise"], ["get_velocity", "getVelocity"]] as const) {
      for (const f of schedules[key]) {
        const config = { _class_name: "DDPMScheduler", beta_schedule: f.beta_schedule } as SchedulerConfig;
        for (const name of ["DDPMScheduler", "DDIMScheduler", "DPMSolverMultistepScheduler"] as const) {
          const scheduler = createScheduler({ ...config, _class_name: name });
          const got = scheduler[method](Tensor.from(f.original.flat(), [3, 8]), Tensor.from(f.noise.flat(), [3, 8]), Int32Array.from(f.timesteps));
          assertClose(got.f32, f.expected.flat(), 1e-6, `${name}.${method} ${f.beta_schedule}`);
        }
      }
    }
  });

  test("Euler addNoise works in sigma space", () => {
    const f = schedules.euler_add_noise;
    const got = new EulerDiscreteScheduler(f.config).addNoise(
      Tensor.from(f.original.flat(), [3, 8]),
      Tensor.from(f.noise.flat(), [3, 8]),
      Int32Array.from(f.timesteps),
    );
    assertClose(got.f32, f.expected.flat(), 1e-6, "Euler addNoise");
  });

  test("addNoise rejects a timestep count that does not match the batch", () => {
    const s = new DDPMScheduler();
    assert.throws(() => s.addNoise(Tensor.zeros([2, 3]), Tensor.zeros([2, 3]), Int32Array.from([1])), /1 timesteps for a batch of 2/);
    assert.throws(() => s.addNoise(Tensor.zeros([1, 3]), Tensor.zeros([1, 3]), Int32Array.from([1000])), /timestep 1000/);
  });
});

describe("any step count gives valid integer timesteps", () => {
  const spacings: [TimestepSpacing, number][] = [["leading", 1], ["leading", 0], ["trailing", 0], ["linspace", 0]];
  for (const name of SCHEDULER_CLASS_NAMES) {
    test(name, () => {
      for (const [spacing, offset] of spacings) {
        for (const n of [1, 2, 7, 50, 1000]) {
          const config = { _class_name: name, timestep_spacing: spacing, steps_offset: offset, skip_prk_steps: true } as SchedulerConfig;
          const scheduler = createScheduler(config);
          const label = `${name} ${spacing}+${offset} n=${n}`;
          try {
            scheduler.setTimesteps(n);
          } catch (e) {
            // Only the settings that would give timestep T (leading + offset at n = T) or repeated
            // DPM-Solver timesteps (its n + 1 point grid at n = T) may refuse, with a clear message.
            const message = (e as Error).message;
            assert.ok(n === 1000 && (offset === 1 || name === "DPMSolverMultistepScheduler"), `${label} threw: ${message}`);
            assert.match(message, new RegExp(`^${name}: .*(outside \\[0, 1000\\)|repeat timestep)`), label);
            continue;
          }
          const ts = scheduler.timesteps;
          assert.equal(ts.length, name === "PNDMScheduler" && n > 1 ? n + 1 : n, `${label} count`);
          for (const t of ts) assert.ok(Number.isInteger(t) && t >= 0 && t < 1000, `${label}: timestep ${t}`);
          // Run the loop: every step accepts its timestep and the result stays finite.
          let x = Tensor.from(sampling.initial_sample.map((v: number) => v * scheduler.initNoiseSigma), [16]);
          const generator = new Generator(1);
          for (const t of ts) x = scheduler.step(model(scheduler.scaleModelInput(x, t), t), t, x, { generator }).prevSample;
          assert.ok(x.f32.every(Number.isFinite), `${label}: non-finite sample`);
        }
      }
      assert.throws(() => createScheduler({ _class_name: name, skip_prk_steps: true } as SchedulerConfig).setTimesteps(0), /integer in \[1, 1000\]/);
    });
  }
});

describe("scheduler behaviour", () => {
  test("createScheduler picks the class by _class_name", () => {
    const classes = [DDPMScheduler, DDIMScheduler, PNDMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler];
    SCHEDULER_CLASS_NAMES.forEach((name, i) => {
      assert.ok(createScheduler({ _class_name: name, skip_prk_steps: true }) instanceof classes[i]!);
    });
  });

  test("PNDM refuses the Runge-Kutta warm-up", () => {
    assert.throws(() => new PNDMScheduler(), /skip_prk_steps = false .* not supported/);
    assert.throws(() => new PNDMScheduler({ _class_name: "PNDMScheduler", skip_prk_steps: true, prediction_type: "sample" }), /"sample" is not supported/);
  });

  test("a stochastic step needs noise or a generator; a generator is reproducible", () => {
    const s = new DDPMScheduler();
    s.setTimesteps(10);
    const x = Tensor.ones([4]);
    assert.throws(() => s.step(x, 900, x), /pass options.generator or options.noise/);
    const a = s.step(x, 900, x, { generator: new Generator(7) }).prevSample;
    const b = s.step(x, 900, x, { generator: new Generator(7) }).prevSample;
    assert.deepEqual([...a.f32], [...b.f32]);
  });

  test("reset() clears the multistep history", () => {
    for (const name of ["DPMSolverMultistepScheduler", "PNDMScheduler", "EulerDiscreteScheduler"] as const) {
      const s: Scheduler = createScheduler({ _class_name: name, skip_prk_steps: true });
      s.setTimesteps(6);
      const run = (): number[] => {
        let x = Tensor.from(sampling.initial_sample, [16]);
        for (const t of s.timesteps) x = s.step(model(s.scaleModelInput(x, t), t), t, x).prevSample;
        return [...x.f32];
      };
      const first = run();
      s.reset();
      assert.deepEqual(run(), first, name);
    }
  });
});

describe("scheduler_config.json", () => {
  const dir = mkdtempSync(join(tmpdir(), "alter-sched-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, content: unknown): string => {
    const path = join(dir, name);
    writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
    return path;
  };

  test("reads a Stable Diffusion config as diffusers writes it", () => {
    const path = file("sd.json", {
      _class_name: "PNDMScheduler",
      _diffusers_version: "0.6.0",
      beta_end: 0.012,
      beta_schedule: "scaled_linear",
      beta_start: 0.00085,
      clip_sample: false,
      num_train_timesteps: 1000,
      set_alpha_to_one: false,
      skip_prk_steps: true,
      steps_offset: 1,
      trained_betas: null,
      prediction_type: "epsilon",
      timestep_spacing: "leading",
      thresholding: false,
      rescale_betas_zero_snr: false,
      sample_max_value: 1.0,
      dynamic_thresholding_ratio: 0.995,
    });
    const config = readSchedulerConfig(path);
    assert.equal(config._class_name, "PNDMScheduler");
    assert.equal(config.beta_schedule, "scaled_linear");
    assert.ok(!("_diffusers_version" in config) && !("trained_betas" in config));
    const s = createScheduler(config);
    s.setTimesteps(3);
    assert.deepEqual([...s.timesteps], [667, 334, 334, 1]);
  });

  test("accepts Python's bare -Infinity and a null variance_type (DPM-Solver configs)", () => {
    const path = file(
      "dpm.json",
      '{"_class_name": "DPMSolverMultistepScheduler", "lambda_min_clipped": -Infinity, "variance_type": null, "solver_order": 2}',
    );
    const config = readSchedulerConfig(path);
    assert.equal(config.lambda_min_clipped, -Infinity);
    assert.ok(!("variance_type" in config));
  });

  test("write then read gives the same config (atomic, no temp file left)", () => {
    for (const name of SCHEDULER_CLASS_NAMES) {
      const s = createScheduler({ _class_name: name, skip_prk_steps: true, beta_schedule: "squaredcos_cap_v2" });
      const path = join(dir, `${name}.json`);
      writeSchedulerConfig(path, s.config);
      const back = readSchedulerConfig(path);
      const expected = Object.fromEntries(Object.entries(s.config).filter(([k, v]) => !(k === "lambda_min_clipped" && v === -Infinity)));
      assert.deepEqual({ ...back }, expected, name);
      assert.deepEqual({ ...createScheduler(back).config }, { ...s.config }, name);
    }
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith(".tmp")), []);
  });

  const invalid: [string, Record<string, unknown>, RegExp][] = [
    ["unknown class", { _class_name: "LMSDiscreteScheduler" }, /field "_class_name" is "LMSDiscreteScheduler"; allowed values: "DDPMScheduler", .*"EulerDiscreteScheduler"/],
    ["missing class", { beta_schedule: "linear" }, /field "_class_name" is undefined; allowed values/],
    ["beta_schedule", { _class_name: "DDIMScheduler", beta_schedule: "cosine" }, /field "beta_schedule" is "cosine"; allowed values: "linear", "scaled_linear", "squaredcos_cap_v2"/],
    ["prediction_type", { _class_name: "DDIMScheduler", prediction_type: "flow" }, /field "prediction_type" is "flow"; allowed values: "epsilon", "v_prediction", "sample"/],
    ["timestep_spacing", { _class_name: "DDIMScheduler", timestep_spacing: "uniform" }, /field "timestep_spacing" is "uniform"; allowed values: "leading", "trailing", "linspace"/],
    ["non-numeric beta", { _class_name: "DDIMScheduler", beta_start: "0.1" }, /field "beta_start" is "0.1"; expected a number > 0/],
    ["non-integer T", { _class_name: "DDIMScheduler", num_train_timesteps: 999.5 }, /field "num_train_timesteps" is 999.5; expected an integer >= 0/],
    ["non-numeric offset", { _class_name: "DDIMScheduler", steps_offset: null }, /field "steps_offset" is null; expected an integer/],
    ["non-boolean clip", { _class_name: "DDIMScheduler", clip_sample: "no" }, /field "clip_sample" is "no"; expected true or false/],
    ["thresholding", { _class_name: "DDIMScheduler", thresholding: true }, /field "thresholding" is true, which alter does not support \(dynamic thresholding\); allowed value: false/],
    ["trained_betas", { _class_name: "DDIMScheduler", trained_betas: [0.1, 0.2] }, /field "trained_betas" is \[0.1,0.2\], which alter does not support/],
    ["karras", { _class_name: "EulerDiscreteScheduler", use_karras_sigmas: true }, /field "use_karras_sigmas" is true, which alter does not support \(Karras sigmas\)/],
    ["zero snr", { _class_name: "DDIMScheduler", rescale_betas_zero_snr: true }, /field "rescale_betas_zero_snr" is true, which alter does not support/],
    ["solver order 3", { _class_name: "DPMSolverMultistepScheduler", solver_order: 3 }, /field "solver_order" is 3; allowed values: 1, 2/],
    ["sde solver", { _class_name: "DPMSolverMultistepScheduler", algorithm_type: "sde-dpmsolver++" }, /field "algorithm_type" is "sde-dpmsolver\+\+"; allowed values: "dpmsolver\+\+"/],
    ["variance_type", { _class_name: "DDPMScheduler", variance_type: "learned_range" }, /field "variance_type" is "learned_range"; allowed values: "fixed_small", "fixed_small_log", "fixed_large"/],
  ];
  for (const [label, content, pattern] of invalid) {
    test(`rejects ${label} with a one-line message naming the file and field`, () => {
      const path = file(`${label.replace(/ /g, "_")}.json`, content);
      assert.throws(
        () => readSchedulerConfig(path),
        (e: Error) => {
          assert.ok(e.message.startsWith(`${path}: `), e.message);
          assert.ok(!e.message.includes("\n"), e.message);
          assert.match(e.message, pattern);
          return true;
        },
      );
    });
  }

  test("rejects broken JSON and constructor configs the same way", () => {
    assert.throws(() => readSchedulerConfig(file("broken.json", "{")), /broken.json: not valid JSON/);
    assert.throws(() => new DDIMScheduler({ _class_name: "DDIMScheduler", beta_schedule: "cosine" as never }), /^SchedulerError: DDIMScheduler: field "beta_schedule"/);
    assert.throws(() => new DDIMScheduler({ _class_name: "DDPMScheduler" }), /the config is for "DDPMScheduler"/);
  });
});

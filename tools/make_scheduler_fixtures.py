#!/usr/bin/env python3
"""Reference values for alter's diffusion schedulers (src/diffusion/scheduling-*.ts).

How to regenerate
-----------------
    /usr/bin/python3 tools/make_scheduler_fixtures.py [OUTPUT_DIR]

OUTPUT_DIR defaults to test/fixtures/schedulers/ (relative to the repository root). Needs numpy only.
diffusers is not installed here, so every formula of diffusers' schedulers (DDPM, DDIM, PNDM with
skip_prk_steps, DPM-Solver++ 2M, Euler discrete; behaviour of diffusers 0.27+) is written out again
below with numpy, in float64.

Float32 storage is imitated: the TypeScript schedulers compute each element in float64 and store
every tensor they materialise (scaled model input, model output, predicted x0 / epsilon, the next
sample, the multistep history) as float32. This script rounds at the same points (`f32`), so the
two agree to ~1e-7 even where the sampling loop cancels large numbers (Euler with the cosine
schedule starts at sigma ~ 2e4).

The "model" is a fixed function of the sample and the integer timestep it is called with:
    model(x, t) = 0.1 * x + 0.05 * sin(t / 100)
Each case runs the pipeline loop
    x = f32(x_T * init_noise_sigma)
    for t in timesteps: x = step(model(scale_model_input(x, t), t), t, x, noise=noise[k])
from a fixed 16-value x_T. Noise for DDPM and DDIM with eta > 0 is drawn here (seeded) and stored,
so the TypeScript test replays it through step(..., { noise }).

Files written:
    sampling.json   {"model", "initial_sample", "cases": [{name, scheduler, config, steps, eta,
                     timesteps, init_noise_sigma, noise|null, trace: {step: sample}, pred_original:
                     {step: x0}, final}]}
    schedules.json  {"betas": [{config, index, betas, alphas_cumprod}], "spacing": [...],
                     "add_noise": [...], "get_velocity": [...]}
"""

import json
import math
import os
import sys

import numpy as np

MODEL = "0.1 * x + 0.05 * sin(t / 100)"


def f32(a):
    """Round to float32 and back (the TypeScript side stores tensors as float32)."""
    return np.asarray(a, dtype=np.float64).astype(np.float32).astype(np.float64)


def model(x, t):
    return f32(0.1 * x + 0.05 * math.sin(t / 100))


def lin(*terms):
    """sum(c * a) evaluated left to right, then rounded to float32 (the TS helper `lincomb`)."""
    acc = None
    for c, a in terms:
        acc = c * a if acc is None else acc + c * a
    return f32(acc)


# ------------------------------------------------------------------------------------------------
# Shared pieces (src/diffusion/scheduler.ts)

DEFAULTS = {
    "num_train_timesteps": 1000,
    "beta_start": 0.0001,
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "prediction_type": "epsilon",
    "steps_offset": 0,
    "clip_sample_range": 1.0,
}
CLASS_DEFAULTS = {
    "DDPMScheduler": {"timestep_spacing": "leading", "clip_sample": True, "variance_type": "fixed_small"},
    "DDIMScheduler": {"timestep_spacing": "leading", "clip_sample": True, "set_alpha_to_one": True},
    "PNDMScheduler": {"timestep_spacing": "leading", "set_alpha_to_one": False, "skip_prk_steps": False},
    "DPMSolverMultistepScheduler": {
        "timestep_spacing": "linspace", "solver_order": 2, "solver_type": "midpoint",
        "lower_order_final": True, "euler_at_final": False, "final_sigmas_type": "zero",
    },
    "EulerDiscreteScheduler": {"timestep_spacing": "linspace", "final_sigmas_type": "zero"},
}


def resolve(cfg):
    out = dict(DEFAULTS)
    out.update(CLASS_DEFAULTS[cfg["_class_name"]])
    out.update(cfg)
    return out


def betas_for(cfg):
    T = cfg["num_train_timesteps"]
    if cfg["beta_schedule"] == "linear":
        return np.linspace(cfg["beta_start"], cfg["beta_end"], T)
    if cfg["beta_schedule"] == "scaled_linear":
        return np.linspace(cfg["beta_start"] ** 0.5, cfg["beta_end"] ** 0.5, T) ** 2
    if cfg["beta_schedule"] == "squaredcos_cap_v2":
        # Nichol & Dhariwal (2021) eq. 17: alpha_bar(t) = cos^2(((t/T + s) / (1 + s)) * pi/2), s = 0.008
        def alpha_bar(u):
            return math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2

        return np.array([min(1 - alpha_bar((i + 1) / T) / alpha_bar(i / T), 0.999) for i in range(T)])
    raise ValueError(cfg["beta_schedule"])


def alphas_cumprod_for(cfg):
    return np.cumprod(1.0 - betas_for(cfg))


def arange_desc(start, step_ratio, n):
    # numpy's np.arange(start, 0, -step_ratio) (start + i * delta); kept to n entries (see scheduler.ts)
    return np.arange(start, 0, -step_ratio)[:n]


def spaced_timesteps(n, cfg):
    """DDPM / DDIM / PNDM: diffusers' leading, trailing and linspace rules (descending)."""
    T = cfg["num_train_timesteps"]
    sp = cfg["timestep_spacing"]
    if sp == "leading":
        ts = (np.arange(0, n) * (T // n)).round()[::-1] + cfg["steps_offset"]
    elif sp == "trailing":
        ts = np.round(arange_desc(T, T / n, n)) - 1
    elif sp == "linspace":
        ts = np.linspace(0, T - 1, n).round()[::-1]
    return ts.astype(np.int64)


def add_noise(ac, x, noise, ts):
    a = np.sqrt(ac[ts])[:, None]
    s = np.sqrt(1 - ac[ts])[:, None]
    return f32(a * x + s * noise)


def get_velocity(ac, x, noise, ts):
    a = np.sqrt(ac[ts])[:, None]
    s = np.sqrt(1 - ac[ts])[:, None]
    return f32(a * noise - s * x)


def to_x0_eps(pred_type, model_output, sample, alpha_prod):
    """(x0, eps) from the model output, with f32 rounding of each materialised tensor."""
    a, b = math.sqrt(alpha_prod), math.sqrt(1 - alpha_prod)
    if pred_type == "epsilon":
        x0 = lin((1 / a, sample), (-b / a, model_output))
        return x0, model_output
    if pred_type == "v_prediction":
        x0 = lin((a, sample), (-b, model_output))
        eps = lin((a, model_output), (b, sample))
        return x0, eps
    if pred_type == "sample":
        eps = lin((1 / b, sample), (-a / b, model_output))
        return model_output, eps
    raise ValueError(pred_type)


# ------------------------------------------------------------------------------------------------
# Schedulers: each has set_timesteps(n), init_noise_sigma, scale(x, t), step(out, t, x, noise)


class DDPM:
    def __init__(self, cfg):
        self.cfg = cfg
        self.ac = alphas_cumprod_for(cfg)
        self.init_noise_sigma = 1.0

    def set_timesteps(self, n):
        self.timesteps = spaced_timesteps(n, self.cfg)

    def scale(self, x, t):
        return x

    def step(self, out, t, x, noise, eta):
        idx = list(self.timesteps).index(t)
        prev_t = self.timesteps[idx + 1] if idx + 1 < len(self.timesteps) else -1
        a_t = self.ac[t]
        a_prev = self.ac[prev_t] if prev_t >= 0 else 1.0
        b_t, b_prev = 1 - a_t, 1 - a_prev
        cur_alpha = a_t / a_prev
        cur_beta = 1 - cur_alpha
        x0, _ = to_x0_eps(self.cfg["prediction_type"], out, x, a_t)
        if self.cfg["clip_sample"]:
            r = self.cfg["clip_sample_range"]
            x0 = np.clip(x0, -r, r)
        c_x0 = math.sqrt(a_prev) * cur_beta / b_t
        c_xt = math.sqrt(cur_alpha) * b_prev / b_t
        std = 0.0
        if t > 0:
            var = max(b_prev / b_t * cur_beta, 1e-20)
            vt = self.cfg["variance_type"]
            if vt == "fixed_small":
                std = math.sqrt(var)
            elif vt == "fixed_small_log":
                std = math.exp(0.5 * math.log(var))
            elif vt == "fixed_large":
                std = math.sqrt(cur_beta)
        if std != 0.0:
            return lin((c_x0, x0), (c_xt, x), (std, noise)), x0
        return lin((c_x0, x0), (c_xt, x)), x0


class DDIM:
    def __init__(self, cfg):
        self.cfg = cfg
        self.ac = alphas_cumprod_for(cfg)
        self.final = 1.0 if cfg["set_alpha_to_one"] else self.ac[0]
        self.init_noise_sigma = 1.0

    def set_timesteps(self, n):
        self.n = n
        self.timesteps = spaced_timesteps(n, self.cfg)

    def scale(self, x, t):
        return x

    def step(self, out, t, x, noise, eta):
        prev_t = t - self.cfg["num_train_timesteps"] // self.n
        a_t = self.ac[t]
        a_prev = self.ac[prev_t] if prev_t >= 0 else self.final
        b_t, b_prev = 1 - a_t, 1 - a_prev
        x0, eps = to_x0_eps(self.cfg["prediction_type"], out, x, a_t)
        if self.cfg["clip_sample"]:
            r = self.cfg["clip_sample_range"]
            x0 = np.clip(x0, -r, r)
        variance = (b_prev / b_t) * (1 - a_t / a_prev)
        std = eta * math.sqrt(variance)
        c_x0 = math.sqrt(a_prev)
        c_eps = math.sqrt(1 - a_prev - std**2)
        if eta > 0:
            return lin((c_x0, x0), (c_eps, eps), (std, noise)), x0
        return lin((c_x0, x0), (c_eps, eps)), x0


class PNDM:
    def __init__(self, cfg):
        self.cfg = cfg
        self.ac = alphas_cumprod_for(cfg)
        self.final = 1.0 if cfg["set_alpha_to_one"] else self.ac[0]
        self.init_noise_sigma = 1.0

    def set_timesteps(self, n):
        T = self.cfg["num_train_timesteps"]
        self.n = n
        asc = spaced_timesteps(n, self.cfg)[::-1]  # diffusers builds the ascending list first
        plms = np.concatenate([asc[:-1], asc[-2:-1], asc[-1:]])[::-1]
        self.timesteps = plms.astype(np.int64)
        self.ets = []
        self.counter = 0
        self.cur_sample = None

    def scale(self, x, t):
        return x

    def step(self, out, t, x, noise, eta):
        ratio = self.cfg["num_train_timesteps"] // self.n
        x0_report = to_x0_eps(self.cfg["prediction_type"], out, x, self.ac[t])[0]
        prev_t = t - ratio
        if self.counter != 1:
            self.ets = self.ets[-3:]
            self.ets.append(out)
        else:
            prev_t = t
            t = t + ratio
        e = self.ets
        if len(e) == 1 and self.counter == 0:
            eps = out
            self.cur_sample = x
        elif len(e) == 1 and self.counter == 1:
            eps = lin((0.5, out), (0.5, e[-1]))
            x = self.cur_sample
            self.cur_sample = None
        elif len(e) == 2:
            eps = lin((1.5, e[-1]), (-0.5, e[-2]))
        elif len(e) == 3:
            eps = lin((23 / 12, e[-1]), (-16 / 12, e[-2]), (5 / 12, e[-3]))
        else:
            eps = lin((55 / 24, e[-1]), (-59 / 24, e[-2]), (37 / 24, e[-3]), (-9 / 24, e[-4]))
        a_t = self.ac[t]
        a_prev = self.ac[prev_t] if prev_t >= 0 else self.final
        b_t, b_prev = 1 - a_t, 1 - a_prev
        if self.cfg["prediction_type"] == "v_prediction":
            eps = lin((math.sqrt(a_t), eps), (math.sqrt(b_t), x))
        sample_coeff = math.sqrt(a_prev / a_t)
        denom = a_t * math.sqrt(b_prev) + math.sqrt(a_t * b_t * a_prev)
        prev = lin((sample_coeff, x), (-(a_prev - a_t) / denom, eps))
        self.counter += 1
        return prev, x0_report


def dpm_spaced(n, cfg, lambda_train):
    T = cfg["num_train_timesteps"]
    lmc = cfg.get("lambda_min_clipped", -math.inf)
    clipped_idx = int(np.searchsorted(lambda_train[::-1], lmc))
    last = T - clipped_idx
    sp = cfg["timestep_spacing"]
    if sp == "linspace":
        ts = np.linspace(0, last - 1, n + 1).round()[::-1][:-1]
    elif sp == "leading":
        ts = (np.arange(0, n + 1) * (last // (n + 1))).round()[::-1][:-1] + cfg["steps_offset"]
    elif sp == "trailing":
        ts = np.round(arange_desc(last, T / n, n)) - 1
    return ts.astype(np.int64)


class DPM:
    def __init__(self, cfg):
        self.cfg = cfg
        self.ac = alphas_cumprod_for(cfg)
        self.lambda_train = np.log(np.sqrt(self.ac)) - np.log(np.sqrt(1 - self.ac))
        self.init_noise_sigma = 1.0

    def set_timesteps(self, n):
        self.timesteps = dpm_spaced(n, self.cfg, self.lambda_train)
        sig = np.sqrt((1 - self.ac) / self.ac)
        s = np.interp(self.timesteps.astype(np.float64), np.arange(len(sig)), sig)
        last = math.sqrt((1 - self.ac[0]) / self.ac[0]) if self.cfg["final_sigmas_type"] == "sigma_min" else 0.0
        self.sigmas = f32(np.concatenate([s, [last]]))
        self.outputs = []
        self.lower_order_nums = 0
        self.step_index = None

    def scale(self, x, t):
        return x

    def alpha_sigma(self, sigma):
        alpha = 1 / math.sqrt(sigma**2 + 1)
        return alpha, sigma * alpha

    def step(self, out, t, x, noise, eta):
        cfg = self.cfg
        n = len(self.timesteps)
        if self.step_index is None:
            cands = [i for i, v in enumerate(self.timesteps) if v == t]
            self.step_index = n - 1 if not cands else (cands[1] if len(cands) > 1 else cands[0])
        i = self.step_index
        lower_final = i == n - 1 and (
            cfg["euler_at_final"] or (cfg["lower_order_final"] and n < 15) or cfg["final_sigmas_type"] == "zero"
        )
        alpha_s0, sigma_s0 = self.alpha_sigma(self.sigmas[i])
        # DPM-Solver++ converts with alpha_t, sigma_t derived from the float32 sigma (as diffusers)
        pt = cfg["prediction_type"]
        if pt == "epsilon":
            x0 = lin((1 / alpha_s0, x), (-sigma_s0 / alpha_s0, out))
        elif pt == "v_prediction":
            x0 = lin((alpha_s0, x), (-sigma_s0, out))
        elif pt == "sample":
            x0 = out
        self.outputs = (self.outputs + [x0])[-cfg["solver_order"]:]
        alpha_t, sigma_t = self.alpha_sigma(self.sigmas[i + 1])
        with np.errstate(divide="ignore"):
            lam_t = math.log(alpha_t) - (math.log(sigma_t) if sigma_t > 0 else -math.inf)
        lam_s0 = math.log(alpha_s0) - math.log(sigma_s0)
        h = lam_t - lam_s0
        em = math.exp(-h) - 1.0
        if cfg["solver_order"] == 1 or self.lower_order_nums < 1 or lower_final:
            prev = lin((sigma_t / sigma_s0, x), (-(alpha_t * em), x0))
        else:
            alpha_s1, sigma_s1 = self.alpha_sigma(self.sigmas[i - 1])
            lam_s1 = math.log(alpha_s1) - math.log(sigma_s1)
            r0 = (lam_s0 - lam_s1) / h
            m0, m1 = self.outputs[-1], self.outputs[-2]
            c0 = -(alpha_t * em)
            if cfg["solver_type"] == "midpoint":
                c1 = -0.5 * (alpha_t * em) / r0
            else:  # heun
                c1 = (alpha_t * (em / h + 1.0)) / r0
            prev = lin((sigma_t / sigma_s0, x), (c0 + c1, m0), (-c1, m1))
        if self.lower_order_nums < cfg["solver_order"]:
            self.lower_order_nums += 1
        self.step_index += 1
        return prev, x0


class Euler:
    def __init__(self, cfg):
        self.cfg = cfg
        self.ac = alphas_cumprod_for(cfg)

    def set_timesteps(self, n):
        cfg = self.cfg
        T = cfg["num_train_timesteps"]
        sp = cfg["timestep_spacing"]
        if sp == "linspace":
            ts = np.linspace(0, T - 1, n, dtype=np.float32)[::-1]
        elif sp == "leading":
            ts = (np.arange(0, n) * (T // n)).round()[::-1].astype(np.float32) + cfg["steps_offset"]
        elif sp == "trailing":
            ts = np.round(arange_desc(T, T / n, n)).astype(np.float32) - 1
        self.float_timesteps = ts.astype(np.float32).astype(np.float64)
        self.timesteps = np.round(self.float_timesteps).astype(np.int64)  # half to even, like numpy
        sig = np.sqrt((1 - self.ac) / self.ac)
        s = np.interp(self.float_timesteps, np.arange(len(sig)), sig)
        last = math.sqrt((1 - self.ac[0]) / self.ac[0]) if cfg["final_sigmas_type"] == "sigma_min" else 0.0
        self.sigmas = f32(np.concatenate([s, [last]]))
        mx = float(self.sigmas.max())
        self.init_noise_sigma = mx if sp in ("linspace", "trailing") else math.sqrt(mx**2 + 1)
        self.step_index = None

    def init_index(self, t):
        if self.step_index is None:
            cands = [i for i, v in enumerate(self.timesteps) if v == t]
            self.step_index = cands[1] if len(cands) > 1 else cands[0]

    def scale(self, x, t):
        self.init_index(t)
        sigma = self.sigmas[self.step_index]
        return lin((1 / math.sqrt(sigma**2 + 1), x))

    def step(self, out, t, x, noise, eta):
        self.init_index(t)
        sigma = self.sigmas[self.step_index]
        sigma_hat = sigma  # s_churn = 0 -> gamma = 0
        pt = self.cfg["prediction_type"]
        if pt == "epsilon":
            x0 = lin((1.0, x), (-sigma_hat, out))
        elif pt == "v_prediction":
            x0 = lin((-sigma / math.sqrt(sigma**2 + 1), out), (1 / (sigma**2 + 1), x))
        elif pt == "sample":
            x0 = out
        derivative = lin((1 / sigma_hat, x), (-1 / sigma_hat, x0))
        dt = self.sigmas[self.step_index + 1] - sigma_hat
        prev = lin((1.0, x), (dt, derivative))
        self.step_index += 1
        return prev, x0


SCHEDULERS = {
    "DDPMScheduler": DDPM,
    "DDIMScheduler": DDIM,
    "PNDMScheduler": PNDM,
    "DPMSolverMultistepScheduler": DPM,
    "EulerDiscreteScheduler": Euler,
}

# ------------------------------------------------------------------------------------------------
# Cases

SD = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012,
      "timestep_spacing": "leading", "steps_offset": 1, "prediction_type": "epsilon",
      "clip_sample": False, "set_alpha_to_one": False, "skip_prk_steps": True}
VPRED = {"beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02,
         "timestep_spacing": "trailing", "prediction_type": "v_prediction",
         "clip_sample": False, "set_alpha_to_one": True, "skip_prk_steps": True}
COS = {"beta_schedule": "squaredcos_cap_v2", "timestep_spacing": "linspace", "prediction_type": "sample",
       "clip_sample": True, "clip_sample_range": 1.0, "skip_prk_steps": True}

CASES = []
for cls in SCHEDULERS:
    for label, base in (("sd", SD), ("vpred", VPRED), ("cos", COS)):
        cfg = dict(base)
        if cls == "PNDMScheduler" and cfg["prediction_type"] == "sample":
            cfg["prediction_type"] = "epsilon"  # PNDM supports epsilon and v_prediction only
        if cls in ("PNDMScheduler", "DPMSolverMultistepScheduler", "EulerDiscreteScheduler"):
            cfg.pop("clip_sample", None)
            cfg.pop("clip_sample_range", None)
        if cls != "PNDMScheduler":
            cfg.pop("skip_prk_steps", None)
        if cls not in ("PNDMScheduler", "DDIMScheduler"):
            cfg.pop("set_alpha_to_one", None)
        for n in (10, 25):
            CASES.append((f"{cls}/{label}/{n}", cls, cfg, n, 0.0))
# Extra settings that change the arithmetic.
CASES += [
    ("DDIMScheduler/sd-eta0.5/10", "DDIMScheduler", dict(SD), 10, 0.5),
    ("DDIMScheduler/cos-eps-eta1/10", "DDIMScheduler", dict(COS, prediction_type="epsilon"), 10, 1.0),
    ("DDPMScheduler/vpred-fixed_large/10", "DDPMScheduler", dict(VPRED, variance_type="fixed_large"), 10, 0.0),
    ("DDPMScheduler/cos-fixed_small_log/10", "DDPMScheduler", dict(COS, variance_type="fixed_small_log"), 10, 0.0),
    ("DPMSolverMultistepScheduler/sd-sigma_min/25", "DPMSolverMultistepScheduler",
     dict(SD, final_sigmas_type="sigma_min"), 25, 0.0),
    ("DPMSolverMultistepScheduler/sd-heun/10", "DPMSolverMultistepScheduler", dict(SD, solver_type="heun"), 10, 0.0),
    ("DPMSolverMultistepScheduler/vpred-order1/10", "DPMSolverMultistepScheduler",
     dict(VPRED, solver_order=1), 10, 0.0),
    ("DPMSolverMultistepScheduler/cos-lambda_clip/10", "DPMSolverMultistepScheduler",
     dict(COS, prediction_type="epsilon", lambda_min_clipped=-5.1), 10, 0.0),
    ("EulerDiscreteScheduler/sd-linspace/7", "EulerDiscreteScheduler",
     dict(SD, timestep_spacing="linspace", steps_offset=0), 7, 0.0),
]


def clean_config(cls, cfg):
    out = {"_class_name": cls}
    for k, v in cfg.items():
        if cls != "DDIMScheduler" and cls != "PNDMScheduler" and k == "set_alpha_to_one":
            continue
        if cls not in ("DDPMScheduler", "DDIMScheduler") and k in ("clip_sample", "clip_sample_range"):
            continue
        if cls != "PNDMScheduler" and k == "skip_prk_steps":
            continue
        out[k] = v
    return out


def compact(values):
    """float32 values printed with 9 significant digits (enough to round-trip a float32)."""
    return [float("%.9g" % v) for v in np.asarray(values).ravel()]


def run_case(name, cls, cfg_in, n, eta, x_T, rng):
    config = clean_config(cls, cfg_in)
    cfg = resolve(config)
    sch = SCHEDULERS[cls](cfg)
    sch.set_timesteps(n)
    ts = [int(t) for t in sch.timesteps]
    needs_noise = cls == "DDPMScheduler" or (cls == "DDIMScheduler" and eta > 0)
    noise = [f32(rng.standard_normal(16)) for _ in ts] if needs_noise else None
    x = f32(x_T * sch.init_noise_sigma)
    keep = sorted({0, 1, len(ts) // 2, len(ts) - 1})
    trace, pred = {}, {}
    for k, t in enumerate(ts):
        out = model(sch.scale(x, t), t)
        x, x0 = sch.step(out, t, x, noise[k] if noise else None, eta)
        if k in keep:
            trace[str(k)] = compact(x)
            pred[str(k)] = compact(x0)
    return {
        "name": name,
        "config": config,
        "steps": n,
        "eta": eta,
        "timesteps": ts,
        "init_noise_sigma": float(sch.init_noise_sigma),
        "noise": [compact(v) for v in noise] if noise else None,
        "trace": trace,
        "pred_original": pred,
        "final": compact(x),
    }


def make_schedules(rng):
    out = {"betas": [], "spacing": [], "add_noise": [], "get_velocity": []}
    idx = [0, 1, 2, 10, 100, 500, 998, 999]
    for sched in ("linear", "scaled_linear", "squaredcos_cap_v2"):
        cfg = resolve({"_class_name": "DDPMScheduler", "beta_schedule": sched,
                       **({"beta_start": 0.00085, "beta_end": 0.012} if sched == "scaled_linear" else {})})
        b, ac = betas_for(cfg), alphas_cumprod_for(cfg)
        out["betas"].append({"config": {k: cfg[k] for k in ("beta_schedule", "beta_start", "beta_end")},
                             "index": idx, "betas": b[idx].tolist(), "alphas_cumprod": ac[idx].tolist()})
    for sp, off in (("leading", 1), ("leading", 0), ("trailing", 0), ("linspace", 0)):
        for n in (1, 2, 3, 7, 16, 50, 61, 999):
            cfg = resolve({"_class_name": "DDIMScheduler", "timestep_spacing": sp, "steps_offset": off})
            out["spacing"].append({"timestep_spacing": sp, "steps_offset": off, "steps": n,
                                   "timesteps": spaced_timesteps(n, cfg).tolist()})
    x = f32(rng.standard_normal((3, 8)))
    noise = f32(rng.standard_normal((3, 8)))
    ts = np.array([0, 457, 999])
    for sched in ("linear", "scaled_linear", "squaredcos_cap_v2"):
        cfg = resolve({"_class_name": "DDPMScheduler", "beta_schedule": sched})
        ac = alphas_cumprod_for(cfg)
        common = {"beta_schedule": sched, "timesteps": ts.tolist(), "original": x.tolist(), "noise": noise.tolist()}
        out["add_noise"].append(dict(common, expected=add_noise(ac, x, noise, ts).tolist()))
        out["get_velocity"].append(dict(common, expected=get_velocity(ac, x, noise, ts).tolist()))
    # Euler works in sigma space: x_t = x_0 + sigma_t * noise (t must be a scheduled timestep there).
    cfg = resolve(dict(clean_config("EulerDiscreteScheduler", SD)))
    ac = alphas_cumprod_for(cfg)
    ets = np.array([901, 501, 1])
    sig = np.sqrt((1 - ac[ets]) / ac[ets])
    out["euler_add_noise"] = {"config": clean_config("EulerDiscreteScheduler", SD), "timesteps": ets.tolist(),
                              "original": x.tolist(), "noise": noise.tolist(),
                              "expected": f32(x + sig[:, None] * noise).tolist()}
    return out


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "test", "fixtures", "schedulers")
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(20240611)
    x_T = f32(rng.standard_normal(16))
    cases = [run_case(name, cls, cfg, n, eta, x_T, rng) for name, cls, cfg, n, eta in CASES]
    sampling = {"model": MODEL, "initial_sample": compact(x_T), "cases": cases}
    schedules = make_schedules(rng)
    for fname, obj in (("sampling.json", sampling), ("schedules.json", schedules)):
        path = os.path.join(out_dir, fname)
        tmp = path + ".tmp-%d" % os.getpid()
        with open(tmp, "w") as f:
            json.dump(obj, f, separators=(",", ":"))
            f.write("\n")
        os.replace(tmp, path)
        print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))


if __name__ == "__main__":
    main()

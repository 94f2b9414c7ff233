/**
 * @file The engine benchmark (`alter bench engine`, `npm run bench:engine`): SGEMM, conv2d forward
 * and backward, fused attention forward and backward, and one training step of a small UNet-like
 * stack, each timed as the median of repeats after warm-up; the same workloads in PyTorch
 * (tools/bench_torch.py, when torch imports) measured in the same run with the same thread count;
 * and a 2,000-step training loop whose resident memory is sampled to show it stays flat.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { kernels, nativeKernels } from "../engine/kernels/index.js";
import { Tensor, Generator, scope, noGrad, keep } from "../engine/index.js";
import * as F from "../engine/index.js";
import { Conv2d, GroupNorm, LayerNorm, Linear } from "../nn/layers.js";
import { Module } from "../nn/module.js";
import { median, time } from "./timing.js";
import { AdamW } from "../nn/optim.js";

export interface BenchResult {
  workload: string;
  ms: number;
  gflops: number | null;
  torch_ms: number | null;
  ratio: number | null;
}

export interface BenchOptions {
  /** Fewer repeats and a shorter memory loop. */
  quick?: boolean;
  /** Steps of the memory-flatness loop (default 2000). */
  memorySteps?: number;
  onResult?: (r: BenchResult) => void;
  onInfo?: (line: string) => void;
}

/** Conv + GroupNorm + SiLU twice with a residual, then self-attention with a residual. */
class UNetLikeStack extends Module {
  norm1: GroupNorm;
  conv1: Conv2d;
  norm2: GroupNorm;
  conv2: Conv2d;
  norm_attn: LayerNorm;
  to_q: Linear;
  to_k: Linear;
  to_v: Linear;
  to_out: Linear;

  constructor(channels: number, gen: Generator) {
    super();
    this.norm1 = new GroupNorm(32, channels);
    this.conv1 = new Conv2d(channels, channels, 3, { padding: 1, generator: gen });
    this.norm2 = new GroupNorm(32, channels);
    this.conv2 = new Conv2d(channels, channels, 3, { padding: 1, generator: gen });
    this.norm_attn = new LayerNorm(channels);
    this.to_q = new Linear(channels, channels, { bias: false, generator: gen });
    this.to_k = new Linear(channels, channels, { bias: false, generator: gen });
    this.to_v = new Linear(channels, channels, { bias: false, generator: gen });
    this.to_out = new Linear(channels, channels, { generator: gen });
  }

  forward(x: Tensor, heads: number): Tensor {
    const [N, H, W, C] = x.shape;
    let h = this.conv1.forward(this.norm1.forward(x).silu());
    h = this.conv2.forward(this.norm2.forward(h).silu());
    const r = x.add(h).reshape([N, H * W, C]);
    const n = this.norm_attn.forward(r);
    const a = F.scaledDotProductAttention(this.to_q.forward(n), this.to_k.forward(n), this.to_v.forward(n), heads);
    return r.add(this.to_out.forward(a)).reshape([N, H, W, C]);
  }
}

function torchPython(): string | null {
  for (const candidate of ["/usr/bin/python3", "python3"]) {
    const probe = spawnSync(candidate, ["-c", "import torch"], { stdio: "ignore" });
    if (probe.status === 0) return candidate;
  }
  return null;
}

function runTorch(quick: boolean, threads: number): Map<string, number> {
  const out = new Map<string, number>();
  const python = torchPython();
  const script = fileURLToPath(new URL("../../../tools/bench_torch.py", import.meta.url));
  const scriptPath = existsSync(script) ? script : fileURLToPath(new URL("../../tools/bench_torch.py", import.meta.url));
  if (python === null || !existsSync(scriptPath)) return out;
  // The environment pins OpenBLAS to an older core type (OPENBLAS_CORETYPE) for safety elsewhere; it
  // slows PyTorch's BLAS, so the reference runs without it (in this subprocess only) to be at its best.
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const args = [scriptPath, "--threads", String(threads), ...(quick ? ["--quick"] : [])];
  const result = spawnSync(python, args, { encoding: "utf8", env });
  if (result.status !== 0) throw new Error(`tools/bench_torch.py failed: ${result.stderr}`);
  for (const line of result.stdout.split("\n")) {
    if (!line.trim()) continue;
    const { workload, ms } = JSON.parse(line) as { workload: string; ms: number };
    out.set(workload, ms);
  }
  return out;
}

function rssMiB(): number {
  return process.memoryUsage.rss() / (1 << 20);
}

export function runEngineBenchmark(options: BenchOptions = {}): BenchResult[] {
  const quick = options.quick ?? false;
  const info = options.onInfo ?? (() => {});
  const repeats = quick ? 3 : 10;
  const threads = kernels.numThreads();
  const gen = new Generator(0);
  const peak = nativeKernels?.measurePeakGflops() ?? null;
  info(`kernels: ${kernels.name} (${kernels.cpuIsa()}), threads: ${threads}` + (peak ? `, measured FMA peak ${peak.toFixed(0)} GFLOP/s` : ""));

  const torch = runTorch(quick, threads);
  if (torch.size === 0) info("PyTorch not importable: torch columns left empty");
  const results: BenchResult[] = [];
  const report = (workload: string, ms: number, flops: number | null): void => {
    const torchMs = torch.get(workload) ?? null;
    const r: BenchResult = {
      workload,
      ms,
      gflops: flops === null ? null : flops / (ms * 1e6),
      torch_ms: torchMs,
      ratio: torchMs === null ? null : ms / torchMs,
    };
    results.push(r);
    options.onResult?.(r);
  };

  for (const n of [512, 1024]) {
    const a = keep(Tensor.randn([n, n], gen)), b = keep(Tensor.randn([n, n], gen)), c = keep(Tensor.empty([n, n]));
    const ms = time(() => kernels.sgemm(false, false, n, n, n, 1, a.f32, n, b.f32, n, 0, c.f32, n), repeats);
    report(`sgemm_${n}`, ms, 2 * n * n * n);
    for (const t of [a, b, c]) t.dispose();
  }

  // conv2d 3x3, batch 16, 64 -> 64 channels, 32x32, padding 1
  {
    const x = keep(Tensor.randn([16, 32, 32, 64], gen)), w = keep(Tensor.randn([64, 64, 3, 3], gen, 0.05));
    const dy = keep(Tensor.randn([16, 32, 32, 64], gen));
    const s = F.conv2dShape(x, w, { padding: 1 });
    const y = keep(Tensor.empty([16, 32, 32, 64])), dx = keep(Tensor.empty(x.shape)), dw = keep(Tensor.empty(w.shape)), db = keep(Tensor.empty([64]));
    const flops = 2 * 16 * 32 * 32 * 64 * 64 * 9;
    report("conv2d_fwd", time(() => kernels.conv2dForward(s, x.f32, w.f32, null, y.f32), repeats), flops);
    report("conv2d_bwd", time(() => {
      kernels.conv2dBackwardInput(s, dy.f32, w.f32, dx.f32);
      kernels.conv2dBackwardWeight(s, dy.f32, x.f32, dw.f32, db.f32);
    }, repeats), 2 * flops);
    for (const t of [x, w, dy, y, dx, dw, db]) t.dispose();
  }

  // attention: batch 8, 4 heads, 256 tokens, head dim 32
  {
    const shape = { B: 8, H: 4, Lq: 256, Lk: 256, D: 32, scale: 1 / Math.sqrt(32) };
    const n = 8 * 256 * 4 * 32;
    const [q, k, v, o, dout, dq, dk, dv] = Array.from({ length: 8 }, () => keep(Tensor.randn([n], gen)));
    const lse = keep(Tensor.empty([8 * 4 * 256]));
    const flops = 2 * 2 * 8 * 4 * 256 * 256 * 32;
    report("attention_fwd", time(() => kernels.attentionForward(shape, q.f32, k.f32, v.f32, o.f32, lse.f32), repeats), flops);
    kernels.attentionForward(shape, q.f32, k.f32, v.f32, o.f32, lse.f32);
    report("attention_bwd", time(() => kernels.attentionBackward(shape, q.f32, k.f32, v.f32, o.f32, lse.f32, dout.f32, dq.f32, dk.f32, dv.f32), repeats), 2.5 * flops);
    for (const t of [q, k, v, o, dout, dq, dk, dv, lse]) t.dispose();
  }

  // one training step of the UNet-like stack, batch 16, 32x32x64
  {
    const model = new UNetLikeStack(64, gen);
    const opt = new AdamW(model.parameters(), { lr: 1e-4 });
    const x = keep(Tensor.randn([16, 32, 32, 64], gen));
    const ms = time(() => {
      opt.zeroGrad();
      model.forward(x, 4).square().mean().backward();
      opt.step();
    }, quick ? 3 : 6, 2);
    report("train_step", ms, null);
    x.dispose();
  }

  // memory: a long training loop of a small stack; resident memory sampled after warm-up and at the end
  {
    const steps = options.memorySteps ?? (quick ? 300 : 2000);
    const model = new UNetLikeStack(32, gen);
    const opt = new AdamW(model.parameters(), { lr: 1e-4 });
    const x = keep(Tensor.randn([4, 16, 16, 32], gen));
    const samples: number[] = [];
    const start = process.hrtime.bigint();
    for (let step = 0; step < steps; step++) {
      scope(() => {
        opt.zeroGrad();
        model.forward(x, 2).square().mean().backward();
        opt.step();
      });
      if (step % 100 === 99) samples.push(rssMiB());
    }
    const ms = Number(process.hrtime.bigint() - start) / 1e6 / steps;
    const first = samples[Math.min(1, samples.length - 1)], last = samples[samples.length - 1];
    info(`memory: ${steps} training steps, RSS after warm-up ${first.toFixed(1)} MiB, at the end ${last.toFixed(1)} MiB (growth ${(last - first).toFixed(1)} MiB); samples every 100 steps: ${samples.map((s) => s.toFixed(0)).join(" ")}`);
    report(`memory_loop_${steps}_steps`, ms, null);
    noGrad(() => x.dispose());
  }
  info(`peak RSS: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
  return results;
}

/**
 * @file `alter bench engine [--json] [--quick]`: the engine benchmark side by side with PyTorch;
 * `alter bench unet-step`: the prune step with layer skipping against the masked blend.
 */
import type { Command } from "commander";
import { runEngineBenchmark, type BenchResult } from "../../bench/engine.js";
import { runUNetStepBenchmark } from "../../bench/unet-step.js";
import { existingDir, existingFile, intOption } from "../options.js";

function row(r: BenchResult): string {
  const f = (v: number | null, digits = 2): string => (v === null ? "-" : v.toFixed(digits));
  return [r.workload.padEnd(26), f(r.ms).padStart(10), f(r.gflops, 1).padStart(9), f(r.torch_ms).padStart(10), f(r.ratio).padStart(7)].join(" ");
}

export function registerBench(program: Command): void {
  const bench = program.command("bench").description("benchmarks (median wall time, PyTorch measured in the same run)");
  bench
    .command("engine")
    .description(
      "SGEMM 512/1024, conv2d 3x3 fwd/bwd (16x64x32x32), attention fwd/bwd (8x4 heads x256 tokens x32), " +
        "a UNet-like training step, and a 2,000-step memory loop; ratio = ours / PyTorch (lower is better)",
    )
    .option("--json", "print one JSON object per workload")
    .option("--quick", "fewer repeats and a 300-step memory loop")
    .action((opts: { json?: boolean; quick?: boolean }) => {
      if (!opts.json) console.log(["workload".padEnd(26), "ms".padStart(10), "GFLOP/s".padStart(9), "torch ms".padStart(10), "ratio".padStart(7)].join(" "));
      runEngineBenchmark({
        quick: opts.quick,
        onInfo: (line) => (opts.json ? process.stderr.write(line + "\n") : console.log(line)),
        onResult: (r) => console.log(opts.json ? JSON.stringify(r) : row(r)),
      });
    });
  bench
    .command("unet-step")
    .description(
      "one alter prune UNet step after the freeze (student forward, distillation losses, backward) with per-sample hard masks: " +
        "every layer blended with its mask vs each layer run only on the samples that keep it; ratio = subset / blend",
    )
    .option("--model <dir>", "a class-conditional model folder", "models/fmnist-teacher")
    .option("--plan <file>", "an alter_plan.json for the masks (default: random masks keeping about 65 % of the MACs)")
    .option("--batch <n>", "batch size", intOption("--batch", 1, 256), 16)
    .option("--repeats <n>", "timed repeats per side", intOption("--repeats", 3, 1000), 12)
    .option("--json", "print the result as one JSON object")
    .action((opts: { model: string; plan?: string; batch: number; repeats: number; json?: boolean }) => {
      existingDir("--model", opts.model);
      if (opts.plan !== undefined) existingFile("--plan", opts.plan);
      const r = runUNetStepBenchmark({ model: opts.model, plan: opts.plan, batch: opts.batch, repeats: opts.repeats });
      if (opts.json) return console.log(JSON.stringify(r));
      console.log(`threads ${r.threads}, batch ${r.batch}, masks: ${r.masks}; they keep ${(100 * r.kept_macs).toFixed(1)} % of the student's MACs`);
      console.log(`teacher forward (every step)      ${r.teacher_forward_ms.toFixed(1).padStart(8)} ms`);
      console.log(`student step, blend (every layer) ${r.blend_ms.toFixed(1).padStart(8)} ms`);
      console.log(`student step, subset (skipping)   ${r.subset_ms.toFixed(1).padStart(8)} ms   ratio ${r.ratio.toFixed(3)} (kept MACs ${r.kept_macs.toFixed(3)})`);
    });
}

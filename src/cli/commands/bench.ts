/**
 * @file `alter bench engine [--json] [--quick]`: the engine benchmark side by side with PyTorch.
 */
import type { Command } from "commander";
import { runEngineBenchmark, type BenchResult } from "../../bench/engine.js";

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
}

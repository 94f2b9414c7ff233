/**
 * @file `alter macs`: multiply-accumulates per layer and in total, from a config alone.
 */
import type { Command } from "commander";
import { readUNetConfig } from "../../models/config.js";
import { UNet2DConditionModel } from "../../models/unet-2d-condition.js";
import { withMetaTensors } from "../../engine/memory.js";
import { existingFile, intOption } from "../options.js";
import { UserError } from "../errors.js";

export function registerMacs(program: Command): void {
  program
    .command("macs")
    .description(
      "count multiply-accumulates of one UNet evaluation (one image) from a diffusers config, without allocating weights.\n" +
        "Counted: every convolution (OH*OW*Cout*Cin*KH*KW), every linear layer (rows*in*out, including the time-embedding MLP),\n" +
        "and both attention matmuls (Q K^T and P V: heads*Lq*Lk*headDim each) with the real query and key lengths\n" +
        "(self-attention: H*W tokens; cross-attention: --context-length keys). Not counted: normalisation, activations,\n" +
        "additions, resampling, softmax (memory-bound, a few percent). Classifier-free guidance doubles the per-step cost.",
    )
    .requiredOption("--config <file>", "diffusers UNet2DConditionModel config.json")
    .option("--height <n>", "input height in latent/pixel units (default: sample_size)", intOption("--height"))
    .option("--width <n>", "input width (default: sample_size)", intOption("--width"))
    .option("--context-length <n>", "cross-attention key length (tokens)", intOption("--context-length"), 77)
    .option("--json", "print {total_gmacs, layers: [{name, gmacs}]}")
    .action((o: { config: string; height?: number; width?: number; contextLength: number; json?: boolean }) => {
      const config = readUNetConfig(existingFile("--config", o.config));
      const height = o.height ?? config.sample_size, width = o.width ?? config.sample_size;
      const factor = 2 ** (config.block_out_channels.length - 1);
      if (height % factor !== 0 || width % factor !== 0) {
        throw new UserError(`--height and --width must be multiples of ${factor} for this config, got ${height}x${width}`);
      }
      const unet = withMetaTensors(() => new UNet2DConditionModel(config));
      const counter = unet.countMacs(height, width, o.contextLength);
      const layers = counter.entries.map((e) => ({ name: e.name, kind: e.kind, gmacs: e.macs / 1e9 }));
      if (o.json) {
        console.log(JSON.stringify({ total_gmacs: counter.total() / 1e9, height, width, context_length: o.contextLength, layers }));
        return;
      }
      for (const l of layers) console.log(`${l.name.padEnd(72)} ${l.kind.padEnd(9)} ${l.gmacs.toFixed(6).padStart(12)}`);
      console.log(`total: ${(counter.total() / 1e9).toFixed(3)} GMACs per evaluation at ${height}x${width}, context ${o.contextLength}, ${unet.numParameters().toLocaleString("en-US")} parameters`);
    });
}

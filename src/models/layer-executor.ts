/**
 * @file The seam through which the UNet runs its prunable layers (whole ResnetBlock2Ds and the
 * BasicTransformerBlocks inside each Transformer2DModel). The default runs them; ALTER supplies an
 * executor that blends them with per-sample masks (training) or skips them (inference), without the
 * model files knowing about masks. Layers are identified by their diffusers module path.
 */
import type { Tensor } from "../engine/tensor.js";
import { concat } from "../engine/ops/layout.js";
import type { ResnetBlock2D } from "./resnet.js";
import type { BasicTransformerBlock } from "./transformer-2d.js";

export interface LayerExecutor {
  /**
   * Runs a ResnetBlock2D on h. `skip` is the encoder feature a decoder resnet concatenates to h
   * along channels (null in the encoder and mid block). A skipping executor returns h and drops skip.
   */
  resnet(name: string, block: ResnetBlock2D, h: Tensor, temb: Tensor, skip: Tensor | null): Tensor;
  /** Runs one BasicTransformerBlock on tokens h [B, L, C]. */
  transformerBlock(name: string, block: BasicTransformerBlock, h: Tensor, context: Tensor | null): Tensor;
}

/** Runs every layer: the plain UNet. */
export const denseExecutor: LayerExecutor = {
  resnet(_name, block, h, temb, skip) {
    return block.forward(skip === null ? h : concat([h, skip], -1), temb);
  },
  transformerBlock(_name, block, h, context) {
    return block.forward(h, context);
  },
};

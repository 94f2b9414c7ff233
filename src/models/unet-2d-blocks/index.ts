/**
 * @file Block factories keyed by the type strings of config.json (a table, not an if/else chain).
 */
import { CrossAttnDownBlock2D, DownBlock2D } from "./down.js";
import { CrossAttnUpBlock2D, UpBlock2D, type UpBlockOptions } from "./up.js";
import type { BlockOptions } from "./common.js";
import type { DownBlockType, UpBlockType } from "../config.js";

export const DOWN_BLOCKS: Record<DownBlockType, (o: BlockOptions, addDownsample: boolean) => CrossAttnDownBlock2D> = {
  CrossAttnDownBlock2D: (o, add) => new CrossAttnDownBlock2D(o, add),
  DownBlock2D: (o, add) => new DownBlock2D(o, add),
};

export const UP_BLOCKS: Record<UpBlockType, (o: UpBlockOptions, addUpsample: boolean) => CrossAttnUpBlock2D> = {
  CrossAttnUpBlock2D: (o, add) => new CrossAttnUpBlock2D(o, add),
  UpBlock2D: (o, add) => new UpBlock2D(o, add),
};

export { CrossAttnDownBlock2D, DownBlock2D, CrossAttnUpBlock2D, UpBlock2D };
export { UNetMidBlock2DCrossAttn } from "./mid.js";
export type { BlockContext, BlockOptions } from "./common.js";
export type { UpBlockOptions } from "./up.js";

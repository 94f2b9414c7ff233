/**
 * @file The two ways a masked layer runs, out = (1 - m) * x + m * f(x) (ALTER eq. 3), as
 * LayerExecutors the UNet calls for its prunable layers:
 *  - MaskedExecutor (training): every layer is computed and blended with a per-sample mask column
 *    m [B] (each sample has its own timestep, hence its own row of the mask table). Masks may be
 *    soft or hard; the blend is differentiable with respect to m and to the layer.
 *  - SubsetExecutor (training with hard masks, the UNet step): each layer runs only on the samples
 *    whose mask keeps it and passes the others through, so a layer pruned for a sample costs
 *    nothing in its forward or backward. Per-sample ops only (GroupNorm, attention within a sample)
 *    make this exact: the same outputs and gradients as the blend up to float summation order.
 *  - SkippingExecutor (inference): one hard mask for the whole call; a layer with m = 0 is not
 *    executed at all, and a skipped decoder resnet drops its skip feature.
 * With hard masks all three give the same output (test/alter/masked.test.ts).
 */
import { Tensor } from "../engine/tensor.js";
import { replaceRows, selectRows } from "../engine/ops/indexing.js";
import { concat } from "../engine/ops/layout.js";
import { denseExecutor, type LayerExecutor } from "../models/layer-executor.js";
import type { ResnetBlock2D } from "../models/resnet.js";
import type { BasicTransformerBlock } from "../models/transformer-2d.js";
import type { PrunableLayer } from "./layers.js";

export function layerIndex(layers: readonly PrunableLayer[]): Map<string, number> {
  return new Map(layers.map((l) => [l.name, l.index]));
}

/** h + m (f - h), m broadcast over every axis but the batch. */
function blend(h: Tensor, f: Tensor, m: Tensor): Tensor {
  const shape = [h.shape[0], ...h.shape.slice(1).map(() => 1)];
  return h.add(f.sub(h).mul(m.reshape(shape)));
}

export class MaskedExecutor implements LayerExecutor {
  /**
   * @param index layer name -> column of `masks`
   * @param masks [B, N_L] per-sample masks (rows of the mask table at each sample's timestep)
   */
  constructor(readonly index: ReadonlyMap<string, number>, readonly masks: Tensor) {}

  #column(name: string): Tensor | null {
    const i = this.index.get(name);
    return i === undefined ? null : this.masks.slice(1, i, i + 1);
  }

  resnet(name: string, block: ResnetBlock2D, h: Tensor, temb: Tensor, skip: Tensor | null): Tensor {
    const m = this.#column(name);
    const f = denseExecutor.resnet(name, block, h, temb, skip);
    return m === null ? f : blend(h, f, m);
  }

  transformerBlock(name: string, block: BasicTransformerBlock, h: Tensor, context: Tensor | null): Tensor {
    const m = this.#column(name);
    const f = denseExecutor.transformerBlock(name, block, h, context);
    return m === null ? f : blend(h, f, m);
  }
}

export class SubsetExecutor implements LayerExecutor {
  /** Each layer's kept rows, made on first use: an executor serves one forward (its tensors live in that step's scope). */
  readonly #kept = new Map<string, Tensor | null>();

  /**
   * @param index layer name -> column of `masks`
   * @param masks [B, N_L] hard per-sample masks (0 or 1; not differentiated)
   */
  constructor(readonly index: ReadonlyMap<string, number>, readonly masks: Tensor) {
    const bad = masks.f32.find((v) => v !== 0 && v !== 1);
    if (bad !== undefined) throw new Error(`SubsetExecutor: masks must be hard (0 or 1), found ${bad}; use MaskedExecutor for soft masks`);
  }

  /** The samples that run layer `name` (null: all of them, as for a layer that is not prunable). */
  #rows(name: string): Tensor | null {
    const cached = this.#kept.get(name);
    if (cached !== undefined) return cached;
    const column = this.index.get(name);
    let rows: Tensor | null = null;
    if (column !== undefined) {
      const [B, layers] = this.masks.shape;
      const kept = Array.from({ length: B }, (_, b) => b).filter((b) => this.masks.f32[b * layers + column] === 1);
      rows = kept.length === B ? null : Tensor.int32(kept);
    }
    this.#kept.set(name, rows);
    return rows;
  }

  resnet(name: string, block: ResnetBlock2D, h: Tensor, temb: Tensor, skip: Tensor | null): Tensor {
    const rows = this.#rows(name);
    if (rows === null) return denseExecutor.resnet(name, block, h, temb, skip);
    if (rows.size === 0) return h;
    const f = denseExecutor.resnet(name, block, selectRows(h, rows), selectRows(temb, rows), skip === null ? null : selectRows(skip, rows));
    return replaceRows(h, rows, f);
  }

  transformerBlock(name: string, block: BasicTransformerBlock, h: Tensor, context: Tensor | null): Tensor {
    const rows = this.#rows(name);
    if (rows === null) return denseExecutor.transformerBlock(name, block, h, context);
    if (rows.size === 0) return h;
    return replaceRows(h, rows, denseExecutor.transformerBlock(name, block, selectRows(h, rows), context === null ? null : selectRows(context, rows)));
  }
}

export class SkippingExecutor implements LayerExecutor {
  /**
   * @param index layer name -> position in `keep`
   * @param keep one hard mask for the call (1 = run, 0 = skip)
   */
  constructor(readonly index: ReadonlyMap<string, number>, readonly keep: ArrayLike<number>) {}

  #skipped(name: string): boolean {
    const i = this.index.get(name);
    return i !== undefined && this.keep[i] === 0;
  }

  resnet(name: string, block: ResnetBlock2D, h: Tensor, temb: Tensor, skip: Tensor | null): Tensor {
    if (this.#skipped(name)) return h; // the skip feature was popped by the caller and is dropped
    return block.forward(skip === null ? h : concat([h, skip], -1), temb);
  }

  transformerBlock(name: string, block: BasicTransformerBlock, h: Tensor, context: Tensor | null): Tensor {
    return this.#skipped(name) ? h : block.forward(h, context);
  }
}

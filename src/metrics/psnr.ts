/**
 * @file PSNR = 10 log10(MAX^2 / MSE), per image, then averaged over images (the common pattern,
 * e.g. a per-image MSE with reduction='none' followed by a mean of the per-image PSNRs).
 *
 * MAX is the data range hi - lo of the inputs' `range` (default [-1, 1], so MAX = 2; PSNR is
 * shift-invariant, so this equals PSNR on the same images mapped to [0, 1] with MAX = 1). The MSE
 * of an image is taken over all its H * W * C values, in float64.
 *
 * Identical pairs (MSE = 0) have PSNR = +Infinity. An infinite value would swamp any mean, and a
 * cap would be an arbitrary number, so the mean reports the FINITE values only and the number of
 * identical pairs is returned separately (`identical`). If every pair is identical, `mean` is
 * +Infinity. Reports should quote `identical` next to `mean` whenever it is non-zero.
 */
import type { ImageShape } from "./ssim.js";

export interface PsnrOptions {
  /** Value range of the inputs, [lo, hi] (default [-1, 1]); MAX = hi - lo. */
  range?: readonly [number, number];
}

export interface PsnrResult {
  /** PSNR per image in dB (+Infinity for an identical pair). */
  perImage: Float64Array;
  /** Mean over the images with finite PSNR (+Infinity if all pairs are identical). */
  mean: number;
  /** Number of identical pairs (MSE = 0), excluded from `mean`. */
  identical: number;
  /** Per-image mean squared error. */
  mse: Float64Array;
}

/** PSNR in dB for a given MSE and data range (+Infinity for mse = 0). */
export function psnrFromMse(mse: number, dataRange: number): number {
  if (!(mse >= 0)) throw new Error(`psnrFromMse: mse must be >= 0, got ${mse}`);
  if (!(dataRange > 0)) throw new Error(`psnrFromMse: data range must be > 0, got ${dataRange}`);
  if (mse === 0) return Infinity;
  return 10 * Math.log10((dataRange * dataRange) / mse);
}

/** PSNR between corresponding images of two [N, H, W, C] batches. */
export function psnr(a: ArrayLike<number>, b: ArrayLike<number>, shape: ImageShape, options: PsnrOptions = {}): PsnrResult {
  const { n, h, w, c } = shape;
  for (const v of [n, h, w, c]) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`psnr: invalid image shape [${n}, ${h}, ${w}, ${c}]`);
  }
  const per = h * w * c;
  if (a.length !== n * per || b.length !== n * per) {
    throw new Error(`psnr: expected ${n * per} values for [${n}, ${h}, ${w}, ${c}], got ${a.length} and ${b.length}`);
  }
  const [lo, hi] = options.range ?? [-1, 1];
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || !(hi > lo)) {
    throw new Error(`psnr: range must be finite with hi > lo, got [${lo}, ${hi}]`);
  }
  const dataRange = hi - lo;
  const mse = new Float64Array(n);
  const perImage = new Float64Array(n);
  let sum = 0;
  let finite = 0;
  let identical = 0;
  for (let img = 0; img < n; img++) {
    let s = 0;
    const base = img * per;
    for (let i = 0; i < per; i++) {
      const diff = (a[base + i] as number) - (b[base + i] as number);
      s += diff * diff;
    }
    if (!Number.isFinite(s)) throw new Error(`psnr: non-finite pixel in image ${img}`);
    mse[img] = s / per;
    const p = psnrFromMse(mse[img]!, dataRange);
    perImage[img] = p;
    if (p === Infinity) identical++;
    else {
      sum += p;
      finite++;
    }
  }
  return { perImage, mean: finite > 0 ? sum / finite : Infinity, identical, mse };
}

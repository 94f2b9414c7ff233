/**
 * @file SSIM (Wang et al. 2004) as implemented by `pytorch_msssim.ssim` (VainF/pytorch-msssim),
 * the implementation Diff-Pruning's `compute_ssim.py` uses with data_range = 1 on [0, 1] images.
 *
 * - Window: 1-D Gaussian of size 11, sigma 1.5 (taps at -5..5, normalised to sum 1), applied
 *   separably along H then W.
 * - VALID filtering (no padding): an H x W channel gives an (H - 10) x (W - 10) SSIM map. As in
 *   pytorch_msssim, an axis shorter than the window is not smoothed at all (the reference warns
 *   and skips that axis); such images are accepted here the same way.
 * - mu = G*x, sigma_x^2 = G*(x^2) - mu_x^2, sigma_xy = G*(xy) - mu_x mu_y (no sample-covariance
 *   correction), C1 = (0.01 L)^2, C2 = (0.03 L)^2.
 * - SSIM map = ((2 mu_x mu_y + C1)(2 sigma_xy + C2)) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2)),
 *   averaged over the map per channel, then over channels: one value per image. No clamping of
 *   negative values (pytorch_msssim's default nonnegative_ssim = False).
 *
 * Range convention. SSIM is not shift-invariant (the luminance term depends on the absolute
 * means), so "data range" alone does not pin the number down. Inputs here are [N, H, W, C]
 * (channels-last) arrays whose values lie in `range = [lo, hi]` (default [-1, 1], the project's
 * image convention); they are mapped to [0, 1] by (v - lo) / (hi - lo) and SSIM is computed with
 * L = 1. That is exactly pytorch_msssim.ssim(X01, Y01, data_range=1), and equally
 * pytorch_msssim.ssim(255 X01, 255 Y01, data_range=255) (SSIM is invariant to a common scaling
 * of images and L). Arithmetic is float64 (the reference runs in the input's dtype).
 */

export const SSIM_WINDOW_SIZE = 11;
export const SSIM_SIGMA = 1.5;
export const SSIM_K1 = 0.01;
export const SSIM_K2 = 0.03;

export interface ImageShape {
  n: number;
  h: number;
  w: number;
  c: number;
}

export interface SsimOptions {
  /** Value range of the inputs, [lo, hi] (default [-1, 1]); mapped to [0, 1] with data range 1. */
  range?: readonly [number, number];
  /** Window size (default 11; must be odd). */
  windowSize?: number;
  /** Gaussian sigma (default 1.5). */
  sigma?: number;
}

export interface SsimResult {
  /** SSIM per image (mean over the map, then over channels). */
  perImage: Float64Array;
  /** Mean over images. */
  mean: number;
}

/** The normalised 1-D Gaussian window: taps exp(-t^2 / (2 sigma^2)) for t = -(size/2)..(size/2). */
export function gaussianWindow(size = SSIM_WINDOW_SIZE, sigma = SSIM_SIGMA): Float64Array {
  if (!Number.isInteger(size) || size < 1 || size % 2 === 0) {
    throw new Error(`gaussianWindow: size must be a positive odd integer, got ${size}`);
  }
  if (!(sigma > 0)) throw new Error(`gaussianWindow: sigma must be > 0, got ${sigma}`);
  const g = new Float64Array(size);
  const half = (size - 1) / 2;
  let sum = 0;
  for (let i = 0; i < size; i++) {
    const t = i - half;
    g[i] = Math.exp(-(t * t) / (2 * sigma * sigma));
    sum += g[i]!;
  }
  for (let i = 0; i < size; i++) g[i]! /= sum;
  return g;
}

/**
 * Valid separable filtering of an h x w plane: along H, then along W. An axis shorter than the
 * window is left unfiltered (as pytorch_msssim does). Returns the filtered plane and its size.
 */
function filterValid(
  plane: Float64Array,
  h: number,
  w: number,
  win: Float64Array,
): { out: Float64Array; oh: number; ow: number } {
  const k = win.length;
  let cur = plane;
  let ch = h;
  if (h >= k) {
    const oh = h - k + 1;
    const next = new Float64Array(oh * w);
    for (let y = 0; y < oh; y++) {
      for (let t = 0; t < k; t++) {
        const wt = win[t]!;
        const src = (y + t) * w;
        const dst = y * w;
        for (let x = 0; x < w; x++) next[dst + x]! += wt * cur[src + x]!;
      }
    }
    cur = next;
    ch = oh;
  }
  let cw = w;
  if (w >= k) {
    const ow = w - k + 1;
    const next = new Float64Array(ch * ow);
    for (let y = 0; y < ch; y++) {
      const src = y * w;
      const dst = y * ow;
      for (let x = 0; x < ow; x++) {
        let s = 0;
        for (let t = 0; t < k; t++) s += win[t]! * cur[src + x + t]!;
        next[dst + x] = s;
      }
    }
    cur = next;
    cw = ow;
  }
  return { out: cur, oh: ch, ow: cw };
}

function checkImages(what: string, a: ArrayLike<number>, b: ArrayLike<number>, shape: ImageShape): void {
  const { n, h, w, c } = shape;
  for (const v of [n, h, w, c]) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${what}: invalid image shape [${n}, ${h}, ${w}, ${c}]`);
  }
  const size = n * h * w * c;
  if (a.length !== size || b.length !== size) {
    throw new Error(`${what}: expected ${size} values for [${n}, ${h}, ${w}, ${c}], got ${a.length} and ${b.length}`);
  }
}

function checkRange(what: string, range: readonly [number, number]): void {
  const [lo, hi] = range;
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || !(hi > lo)) {
    throw new Error(`${what}: range must be finite with hi > lo, got [${lo}, ${hi}]`);
  }
}

/**
 * SSIM between corresponding images of two [N, H, W, C] channels-last batches (e.g. pruned vs.
 * full model samples from the same seeds). See the file comment for the exact definition.
 */
export function ssim(a: ArrayLike<number>, b: ArrayLike<number>, shape: ImageShape, options: SsimOptions = {}): SsimResult {
  checkImages("ssim", a, b, shape);
  const range = options.range ?? [-1, 1];
  checkRange("ssim", range);
  const win = gaussianWindow(options.windowSize ?? SSIM_WINDOW_SIZE, options.sigma ?? SSIM_SIGMA);
  const { n, h, w, c } = shape;
  const [lo, hi] = range;
  const scale = 1 / (hi - lo);
  const c1 = SSIM_K1 * SSIM_K1; // (K1 L)^2 with L = 1 after mapping to [0, 1]
  const c2 = SSIM_K2 * SSIM_K2;
  const hw = h * w;
  const x = new Float64Array(hw);
  const y = new Float64Array(hw);
  const xx = new Float64Array(hw);
  const yy = new Float64Array(hw);
  const xy = new Float64Array(hw);
  const perImage = new Float64Array(n);
  for (let img = 0; img < n; img++) {
    let channelSum = 0;
    for (let ch = 0; ch < c; ch++) {
      const base = img * hw * c + ch;
      for (let p = 0; p < hw; p++) {
        const av = a[base + p * c] as number;
        const bv = b[base + p * c] as number;
        if (!Number.isFinite(av) || !Number.isFinite(bv)) throw new Error(`ssim: non-finite pixel in image ${img}`);
        const u = (av - lo) * scale;
        const v = (bv - lo) * scale;
        x[p] = u;
        y[p] = v;
        xx[p] = u * u;
        yy[p] = v * v;
        xy[p] = u * v;
      }
      const mx = filterValid(x, h, w, win);
      const my = filterValid(y, h, w, win).out;
      const exx = filterValid(xx, h, w, win).out;
      const eyy = filterValid(yy, h, w, win).out;
      const exy = filterValid(xy, h, w, win).out;
      const count = mx.oh * mx.ow;
      let mapSum = 0;
      for (let p = 0; p < count; p++) {
        const mux = mx.out[p]!;
        const muy = my[p]!;
        const sxx = exx[p]! - mux * mux;
        const syy = eyy[p]! - muy * muy;
        const sxy = exy[p]! - mux * muy;
        const cs = (2 * sxy + c2) / (sxx + syy + c2);
        const lum = (2 * mux * muy + c1) / (mux * mux + muy * muy + c1);
        mapSum += lum * cs;
      }
      channelSum += mapSum / count;
    }
    perImage[img] = channelSum / c;
  }
  let mean = 0;
  for (let i = 0; i < n; i++) mean += perImage[i]!;
  return { perImage, mean: mean / n };
}

// PNG output: encoding uint8 pixel buffers (via pngjs), atomic writes, and sample grids.
//
// Pixel buffers are row-major, channels-last, 8 bits per sample: 1 channel = grayscale,
// 2 = grayscale + alpha, 3 = RGB, 4 = RGBA.

import { PNG, type ColorType } from "pngjs";
import { writeFileAtomic } from "../util/atomic.js";

const COLOR_TYPES: Record<number, ColorType> = { 1: 0, 2: 4, 3: 2, 4: 6 };

/** Encodes 8-bit pixels ([height, width, channels], channels 1-4) as a PNG file image. */
export function encodePng(pixels: Uint8Array, width: number, height: number, channels: number): Buffer {
  const colorType = COLOR_TYPES[channels];
  if (colorType === undefined) throw new RangeError(`encodePng: channels must be 1, 2, 3 or 4, got ${channels}`);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`encodePng: width and height must be positive integers, got ${width}x${height}`);
  }
  if (pixels.length !== width * height * channels) {
    throw new RangeError(
      `encodePng: ${pixels.length} bytes do not match ${width}x${height}x${channels} = ${width * height * channels}`,
    );
  }
  const data = Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength);
  // pngjs only reads width, height and data from the image object.
  const image = { width, height, data } as unknown as PNG;
  return PNG.sync.write(image, {
    colorType,
    inputColorType: colorType,
    inputHasAlpha: channels === 2 || channels === 4,
    bitDepth: 8,
  });
}

/** Encodes and writes a PNG atomically (temporary file + rename). */
export function writePng(path: string, pixels: Uint8Array, width: number, height: number, channels: number): void {
  writeFileAtomic(path, encodePng(pixels, width, height, channels));
}

/** Maps a value in [-1, 1] to a byte (clamped, rounded). */
export function toByte(v: number): number {
  const b = Math.round((v + 1) * 127.5);
  return b < 0 ? 0 : b > 255 ? 255 : Number.isNaN(b) ? 0 : b;
}

export interface Grid {
  /** [height, width, channels] uint8, ready for encodePng. */
  pixels: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

// ---- a tiny 5x7 bitmap font for grid captions -----------------------------------------------

// Each glyph: 7 rows of 5 bits (bit 4 = leftmost column), two hex digits per row.
const FONT: Record<string, string> = {
  A: "0e11111f111111", B: "1e11111e11111e", C: "0e11101010110e", D: "1e11111111111e",
  E: "1f10101e10101f", F: "1f10101e101010", G: "0e11101711110f", H: "1111111f111111",
  I: "0e04040404040e", J: "0702020202120c", K: "11121418141211", L: "1010101010101f",
  M: "111b1515111111", N: "11111915131111", O: "0e11111111110e", P: "1e11111e101010",
  Q: "0e11111115120d", R: "1e11111e141211", S: "0f10100e01011e", T: "1f040404040404",
  U: "1111111111110e", V: "11111111110a04", W: "1111111515150a",
  X: "11110a040a1111", Y: "1111110a040404", Z: "1f01020408101f",
  "0": "0e11131519110e", "1": "040c040404040e", "2": "0e11010204081f",
  "3": "1f02040201110e", "4": "02060a121f0202", "5": "1f101e0101110e", "6": "0608101e11110e",
  "7": "1f010204080808", "8": "0e11110e11110e", "9": "0e11110f01020c",
  " ": "00000000000000", "-": "0000001f000000", "/": "00010204081000", ".": "00000000000c0c",
  ":": "000c0c000c0c00", _: "0000000000001f", "(": "02040808080402", ")": "08040202020408",
  "'": "04040800000000", "=": "00001f001f0000", "+": "0004041f040400", "?": "0e110102040004",
};

const GLYPH_W = 5;
const GLYPH_H = 7;
const ADVANCE = GLYPH_W + 1;
/** Height of the caption strip under each cell when labels are drawn. */
export const CAPTION_HEIGHT = GLYPH_H + 2;

function drawText(
  out: Uint8Array,
  outW: number,
  channels: number,
  x0: number,
  y0: number,
  maxWidth: number,
  text: string,
  value: number,
): void {
  const maxChars = Math.floor((maxWidth + 1) / ADVANCE);
  const chars = [...text.toUpperCase()].slice(0, maxChars);
  chars.forEach((ch, i) => {
    const glyph = FONT[ch] ?? FONT["?"]!;
    for (let r = 0; r < GLYPH_H; r++) {
      const bits = parseInt(glyph.slice(2 * r, 2 * r + 2), 16);
      for (let c = 0; c < GLYPH_W; c++) {
        if ((bits >> (GLYPH_W - 1 - c)) & 1) {
          const p = ((y0 + r) * outW + x0 + i * ADVANCE + c) * channels;
          for (let k = 0; k < channels; k++) out[p + k] = value;
        }
      }
    }
  });
}

/**
 * Tiles `n` images ([n, h, w, c] float32 in [-1, 1]) into a grid `columns` wide, with `padding`
 * pixels of white between and around cells. With `labels`, a caption strip (upper-case 5x7
 * text, truncated to the cell width) is drawn under each cell.
 */
export function imageGrid(
  images: Float32Array,
  n: number,
  h: number,
  w: number,
  c: number,
  columns: number,
  padding = 2,
  labels?: readonly string[],
): Grid {
  if (images.length < n * h * w * c) {
    throw new RangeError(`imageGrid: ${images.length} values are fewer than ${n}x${h}x${w}x${c}`);
  }
  if (!Number.isInteger(columns) || columns < 1) throw new RangeError(`imageGrid: columns must be >= 1, got ${columns}`);
  if (!Number.isInteger(padding) || padding < 0) throw new RangeError(`imageGrid: padding must be >= 0, got ${padding}`);
  if (labels !== undefined && labels.length < n) {
    throw new RangeError(`imageGrid: ${labels.length} labels for ${n} images`);
  }
  const cols = Math.max(1, Math.min(columns, n));
  const rows = Math.max(1, Math.ceil(n / cols));
  const captionH = labels !== undefined ? CAPTION_HEIGHT : 0;
  const cellH = h + captionH;
  const W = cols * w + (cols + 1) * padding;
  const H = rows * cellH + (rows + 1) * padding;
  const out = new Uint8Array(W * H * c).fill(255);
  for (let i = 0; i < n; i++) {
    const gx = padding + (i % cols) * (w + padding);
    const gy = padding + Math.floor(i / cols) * (cellH + padding);
    for (let y = 0; y < h; y++) {
      let src = ((i * h + y) * w) * c;
      let dst = ((gy + y) * W + gx) * c;
      for (let k = 0; k < w * c; k++) out[dst++] = toByte(images[src++]!);
    }
    if (labels !== undefined) {
      for (let y = h; y < cellH; y++) out.fill(0, ((gy + y) * W + gx) * c, ((gy + y) * W + gx + w) * c);
      drawText(out, W, c, gx + 1, gy + h + 1, w - 1, labels[i]!, 255);
    }
  }
  return { pixels: out, width: W, height: H, channels: c };
}

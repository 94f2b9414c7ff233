// Counter-based pseudo-random numbers: Philox4x32-10 (Salmon et al., "Parallel random
// numbers: as easy as 1, 2, 3", SC'11).
//
// The generator is a pure function of (key, counter): a 64-bit key taken from the seed and a
// 128-bit counter that advances by one per block of four 32-bit outputs. Everything up to the
// 32-bit words is integer arithmetic, so the same seed gives the same bits on every machine;
// the float conversions use only IEEE-754 operations and V8's deterministic Math functions.
//
// Stream layout: every sampling call starts at a fresh block and consumes whole blocks; words
// left over in the last block of a call are discarded. The whole state is therefore just
// (key, counter), which `state()` / `fromState()` save and restore exactly.

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;
const ROUNDS = 10;

const TWO_POW_M24 = 1 / 16777216; // 2^-24
const TWO_PI = 2 * Math.PI;

const U64_MASK = (1n << 64n) - 1n;
const U128_MASK = (1n << 128n) - 1n;

/** High 32 bits of the 64-bit product of two uint32 values (exact, using 16-bit limbs). */
function mulhi32(a: number, b: number): number {
  const ah = a >>> 16;
  const al = a & 0xffff;
  const bh = b >>> 16;
  const bl = b & 0xffff;
  const hh = ah * bh; // < 2^32
  const hl = ah * bl; // < 2^32
  const lh = al * bh; // < 2^32
  const ll = al * bl; // < 2^32
  const mid = (hl & 0xffff) + (lh & 0xffff) + (ll >>> 16); // < 3 * 2^16
  return (hh + (hl >>> 16) + (lh >>> 16) + (mid >>> 16)) >>> 0;
}

/**
 * One Philox4x32-10 block: encrypts the 128-bit counter (c0..c3, least significant word first)
 * under the 64-bit key (k0, k1), writing four uint32 words into `out` at `offset`.
 */
export function philox4x32_10(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  out: Uint32Array,
  offset = 0,
): void {
  let x0 = c0 >>> 0;
  let x1 = c1 >>> 0;
  let x2 = c2 >>> 0;
  let x3 = c3 >>> 0;
  let key0 = k0 >>> 0;
  let key1 = k1 >>> 0;
  for (let r = 0; r < ROUNDS; r++) {
    if (r > 0) {
      key0 = (key0 + W0) >>> 0;
      key1 = (key1 + W1) >>> 0;
    }
    const hi0 = mulhi32(M0, x0);
    const lo0 = Math.imul(M0, x0) >>> 0;
    const hi1 = mulhi32(M1, x2);
    const lo1 = Math.imul(M1, x2) >>> 0;
    x0 = (hi1 ^ x1 ^ key0) >>> 0;
    x1 = lo1;
    x2 = (hi0 ^ x3 ^ key1) >>> 0;
    x3 = lo0;
  }
  out[offset] = x0;
  out[offset + 1] = x1;
  out[offset + 2] = x2;
  out[offset + 3] = x3;
}

function toU64(seed: number | bigint, what: string): bigint {
  if (typeof seed === "bigint") return BigInt.asUintN(64, seed);
  if (typeof seed !== "number" || !Number.isSafeInteger(seed)) {
    throw new RangeError(`${what} must be an integer (a safe-integer number or a bigint), got ${String(seed)}`);
  }
  return BigInt.asUintN(64, BigInt(seed));
}

function checkCount(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`${what}: count must be a non-negative integer, got ${String(n)}`);
  }
}

export interface GeneratorState {
  /** The 64-bit Philox key, as a decimal string. */
  seed: string;
  /** The 128-bit block counter, as a decimal string. */
  counter: string;
}

export class Generator {
  // Key words and the counter, least significant word first.
  private k0: number;
  private k1: number;
  private c0 = 0;
  private c1 = 0;
  private c2 = 0;
  private c3 = 0;
  private readonly block = new Uint32Array(4);

  constructor(seed: number | bigint) {
    const key = toU64(seed, "Generator seed");
    this.k0 = Number(key & 0xffffffffn);
    this.k1 = Number(key >> 32n);
  }

  /** Encrypts the current counter into `out[offset..offset+4)` and advances the counter. */
  private nextBlock(out: Uint32Array, offset: number): void {
    philox4x32_10(this.c0, this.c1, this.c2, this.c3, this.k0, this.k1, out, offset);
    this.c0 = (this.c0 + 1) >>> 0;
    if (this.c0 === 0) {
      this.c1 = (this.c1 + 1) >>> 0;
      if (this.c1 === 0) {
        this.c2 = (this.c2 + 1) >>> 0;
        if (this.c2 === 0) this.c3 = (this.c3 + 1) >>> 0;
      }
    }
  }

  /** `n` raw uint32 words (consumes ceil(n/4) blocks). */
  uint32(n: number): Uint32Array {
    checkCount(n, "uint32");
    const blocks = Math.ceil(n / 4);
    const words = new Uint32Array(blocks * 4);
    for (let b = 0; b < blocks; b++) this.nextBlock(words, b * 4);
    return n === words.length ? words : words.slice(0, n);
  }

  /** Returns a pull-style word source for calls that need a data-dependent number of words. */
  private wordStream(): () => number {
    const buf = this.block;
    let pos = 4;
    return () => {
      if (pos === 4) {
        this.nextBlock(buf, 0);
        pos = 0;
      }
      return buf[pos++]!;
    };
  }

  /** Uniform samples in [0, 1) with 24 random bits each: (u >>> 8) * 2^-24; never exactly 1. */
  uniform(n: number): Float32Array {
    checkCount(n, "uniform");
    const w = this.uint32(n);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = (w[i]! >>> 8) * TWO_POW_M24;
    return out;
  }

  /** Standard-normal samples scaled to N(mean, std^2), by Box-Muller on pairs of uniforms. */
  normal(n: number, mean = 0, std = 1): Float32Array {
    checkCount(n, "normal");
    const pairs = Math.ceil(n / 2);
    const w = this.uint32(pairs * 2);
    const out = new Float32Array(n);
    for (let p = 0; p < pairs; p++) {
      // Open interval (0, 1): ((u >>> 8) + 0.5) * 2^-24, so log never sees 0.
      const u1 = ((w[2 * p]! >>> 8) + 0.5) * TWO_POW_M24;
      const u2 = ((w[2 * p + 1]! >>> 8) + 0.5) * TWO_POW_M24;
      const r = Math.sqrt(-2 * Math.log(u1));
      const theta = TWO_PI * u2;
      out[2 * p] = mean + std * r * Math.cos(theta);
      if (2 * p + 1 < n) out[2 * p + 1] = mean + std * r * Math.sin(theta);
    }
    return out;
  }

  /** Standard Gumbel samples: -log(-log(u)) with u in the open interval (0, 1). */
  gumbel(n: number): Float32Array {
    checkCount(n, "gumbel");
    const w = this.uint32(n);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const u = ((w[i]! >>> 8) + 0.5) * TWO_POW_M24;
      out[i] = -Math.log(-Math.log(u));
    }
    return out;
  }

  /** Uniform integers in [low, high) without modulo bias (rejection sampling). */
  randint(n: number, low: number, high: number): Int32Array {
    checkCount(n, "randint");
    if (!Number.isSafeInteger(low) || !Number.isSafeInteger(high)) {
      throw new RangeError(`randint: low and high must be integers, got ${low} and ${high}`);
    }
    if (low < -0x80000000 || high > 0x80000000) {
      throw new RangeError(`randint: [${low}, ${high}) must lie within the int32 range`);
    }
    if (high <= low) throw new RangeError(`randint: need low < high, got [${low}, ${high})`);
    const range = high - low; // 1 .. 2^32
    const out = new Int32Array(n);
    const next = this.wordStream();
    const limit = range === 0x100000000 ? 0x100000000 : Math.floor(0x100000000 / range) * range;
    for (let i = 0; i < n; i++) {
      let x: number;
      do x = next();
      while (x >= limit);
      out[i] = low + (x % range);
    }
    return out;
  }

  /** A uniformly random permutation of 0..n-1 (Fisher-Yates with unbiased index draws). */
  permutation(n: number): Int32Array {
    checkCount(n, "permutation");
    if (n > 0x7fffffff) throw new RangeError(`permutation: n must fit in int32, got ${n}`);
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = i;
    const next = this.wordStream();
    for (let i = n - 1; i > 0; i--) {
      const range = i + 1;
      const limit = Math.floor(0x100000000 / range) * range;
      let x: number;
      do x = next();
      while (x >= limit);
      const j = x % range;
      const t = out[i]!;
      out[i] = out[j]!;
      out[j] = t;
    }
    return out;
  }

  /** The full generator state, JSON-serialisable (decimal strings for the 64/128-bit values). */
  state(): GeneratorState {
    const key = (BigInt(this.k1) << 32n) | BigInt(this.k0);
    const counter =
      (BigInt(this.c3) << 96n) | (BigInt(this.c2) << 64n) | (BigInt(this.c1) << 32n) | BigInt(this.c0);
    return { seed: key.toString(), counter: counter.toString() };
  }

  /** Restores a generator saved with `state()`; its continuation is identical to the original's. */
  static fromState(s: GeneratorState): Generator {
    if (s === null || typeof s !== "object" || typeof s.seed !== "string" || typeof s.counter !== "string") {
      throw new TypeError(`Generator.fromState: expected {seed: string, counter: string}, got ${JSON.stringify(s)}`);
    }
    if (!/^[0-9]+$/.test(s.seed) || !/^[0-9]+$/.test(s.counter)) {
      throw new RangeError(`Generator.fromState: seed and counter must be decimal strings, got ${JSON.stringify(s)}`);
    }
    const key = BigInt(s.seed);
    const counter = BigInt(s.counter);
    if (key > U64_MASK) throw new RangeError(`Generator.fromState: seed ${s.seed} does not fit in 64 bits`);
    if (counter > U128_MASK) throw new RangeError(`Generator.fromState: counter ${s.counter} does not fit in 128 bits`);
    const g = new Generator(key);
    g.c0 = Number(counter & 0xffffffffn);
    g.c1 = Number((counter >> 32n) & 0xffffffffn);
    g.c2 = Number((counter >> 64n) & 0xffffffffn);
    g.c3 = Number((counter >> 96n) & 0xffffffffn);
    return g;
  }

  /**
   * An independent generator for sub-stream `streamId`. The child key is derived by encrypting
   * (streamId, domain tag) under this generator's key, so it depends on the seed and the stream
   * id only, not on how far this generator has advanced. The child's counter starts at 0.
   */
  fork(streamId: number | bigint): Generator {
    const id = toU64(streamId, "fork streamId");
    const out = new Uint32Array(4);
    philox4x32_10(
      Number(id & 0xffffffffn),
      Number(id >> 32n),
      0x666f726b, // "fork": keeps derived keys apart from ordinary stream blocks
      0xa17e4000,
      this.k0,
      this.k1,
      out,
    );
    return new Generator((BigInt(out[1]!) << 32n) | BigInt(out[0]!));
  }
}

/**
 * @file ALTER's hypernetwork H_Phi (official `SD_HyperStructure` in `hypernet.py`; spec section 2):
 * an Expert Generator that turns a frozen orthogonal code per (expert, layer) into a mask logit,
 * and a Temporal Router that maps every diffusion timestep's embedding to routing logits over the
 * experts. Relaxed with Gumbel-Sigmoid / Gumbel-Softmax (./gumbel.ts), they compose the per-timestep
 * layer mask table m = S . M_exp ([T, N_e] x [N_e, N_L] -> [T, N_L]).
 *
 * Decisions (Yang et al., NeurIPS 2025 vs. the official code):
 *  - Expert Generator follows the code, including its extra input LayerNorm that the paper's
 *    Table 5 omits: LN(64) -> Linear(64, 256) -> LN(256) -> ReLU -> Linear(256, 1, no bias).
 *  - The frozen input Z [N_e, N_L, 64] is a buffer (saved, not trained) filled like PyTorch's
 *    `orthogonal_`, which flattens it to N_e x (N_L*64): the N_e expert rows are orthonormal.
 *  - Router: Linear(D_emb, 64) -> LN(64) -> ReLU -> Linear(64, N_e, no bias) on a fixed [T, D_emb]
 *    timestep-embedding table (SD: the UNet's raw sinusoidal projection; the caller builds it),
 *    evaluated for all T timesteps every forward.
 *  - Defaults tau = 0.4, offset = 4 (experts), router tau = 0.4, offset = 0, as in the released
 *    scripts. Which relaxation to use is the caller's choice per forward (`Relaxation`): the
 *    official training forward is "soft", its mask-table refresh is "hard" (noisy), the paper's
 *    are "straight-through" and "deterministic".
 *  - Noise order within one forward: the expert masks' Gumbel draws first ([N_e, N_L], row-major),
 *    then the router's ([T, N_e]).
 *  - Initial weights come from forks of the constructor's generator (one sub-stream per part), so
 *    the initialisation depends on the seed only.
 */
import { noGrad } from "../engine/autograd.js";
import { Generator } from "../engine/rng.js";
import { formatShape } from "../engine/shape.js";
import { Tensor } from "../engine/tensor.js";
import { LayerNorm, Linear } from "../nn/layers.js";
import { Module } from "../nn/module.js";
import { gumbelSigmoid, gumbelSoftmax, type Relaxation } from "./gumbel.js";

/**
 * A [rows, cols] matrix with orthonormal rows (rows <= cols), row-major: modified Gram-Schmidt in
 * float64 on Gaussian draws, with a second orthogonalisation pass ("twice is enough") for accuracy.
 * Same distribution as PyTorch's `orthogonal_` on a [rows, cols] weight (QR of the transposed
 * Gaussian matrix with diag(R) made positive = Gram-Schmidt on its rows).
 */
export function orthogonalRows(rows: number, cols: number, generator: Generator): Float32Array {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1) {
    throw new Error(`orthogonalRows: rows and cols must be positive integers, got ${rows} x ${cols}`);
  }
  if (rows > cols) {
    throw new Error(`orthogonalRows: cannot make ${rows} orthonormal rows of length ${cols} (need rows <= cols)`);
  }
  const draws = generator.normal(rows * cols);
  const q = Float64Array.from(draws);
  for (let i = 0; i < rows; i++) {
    const qi = q.subarray(i * cols, (i + 1) * cols);
    let initialNorm = 0;
    for (let k = 0; k < cols; k++) initialNorm += qi[k] * qi[k];
    initialNorm = Math.sqrt(initialNorm);
    for (let pass = 0; pass < 2; pass++) {
      for (let j = 0; j < i; j++) {
        const qj = q.subarray(j * cols, (j + 1) * cols);
        let dot = 0;
        for (let k = 0; k < cols; k++) dot += qi[k] * qj[k];
        for (let k = 0; k < cols; k++) qi[k] -= dot * qj[k];
      }
    }
    let norm = 0;
    for (let k = 0; k < cols; k++) norm += qi[k] * qi[k];
    norm = Math.sqrt(norm);
    if (!(norm > 1e-10 * initialNorm)) {
      throw new Error(`orthogonalRows: row ${i} is linearly dependent on the previous rows (degenerate draw)`);
    }
    for (let k = 0; k < cols; k++) qi[k] /= norm;
  }
  return Float32Array.from(q);
}

export interface ExpertGeneratorOptions {
  /** Width of each (expert, layer) code vector (64). */
  inputDim?: number;
  /** Hidden width of the MLP (256). */
  hiddenDim?: number;
  generator: Generator;
}

/** Expert Generator: frozen orthogonal codes -> one mask logit per (expert, layer). */
export class ExpertGenerator extends Module {
  /** Frozen codes [N_e, N_L, D_in]: a buffer (saved in the state dict, never trained). */
  z: Tensor;
  norm_in: LayerNorm;
  fc1: Linear;
  norm_hidden: LayerNorm;
  fc2: Linear;

  constructor(readonly numExperts: number, readonly numLayers: number, options: ExpertGeneratorOptions) {
    super();
    const inputDim = options.inputDim ?? 64, hiddenDim = options.hiddenDim ?? 256;
    for (const [name, v] of [["numExperts", numExperts], ["numLayers", numLayers], ["inputDim", inputDim], ["hiddenDim", hiddenDim]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`ExpertGenerator: ${name} must be a positive integer, got ${v}`);
    }
    const g = options.generator;
    this.z = Tensor.wrap(orthogonalRows(numExperts, numLayers * inputDim, g.fork(0)), [numExperts, numLayers, inputDim]);
    this.norm_in = new LayerNorm(inputDim);
    this.fc1 = new Linear(inputDim, hiddenDim, { generator: g.fork(1) });
    this.norm_hidden = new LayerNorm(hiddenDim);
    this.fc2 = new Linear(hiddenDim, 1, { bias: false, generator: g.fork(2) });
  }

  get inputDim(): number {
    return this.z.shape[2];
  }

  /** Mask logits [N_e, N_L]; the N_e * N_L code vectors go through the MLP as one batch of rows. */
  forward(): Tensor {
    const rows = this.z.reshape([this.numExperts * this.numLayers, this.inputDim]);
    const h = this.norm_hidden.forward(this.fc1.forward(this.norm_in.forward(rows))).relu();
    return this.fc2.forward(h).reshape([this.numExperts, this.numLayers]);
  }
}

export interface TemporalRouterOptions {
  /** Router hidden width (64). */
  routerDim?: number;
  generator: Generator;
}

/** Temporal Router: fixed timestep embeddings [T, D_emb] -> routing logits [T, N_e]. */
export class TemporalRouter extends Module {
  /** Timestep embedding of t = 0..T-1 (row t <-> timestep t): a buffer. */
  time_table: Tensor;
  fc1: Linear;
  norm: LayerNorm;
  fc2: Linear;

  constructor(timeTable: Tensor, readonly numExperts: number, options: TemporalRouterOptions) {
    super();
    if (timeTable.rank !== 2 || timeTable.dtype !== "float32" || timeTable.shape[0] < 1 || timeTable.shape[1] < 1) {
      throw new Error(`TemporalRouter: timeTable must be a non-empty float32 [T, D_emb] tensor, got ${formatShape(timeTable.shape)} ${timeTable.dtype}`);
    }
    if (!Number.isInteger(numExperts) || numExperts < 1) throw new Error(`TemporalRouter: numExperts must be a positive integer, got ${numExperts}`);
    const routerDim = options.routerDim ?? 64;
    if (!Number.isInteger(routerDim) || routerDim < 1) throw new Error(`TemporalRouter: routerDim must be a positive integer, got ${routerDim}`);
    const g = options.generator;
    // A copy cut from any graph, so the buffer is frozen and owned by this module.
    this.time_table = noGrad(() => timeTable.clone());
    this.fc1 = new Linear(timeTable.shape[1], routerDim, { generator: g.fork(3) });
    this.norm = new LayerNorm(routerDim);
    this.fc2 = new Linear(routerDim, numExperts, { bias: false, generator: g.fork(4) });
  }

  get numTimesteps(): number {
    return this.time_table.shape[0];
  }

  /** Routing logits [T, N_e] for every timestep at once. */
  forward(): Tensor {
    return this.fc2.forward(this.norm.forward(this.fc1.forward(this.time_table)).relu());
  }
}

export interface HyperNetworkOptions {
  numExperts: number;
  /** Number of prunable layers N_L (the flat mask order of spec section 1.3). */
  numLayers: number;
  /** [T, D_emb] timestep embeddings for t = 0..T-1 (copied into the `router.time_table` buffer). */
  timeTable: Tensor;
  inputDim?: number;
  hiddenDim?: number;
  routerDim?: number;
  /** Expert Gumbel-Sigmoid temperature (0.4) and offset (4). */
  tau?: number;
  offset?: number;
  /** Router Gumbel-Softmax temperature (0.4) and offset (0). */
  routerTau?: number;
  routerOffset?: number;
  /** Source of the initial weights and of Z (forked per part; not advanced). */
  generator: Generator;
}

export interface HyperNetworkOutput {
  /** Relaxed expert masks M_exp [N_e, N_L]. */
  expertMasks: Tensor;
  /** Relaxed one-hot routing S [T, N_e]. */
  routing: Tensor;
  /** Raw router logits R [T, N_e] (for the balance loss). */
  routingLogits: Tensor;
  /** Per-timestep layer masks m = S . M_exp [T, N_L]. */
  table: Tensor;
}

/** First index of the maximum of each row of `routing` [T, N_e]: the expert chosen per timestep. */
export function expertIds(routing: Tensor): Int32Array {
  if (routing.rank !== 2) throw new Error(`expertIds: routing must be [T, N_e], got ${formatShape(routing.shape)}`);
  const [T, E] = routing.shape;
  const d = routing.f32;
  const out = new Int32Array(T);
  for (let t = 0; t < T; t++) {
    let best = 0;
    for (let e = 1; e < E; e++) if (d[t * E + e] > d[t * E + best]) best = e;
    out[t] = best;
  }
  return out;
}

export class HyperNetwork extends Module {
  expert_generator: ExpertGenerator;
  router: TemporalRouter;
  readonly tau: number;
  readonly offset: number;
  readonly routerTau: number;
  readonly routerOffset: number;

  constructor(o: HyperNetworkOptions) {
    super();
    this.expert_generator = new ExpertGenerator(o.numExperts, o.numLayers, {
      inputDim: o.inputDim,
      hiddenDim: o.hiddenDim,
      generator: o.generator,
    });
    this.router = new TemporalRouter(o.timeTable, o.numExperts, { routerDim: o.routerDim, generator: o.generator });
    this.tau = o.tau ?? 0.4;
    this.offset = o.offset ?? 4;
    this.routerTau = o.routerTau ?? 0.4;
    this.routerOffset = o.routerOffset ?? 0;
  }

  get numExperts(): number {
    return this.expert_generator.numExperts;
  }

  get numLayers(): number {
    return this.expert_generator.numLayers;
  }

  get numTimesteps(): number {
    return this.router.numTimesteps;
  }

  /**
   * Runs both halves and composes the mask table. "soft" and "straight-through" are
   * differentiable in the hypernetwork's parameters; "hard" and "deterministic" run without
   * recording gradients (mask-table refresh, export). A generator is needed unless
   * mode is "deterministic". `noiseScale` multiplies the Gumbel noise of both relaxations.
   */
  forward(mode: Relaxation, generator?: Generator, noiseScale = 1): HyperNetworkOutput {
    const run = (): HyperNetworkOutput => {
      const expertLogits = this.expert_generator.forward();
      const expertMasks = gumbelSigmoid(expertLogits, { tau: this.tau, offset: this.offset, mode, generator, noiseScale });
      const routingLogits = this.router.forward();
      const routing = gumbelSoftmax(routingLogits, { tau: this.routerTau, offset: this.routerOffset, mode, generator, noiseScale });
      const table = routing.matmul(expertMasks);
      return { expertMasks, routing, routingLogits, table };
    };
    return mode === "hard" || mode === "deterministic" ? noGrad(run) : run();
  }

  /** The expert chosen per timestep (argmax of each routing row). */
  expertIds(routing: Tensor): Int32Array {
    return expertIds(routing);
  }
}

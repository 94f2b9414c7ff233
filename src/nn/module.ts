/**
 * @file Module: PyTorch's naming contract without its machinery. A module's state is whatever its
 * fields hold: parameters (tensors marked with `parameter()`), buffers (other tensor fields), child
 * modules and arrays of child modules. Walking the fields gives dotted names identical to PyTorch
 * and diffusers state-dict keys (`down_blocks.0.resnets.1.conv1.weight`), so checkpoints load with
 * no renaming. Anything that is not state lives in `#private` fields, which the walk never sees.
 */
import { Tensor } from "../engine/tensor.js";
import { formatShape, shapesEqual } from "../engine/shape.js";
import { noGrad } from "../engine/autograd.js";

const parameters = new WeakSet<Tensor>();

/** Marks a tensor as a trainable parameter (requiresGrad on) and returns it. */
export function parameter(t: Tensor): Tensor {
  parameters.add(t);
  t.requiresGrad = true;
  return t;
}

export function isParameter(t: Tensor): boolean {
  return parameters.has(t);
}

export type StateDict = Map<string, Tensor>;

/** What a non-strict load did not match; a strict load throws when any list is non-empty. */
export interface LoadReport {
  missing: string[];
  unexpected: string[];
  mismatched: string[];
}

export class StateDictError extends Error {
  constructor(message: string, readonly report: LoadReport) {
    super(message);
    this.name = "StateDictError";
  }
}

export abstract class Module {
  /** Training mode (dropout active, label dropout, ...). Set recursively by train()/eval(). */
  training = true;

  /** Child modules by field name, in declaration order (arrays give name.0, name.1, ...). */
  namedChildren(): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [key, value] of Object.entries(this)) {
      if (value instanceof Module) out.push([key, value]);
      else if (Array.isArray(value)) {
        value.forEach((item, i) => {
          if (item instanceof Module) out.push([`${key}.${i}`, item]);
        });
      }
    }
    return out;
  }

  /** Every module in the tree (this first), with dotted names ("" for this). */
  namedModules(prefix = ""): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.namedChildren()) {
      out.push(...child.namedModules(prefix === "" ? name : `${prefix}.${name}`));
    }
    return out;
  }

  /** Own tensor fields: [name, tensor, isParameter]. */
  #ownTensors(): [string, Tensor][] {
    return Object.entries(this).filter((entry): entry is [string, Tensor] => entry[1] instanceof Tensor);
  }

  /** Trainable parameters with dotted names; a tensor shared by two modules appears once. */
  namedParameters(): [string, Tensor][] {
    const seen = new Set<Tensor>();
    const out: [string, Tensor][] = [];
    for (const [prefix, module] of this.namedModules()) {
      for (const [name, t] of module.#ownTensors()) {
        if (!parameters.has(t) || seen.has(t)) continue;
        seen.add(t);
        out.push([prefix === "" ? name : `${prefix}.${name}`, t]);
      }
    }
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Parameters and buffers by dotted name (the checkpoint contents). */
  stateDict(): StateDict {
    const out: StateDict = new Map();
    const seen = new Set<Tensor>();
    for (const [prefix, module] of this.namedModules()) {
      for (const [name, t] of module.#ownTensors()) {
        if (seen.has(t)) continue;
        seen.add(t);
        out.set(prefix === "" ? name : `${prefix}.${name}`, t);
      }
    }
    return out;
  }

  /**
   * Copies values into this module's tensors (in place, so optimizers holding them stay valid).
   * Strict (default): throws one StateDictError listing every missing, unexpected and mis-shaped
   * key. Not strict: loads what matches and returns the report.
   */
  loadStateDict(source: ReadonlyMap<string, { shape: readonly number[]; data: ArrayLike<number> }>, options: { strict?: boolean; source?: string } = {}): LoadReport {
    const own = this.stateDict();
    const report: LoadReport = { missing: [], unexpected: [], mismatched: [] };
    for (const key of own.keys()) if (!source.has(key)) report.missing.push(key);
    for (const [key, value] of source) {
      const target = own.get(key);
      if (target === undefined) report.unexpected.push(key);
      else if (!shapesEqual(target.shape, value.shape)) {
        report.mismatched.push(`${key}: checkpoint ${formatShape(value.shape)}, model ${formatShape(target.shape)}`);
      }
    }
    const strict = options.strict ?? true;
    const problems = report.missing.length + report.unexpected.length + report.mismatched.length;
    if (strict && problems > 0) {
      const parts: string[] = [];
      const list = (xs: string[]): string => xs.slice(0, 20).join(", ") + (xs.length > 20 ? `, ... (${xs.length - 20} more)` : "");
      if (report.missing.length) parts.push(`missing ${report.missing.length}: ${list(report.missing)}`);
      if (report.unexpected.length) parts.push(`unexpected ${report.unexpected.length}: ${list(report.unexpected)}`);
      if (report.mismatched.length) parts.push(`mis-shaped ${report.mismatched.length}: ${list(report.mismatched)}`);
      throw new StateDictError(
        `state dict${options.source ? ` from ${options.source}` : ""} does not match the model: ${parts.join("; ")}. ` +
          `Check that the checkpoint was saved from a model with the same config.`,
        report,
      );
    }
    noGrad(() => {
      for (const [key, value] of source) {
        const target = own.get(key);
        if (target !== undefined && shapesEqual(target.shape, value.shape)) target.data.set(value.data);
      }
    });
    return report;
  }

  /** Sets training mode on every module of the tree. */
  train(flag = true): this {
    for (const [, m] of this.namedModules()) m.training = flag;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Turns gradients off (or on) for every parameter, e.g. a frozen teacher. */
  requiresGrad(flag: boolean): this {
    for (const p of this.parameters()) p.requiresGrad = flag;
    return this;
  }

  /** Total number of parameter elements. */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }
}

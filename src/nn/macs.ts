/**
 * @file Multiply-accumulate accounting. Every layer that does real arithmetic reports its MACs for
 * one image through `countMacs`, next to its forward, so the count always follows the code that
 * runs. Counted: convolutions (OH*OW*O*C*KH*KW), linear layers (rows*in*out) and both attention
 * matmuls (heads*Lq*Lk*headDim each, with the real query and key lengths). Not counted:
 * normalisation, activations, additions, resampling (memory-bound, a few percent at most).
 */

export type MacKind = "conv" | "linear" | "attention";

export interface MacEntry {
  /** Dotted module path, diffusers naming (attention matmuls end in .qk and .av). */
  name: string;
  kind: MacKind;
  macs: number;
}

export class MacCounter {
  readonly entries: MacEntry[] = [];

  add(name: string, kind: MacKind, macs: number): void {
    this.entries.push({ name, kind, macs });
  }

  total(): number {
    return this.entries.reduce((s, e) => s + e.macs, 0);
  }

  /** MACs of every entry under a module path (the path itself or its descendants). */
  under(prefix: string): number {
    return this.entries.filter((e) => e.name === prefix || e.name.startsWith(prefix + ".")).reduce((s, e) => s + e.macs, 0);
  }
}

/** Joins a prefix and a child name with a dot (no dot for an empty prefix). */
export function joinName(prefix: string, name: string): string {
  return prefix === "" ? name : `${prefix}.${name}`;
}

/**
 * @file Loads the native kernel addon (built by node-gyp into build/Release at install time). This is
 * the only file that touches the .node binary. Returns null when the addon is missing or fails to
 * load, so the caller can fall back to the reference kernels and say so.
 */
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Kernels } from "./types.js";

/** Extra entry points of the addon that are not part of the shared kernel contract. */
export interface NativeExtras {
  forceIsa(name: string): boolean;
  measurePeakGflops(): number;
}

export type NativeKernels = Kernels & NativeExtras;

/** Walks up from this file to the package root (the folder holding package.json). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error("alter: cannot locate package.json above " + dir);
    dir = parent;
  }
  return dir;
}

export interface NativeLoadResult {
  kernels: NativeKernels | null;
  /** Why loading failed (null on success). */
  error: string | null;
}

export function loadNativeKernels(): NativeLoadResult {
  const path = join(packageRoot(), "build", "Release", "alter_native.node");
  if (!existsSync(path)) return { kernels: null, error: `${path} does not exist` };
  try {
    const require = createRequire(import.meta.url);
    const addon = require(path) as Omit<NativeKernels, "name">;
    return { kernels: { ...addon, name: "native" } as NativeKernels, error: null };
  } catch (err) {
    return { kernels: null, error: (err as Error).message };
  }
}

/**
 * @file Chooses the kernel implementation the engine runs on: the native addon when it loaded, else
 * the TypeScript reference, announced once on stderr. `ALTER_KERNELS=reference` forces the reference
 * (tests use it to cross-check); `ALTER_NUM_THREADS` sets the native thread count.
 */
import { loadNativeKernels, type NativeKernels } from "./native.js";
import { referenceKernels } from "./reference.js";
import type { Kernels } from "./types.js";

export type { Kernels } from "./types.js";

const nativeLoad = loadNativeKernels();

/** The native kernels, or null with the reason in `nativeLoadError`. */
export const nativeKernels: NativeKernels | null = nativeLoad.kernels;
export const nativeLoadError: string | null = nativeLoad.error;

function choose(): Kernels {
  const forced = process.env.ALTER_KERNELS;
  if (forced === "reference") return referenceKernels;
  if (forced !== undefined && forced !== "native") {
    throw new Error(`ALTER_KERNELS=${forced} is not valid: use "native" or "reference"`);
  }
  if (nativeKernels !== null) return nativeKernels;
  process.stderr.write(
    `alter: native kernels unavailable (${nativeLoadError}); running on the TypeScript reference ` +
      `kernels, which are much slower. Fix: run \`node scripts/build-native.mjs\`.\n`,
  );
  return referenceKernels;
}

/** The kernels every op runs on. */
export const kernels: Kernels = choose();
export { referenceKernels };

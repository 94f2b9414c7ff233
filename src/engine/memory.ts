/**
 * @file Who owns tensor memory. JavaScript has no destructors and V8 collects large typed arrays
 * late, so a training loop that relies on the garbage collector alone grows to gigabytes before
 * memory comes back. The engine therefore releases buffers deterministically:
 *
 *  - every tensor's data lives in a `Storage`, reference-counted by the tensors that view it;
 *  - `scope(fn)` records every tensor created while `fn` runs and disposes all of them when it
 *    returns, except the value it returns and anything passed to `keep()`;
 *  - a disposed storage returns its buffer to a size-keyed pool that the next allocation of the
 *    same length reuses, so a steady training loop stops allocating after its first step.
 *
 * Reading a disposed tensor throws, so a mistake in ownership is an error, never a silent reuse.
 * The garbage collector still frees anything never disposed (tensors made outside any scope).
 */

export type Buffer = Float32Array | Int32Array;

const pool = new Map<number, Float32Array[]>();
let pooledBytes = 0;
/**
 * The pool keeps at most this many bytes of free buffers (beyond that they go to the GC). It must
 * hold one training step's activations, or every step pays for fresh, page-faulting allocations.
 * ALTER_POOL_MB overrides the default of 6 GiB.
 */
const MAX_POOLED_BYTES = Number(process.env.ALTER_POOL_MB ?? 6144) * (1 << 20);

/**
 * Buffers the pool handed out. Only these return to it: a buffer made elsewhere (a loaded batch, a
 * wrapped array) of a length nothing allocates would otherwise pile up in the pool, one per step,
 * an unbounded leak (measured: +17 MiB per 1,000 steps of a tiny prune before this check).
 */
const pooled = new WeakSet<Float32Array>();

/** A Float32Array of length n, reused from the pool when one is free. Contents are undefined. */
export function allocFloat32(n: number): Float32Array {
  const free = pool.get(n);
  if (free !== undefined && free.length > 0) {
    const buffer = free.pop()!;
    pooledBytes -= buffer.byteLength;
    return buffer;
  }
  const buffer = new Float32Array(n);
  pooled.add(buffer);
  return buffer;
}

function release(buffer: Buffer): void {
  if (!(buffer instanceof Float32Array) || !pooled.has(buffer)) return;
  if (pooledBytes + buffer.byteLength > MAX_POOLED_BYTES) return;
  let free = pool.get(buffer.length);
  if (free === undefined) {
    free = [];
    pool.set(buffer.length, free);
  }
  free.push(buffer);
  pooledBytes += buffer.byteLength;
}

/** Drops every pooled buffer (for memory measurements and tests). */
export function clearPool(): void {
  pool.clear();
  pooledBytes = 0;
}

let liveStorages = 0;

/** Number of storages created and not yet disposed: tests check it returns to a baseline. */
export function liveBuffers(): number {
  return liveStorages;
}

let metaDepth = 0;

/**
 * Runs fn with "meta" allocation: tensors created by the factories inside have a shape but no
 * memory. Used to build a model from its config alone (for MAC counts, or to inspect a model as
 * large as Stable Diffusion without allocating its weights). Reading a meta tensor's data throws.
 */
export function withMetaTensors<T>(fn: () => T): T {
  metaDepth++;
  try {
    return fn();
  } finally {
    metaDepth--;
  }
}

export function isMetaAllocation(): boolean {
  return metaDepth > 0;
}

/** The memory behind one or more tensors (a reshape shares its input's storage). */
export class Storage {
  #data: Buffer | null;
  #refs = 0;
  /** A shape-only storage (see withMetaTensors). */
  readonly meta: boolean;

  constructor(data: Buffer, meta = false) {
    this.#data = data;
    this.meta = meta;
    liveStorages++;
  }

  /** A storage with no memory, for a tensor that only carries a shape. */
  static meta(): Storage {
    return new Storage(new Float32Array(0), true);
  }

  get data(): Buffer {
    if (this.meta) {
      throw new Error("alter: this tensor was built with withMetaTensors() and has a shape but no data; load weights into a normally built model instead");
    }
    if (this.#data === null) {
      throw new Error(
        "alter: a tensor was used after it was disposed (it was created inside a scope() that has " +
          "ended, or dispose() was called). Return it from the scope or wrap it in keep().",
      );
    }
    return this.#data;
  }

  get disposed(): boolean {
    return this.#data === null;
  }

  retain(): void {
    this.#refs++;
  }

  /** Called by each tensor viewing this storage when it is disposed. */
  releaseRef(): void {
    this.#refs--;
    if (this.#refs <= 0 && this.#data !== null) {
      release(this.#data);
      this.#data = null;
      liveStorages--;
    }
  }
}

/** Anything a scope can dispose (Tensor implements it). */
export interface Disposable {
  dispose(): void;
}

const scopeStack: Disposable[][] = [];
const kept = new WeakSet<Disposable>();

/** Registers a new tensor with the innermost open scope (called by the Tensor constructor). */
export function track(item: Disposable): void {
  const top = scopeStack[scopeStack.length - 1];
  if (top !== undefined) top.push(item);
}

/** Excludes a tensor (or several) from disposal by the scopes that are open now. */
export function keep<T extends Disposable | Disposable[]>(items: T): T {
  const list = Array.isArray(items) ? items : [items];
  for (const item of list) kept.add(item);
  return items;
}

/** Allows a kept tensor to be disposed by scopes again. */
export function unkeep(item: Disposable): void {
  kept.delete(item);
}

function collectReturned(value: unknown, into: Set<Disposable>): void {
  if (value === null || typeof value !== "object") return;
  if (typeof (value as Disposable).dispose === "function") {
    into.add(value as Disposable);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collectReturned(v, into);
  } else if (value instanceof Map) {
    for (const v of value.values()) collectReturned(v, into);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectReturned(v, into);
  }
}

/**
 * Runs fn and disposes every tensor created during it, except those it returns (directly, in an
 * array, a Map or a plain object) and those kept with keep(). Returned tensors move to the
 * enclosing scope, so nested scopes compose.
 */
export function scope<T>(fn: () => T): T {
  const created: Disposable[] = [];
  scopeStack.push(created);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    scopeStack.pop();
    for (const item of created) if (!kept.has(item)) item.dispose();
    throw err;
  }
  scopeStack.pop();
  const survivors = new Set<Disposable>();
  collectReturned(result, survivors);
  for (const item of created) {
    if (survivors.has(item)) track(item);
    else if (!kept.has(item)) item.dispose();
  }
  return result;
}

/**
 * @file Reverse-mode automatic differentiation. Each op that has a differentiable input records a
 * `GradNode` on its output: the inputs and a closure that maps the output's gradient to the inputs'
 * gradients (written next to the op's forward, in ops/). `backward()` is a topological sort
 * followed by one reverse walk, both iterative so deep graphs do not overflow the JS stack.
 */
import { keep, unkeep } from "./memory.js";
import type { Tensor } from "./tensor.js";

export interface GradNode {
  /** Op name, for error messages and graph dumps. */
  readonly name: string;
  readonly inputs: readonly Tensor[];
  /** Gradients for each input (null where an input needs none). May return `grad` itself. */
  backward(grad: Tensor): (Tensor | null)[];
}

let gradEnabled = true;

/** Whether ops currently record gradient nodes. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording gradients (inference, EMA updates, optimizer steps). */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/**
 * Attaches a gradient node to `out` when recording is on and some input requires a gradient.
 * Returns `out` so ops can end with `return record(out, [a, b], "mul", backwardFn)`.
 */
export function record(
  out: Tensor,
  inputs: readonly Tensor[],
  name: string,
  backward: (grad: Tensor) => (Tensor | null)[],
): Tensor {
  if (!gradEnabled || !inputs.some((t) => t.requiresGrad)) return out;
  out.requiresGrad = true;
  out.node = { name, inputs, backward };
  return out;
}

/** Tensors reachable from root through gradient nodes, inputs before the tensors that use them. */
function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: { tensor: Tensor; expanded: boolean }[] = [{ tensor: root, expanded: false }];
  while (stack.length > 0) {
    const top = stack.pop()!;
    if (top.expanded) {
      order.push(top.tensor);
      continue;
    }
    if (visited.has(top.tensor)) continue;
    visited.add(top.tensor);
    stack.push({ tensor: top.tensor, expanded: true });
    for (const input of top.tensor.node?.inputs ?? []) {
      if (input.requiresGrad && !visited.has(input)) stack.push({ tensor: input, expanded: false });
    }
  }
  return order;
}

/**
 * Accumulates d(root)/d(leaf) into `leaf.grad` for every leaf that requires a gradient. Leaf
 * gradients are kept (they survive the enclosing scope); intermediate gradients are disposed as
 * soon as they have been propagated, and the graph is released unless `retainGraph`.
 */
export function runBackward(root: Tensor, seed: Tensor, retainGraph = false): void {
  const order = topologicalOrder(root);
  const grads = new Map<Tensor, Tensor>([[root, seed]]);
  const owned = new Set<Tensor>();
  noGrad(() => {
    for (let i = order.length - 1; i >= 0; i--) {
      const tensor = order[i];
      const grad = grads.get(tensor);
      const node = tensor.node;
      if (grad === undefined || node === null) continue;
      grads.delete(tensor);
      const inputGrads = node.backward(grad);
      node.inputs.forEach((input, k) => {
        let g = inputGrads[k];
        if (g === null || g === undefined || !input.requiresGrad) return;
        if (g.shape.length !== input.shape.length || g.shape.some((d, j) => d !== input.shape[j])) {
          throw new Error(
            `alter internal error: backward of ${node.name} returned a gradient of shape ` +
              `[${g.shape}] for an input of shape [${input.shape}]`,
          );
        }
        // A backward may pass its incoming gradient through unchanged (add does); copy before
        // storing so no two gradient slots share memory.
        if (g === grad || g.sharesStorageWith(grad) || owned.has(g)) g = g.clone();
        owned.add(g);
        accumulate(input, g, grads);
      });
      if (grad !== seed) grad.dispose();
      if (!retainGraph) tensor.node = null;
    }
  });
}

function accumulate(input: Tensor, g: Tensor, grads: Map<Tensor, Tensor>): void {
  if (input.node !== null) {
    const existing = grads.get(input);
    if (existing === undefined) grads.set(input, g);
    else {
      existing.addInPlace(g);
      g.dispose();
    }
    return;
  }
  if (input.grad === null) {
    input.grad = keep(g);
  } else {
    input.grad.addInPlace(g);
    g.dispose();
  }
}

/** Releases a leaf's gradient (used by optimizers' zeroGrad). */
export function clearGrad(t: Tensor): void {
  if (t.grad !== null) {
    unkeep(t.grad);
    t.grad.dispose();
    t.grad = null;
  }
}

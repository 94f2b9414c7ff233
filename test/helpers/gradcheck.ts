/**
 * Finite-difference gradient checking. The loss is L = sum(f(inputs) * w) for a fixed random w, so
 * every output element matters; each checked input element is compared with the central
 * difference (L(x+h) - L(x-h)) / 2h, computed in float64 from float32 forwards. Tolerances are
 * relative to the largest gradient magnitude of that input, which is what float32 rounding allows.
 */
import assert from "node:assert/strict";
import { Generator } from "../../src/engine/rng.js";
import { Tensor } from "../../src/engine/tensor.js";
import { noGrad } from "../../src/engine/autograd.js";

export interface GradCheckOptions {
  h?: number;
  tolerance?: number;
  /** At most this many elements of each input are perturbed (chosen at random). */
  samples?: number;
  seed?: number;
}

function lossOf(out: Tensor, w: Float32Array): number {
  let total = 0;
  const data = out.f32;
  for (let i = 0; i < data.length; i++) total += data[i] * w[i];
  return total;
}

export function gradCheck(name: string, inputs: Tensor[], fn: (...xs: Tensor[]) => Tensor, options: GradCheckOptions = {}): void {
  const h = options.h ?? 1e-2;
  const tolerance = options.tolerance ?? 2e-2;
  const samples = options.samples ?? 24;
  const gen = new Generator(options.seed ?? 1234);
  for (const x of inputs) {
    x.requiresGrad = true;
    x.grad = null;
  }
  const out = fn(...inputs);
  const w = gen.normal(out.size);
  const wTensor = Tensor.wrap(Float32Array.from(w), out.shape);
  out.mul(wTensor).sum().backward();

  inputs.forEach((x, k) => {
    assert.ok(x.grad !== null, `${name}: input ${k} received no gradient`);
    const analytic = x.grad!.f32;
    let scale = 1e-3;
    for (const v of analytic) scale = Math.max(scale, Math.abs(v));
    const picks = x.size <= samples ? [...Array(x.size).keys()] : Array.from(gen.randint(samples, 0, x.size));
    for (const i of picks) {
      const data = x.f32;
      const original = data[i];
      data[i] = original + h;
      const plus = noGrad(() => lossOf(fn(...inputs), w));
      data[i] = original - h;
      const minus = noGrad(() => lossOf(fn(...inputs), w));
      data[i] = original;
      const numeric = (plus - minus) / (2 * h);
      const error = Math.abs(numeric - analytic[i]) / scale;
      assert.ok(
        error <= tolerance,
        `${name}: input ${k} element ${i}: analytic ${analytic[i]}, numeric ${numeric} (relative error ${error.toExponential(2)} > ${tolerance})`,
      );
    }
  });
}

/** A float32 tensor of normal samples (deterministic per seed). */
export function randn(shape: number[], seed: number, std = 1): Tensor {
  return Tensor.randn(shape, new Generator(seed), std);
}

/** Asserts two arrays agree elementwise to atol + rtol*|expected|. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1e-5, atol = 1e-6, label = "values"): void {
  assert.equal(actual.length, expected.length, `${label}: length ${actual.length} vs ${expected.length}`);
  let worst = 0, worstIndex = -1;
  for (let i = 0; i < actual.length; i++) {
    const excess = Math.abs(actual[i] - expected[i]) - (atol + rtol * Math.abs(expected[i]));
    if (!(excess <= worst) && !(Number.isNaN(actual[i]) && Number.isNaN(expected[i]))) {
      worst = Number.isNaN(excess) ? Infinity : excess;
      worstIndex = i;
    }
  }
  assert.ok(worstIndex < 0, `${label}: element ${worstIndex} is ${actual[worstIndex]}, expected ${expected[worstIndex]} (rtol ${rtol}, atol ${atol})`);
}

/**
 * @file Fitting the frozen plan to the MAC budget (ours; not in the paper or the official code).
 *
 * The ratio loss holds the hypernetwork's *noisy* masks at the budget, but the plan that freezes at
 * T_end is the deterministic one (logit + offset >= 0), and with the mask logits crowded at the
 * threshold the two differ by many layers: the 20,000-step table runs froze at 49.6 % for a 55 %
 * budget and 38.6 % for 50 %, and the first 605 steps of the 0.55 run's settings froze at 54.1 % on
 * one kernel thread instead of two (docs/alter.md section 5). Annealing the noise narrows the gap but
 * does not close it, and running the last hypernetwork steps without noise makes the plan swing
 * further (the router flips).
 *
 * So at T_end we switch the mask entries the hypernetwork is least sure about: the ones whose logit
 * is nearest the threshold, among the experts the router uses, in that order, each only if it brings
 * the kept fraction of prunable MACs closer to the target, until the fraction crosses the target.
 * The result is the nearest the masks get to the budget along the hypernetwork's own ranking; the
 * UNet is then fine-tuned with it for the rest of the run, as with any frozen plan.
 */

export interface BudgetFit {
  /** The fitted masks [E * L], row-major (a new array). */
  masks: Float32Array;
  /** Mask entries switched (on when under the budget, off when over). */
  switched: number;
  /** Kept fraction of the prunable MACs before and after. */
  keptBefore: number;
  keptAfter: number;
}

/**
 * masks [E * L] binary, margins [E * L] the deterministic pre-activations (logit + offset: >= 0 is
 * kept), router [T] the expert of every timestep, costs [L] each prunable layer's MACs, target the
 * kept fraction of prunable MACs to reach (the ratio loss's target).
 */
export function fitMasksToBudget(
  masks: Float32Array, margins: Float32Array, router: ArrayLike<number>, costs: ArrayLike<number>, target: number,
): BudgetFit {
  const L = costs.length, E = masks.length / L;
  if (!Number.isInteger(E) || margins.length !== masks.length) throw new Error(`fitMasksToBudget: masks (${masks.length}) and margins (${margins.length}) must both hold experts x ${L} layers`);
  const usage = new Float64Array(E);
  for (let t = 0; t < router.length; t++) usage[router[t]] += 1 / router.length;
  let total = 0;
  for (let l = 0; l < L; l++) total += costs[l];
  /** What switching entry i moves the kept fraction by (0 for experts the router never uses). */
  const weight = (i: number): number => (usage[Math.floor(i / L)] * costs[i % L]) / total;

  const out = Float32Array.from(masks);
  let kept = 0;
  for (let i = 0; i < out.length; i++) kept += out[i] * weight(i);
  const keptBefore = kept;
  const direction = kept < target ? 1 : -1;
  const candidates: number[] = [];
  for (let i = 0; i < out.length; i++) if (weight(i) > 0 && out[i] === (direction > 0 ? 0 : 1)) candidates.push(i);
  candidates.sort((a, b) => Math.abs(margins[a]) - Math.abs(margins[b]) || a - b);

  let switched = 0;
  for (const i of candidates) {
    if (direction * (kept - target) >= 0) break; // reached or crossed the target
    const next = kept + direction * weight(i);
    if (Math.abs(next - target) >= Math.abs(kept - target)) continue; // this layer overshoots by more than it helps
    out[i] = direction > 0 ? 1 : 0;
    kept = next;
    switched++;
  }
  return { masks: out, switched, keptBefore, keptAfter: kept };
}

/**
 * `node --import tsx scripts/plan-nesting.ts PARENT_DIR CHILD_DIR`
 *
 * How well does a plan pruned in stages (`alter prune --student PARENT_DIR`) nest inside its parent's? At every
 * training timestep, each plan's router picks one expert mask; comparing the two masks layer by layer gives
 *  - revived: layers the child keeps that the parent skipped there (the student must learn to use them again at
 *    that timestep),
 *  - dropped: layers the parent kept that the child skips (what the child has to do without).
 * Both are printed as shares of the prunable MACs per step, averaged over timesteps. Perfect nesting revives
 * nothing and drops exactly the difference between the kept shares. Reads only the two alter_plan.json files.
 */
import { join } from "node:path";
import { maskAt, PlanError, readPlan, type AlterPlan } from "../src/alter/plan.js";

const [parentDir, childDir] = process.argv.slice(2);
if (parentDir === undefined || childDir === undefined) {
  process.stderr.write("usage: node --import tsx scripts/plan-nesting.ts PARENT_DIR CHILD_DIR (two model folders with alter_plan.json)\n");
  process.exit(2);
}
function planOf(dir: string): AlterPlan {
  try {
    return readPlan(join(dir, "alter_plan.json"));
  } catch (err) {
    if (!(err instanceof PlanError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
}
const parent = planOf(parentDir), child = planOf(childDir);
const sameLayers = parent.layers.length === child.layers.length && parent.layers.every((l, i) => l.name === child.layers[i]!.name);
if (!sameLayers || parent.num_train_timesteps !== child.num_train_timesteps) {
  process.stderr.write(`${parentDir} and ${childDir}: the plans list different layers or timesteps; they are not plans of one UNet\n`);
  process.exit(2);
}

const macs = parent.layers.map((l) => l.macs);
const prunableMacs = macs.reduce((a, b) => a + b, 0);
const T = parent.num_train_timesteps;
let keptParent = 0, keptChild = 0, revived = 0, dropped = 0;
for (let t = 0; t < T; t++) {
  const p = maskAt(parent, t), c = maskAt(child, t);
  macs.forEach((m, l) => {
    keptParent += p[l]! * m;
    keptChild += c[l]! * m;
    if (c[l] && !p[l]) revived += m;
    if (p[l] && !c[l]) dropped += m;
  });
}
const share = (x: number) => (x / T / prunableMacs).toFixed(3);
const routing = (plan: AlterPlan) => plan.experts.map((_, e) => plan.router.filter((r) => r === e).length).join(" / ");
console.log(`prunable MACs kept per step: parent ${share(keptParent)}, child ${share(keptChild)}`);
console.log(`revived (child keeps, parent skipped): ${share(revived)}`);
console.log(`dropped (parent kept, child skips):    ${share(dropped)}   (perfect nesting: ${share(Math.max(0, keptParent - keptChild))})`);
console.log(`routing (timesteps per expert): parent ${routing(parent)}, child ${routing(child)}`);

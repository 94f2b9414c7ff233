/**
 * `npm run fuzz -- [--minutes M] [--target NAME]`: runs the parser fuzz properties of
 * test/fuzz/properties.ts round-robin with fresh seeds until the time is up (default 10 minutes),
 * then prints how many inputs each target saw. A failure prints the seed and the shrunk
 * counterexample, saves them under test/fuzz/crashes/ (turn it into a test), and exits 1.
 */
import fc from "fast-check";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { targets } from "../test/fuzz/properties.js";

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const minutes = Number(option("--minutes") ?? 10);
const only = option("--target");
const chosen = targets.filter((t) => only === undefined || t.name === only);
if (!(minutes > 0) || chosen.length === 0) {
  console.error(`usage: npm run fuzz -- [--minutes M > 0] [--target ${targets.map((t) => t.name).join("|")}]`);
  process.exit(2);
}

const BATCH = 500;
const deadline = Date.now() + minutes * 60_000;
const counts = new Map(chosen.map((t) => [t.name, 0]));
let round = 0;
while (Date.now() < deadline) {
  for (const target of chosen) {
    const seed = (Date.now() ^ (round * 7919)) >>> 0;
    const result = fc.check(target.property, { numRuns: BATCH, seed });
    counts.set(target.name, counts.get(target.name)! + result.numRuns);
    if (result.failed) {
      const dir = join(import.meta.dirname, "..", "test", "fuzz", "crashes");
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `${target.name}-${seed}.json`);
      writeFileSync(file, JSON.stringify({ target: target.name, seed, counterexample: result.counterexample, error: String(result.errorInstance) }, null, 2));
      console.error(`FAIL ${target.name} (seed ${seed}): ${String(result.errorInstance)}\ncounterexample saved to ${file}`);
      process.exit(1);
    }
    if (Date.now() >= deadline) break;
  }
  round++;
}
const total = [...counts.values()].reduce((a, b) => a + b, 0);
console.log(`fuzzed ${minutes} min, ${total} inputs, no failure: ${[...counts].map(([n, c]) => `${n} ${c}`).join(", ")}`);

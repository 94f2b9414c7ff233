/**
 * The short fuzzing run CI does on every push: each parser property (see properties.ts) on a few
 * hundred generated inputs with a fixed seed. `npm run fuzz` runs the same properties for minutes.
 */
import { describe, test } from "node:test";
import fc from "fast-check";
import { targets } from "./properties.js";

const RUNS = Number(process.env.ALTER_FUZZ_RUNS ?? 300);

describe("fuzzing the parsers of untrusted files", () => {
  for (const target of targets) {
    test(`${target.name}: refused with its own error or accepted and usable (${RUNS} inputs)`, () => {
      fc.assert(target.property, { numRuns: RUNS, seed: 20261126 });
    });
  }
});

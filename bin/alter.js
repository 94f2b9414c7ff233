#!/usr/bin/env node
// The `alter` command: runs the compiled CLI (built into dist/ by `npm ci` / `npm run build`).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const entry = fileURLToPath(new URL("../dist/src/cli/main.js", import.meta.url));
if (!existsSync(entry)) {
  console.error("alter: the CLI is not built yet (dist/ is missing). Run `npm run build` in the alter folder.");
  process.exit(1);
}
const { main } = await import(entry);
process.exitCode = await main(process.argv.slice(2));

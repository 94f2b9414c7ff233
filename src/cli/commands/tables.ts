/**
 * @file `alter tables`: the paper's result tables (Table 1/2, 3, 10, Fig. 4c) from one or more
 * eval.json files written by `alter eval --out`, as Markdown and JSON, each with the paper's claim.
 */
import type { Command } from "commander";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { EvalRow } from "../../eval/evaluate.js";
import { paperTables, tablesJson, tablesMarkdown } from "../../eval/tables.js";
import { writeFileAtomic, writeJsonAtomic } from "../../util/atomic.js";
import { existingFile } from "../options.js";
import { UserError } from "../errors.js";

function readRows(path: string): EvalRow[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(existingFile("--eval", path), "utf8"));
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${path}: not valid JSON (${(err as Error).message}); pass an eval.json written by alter eval --out`);
  }
  const rows = (parsed as { rows?: unknown })?.rows;
  if (!Array.isArray(rows)) throw new UserError(`${path}: no "rows" list; pass an eval.json written by alter eval --out`);
  return rows as EvalRow[];
}

export function registerTables(program: Command): void {
  program
    .command("tables")
    .description("the paper's tables (dense vs ALTER, ablation, budget sweep, number of experts) from alter eval results")
    .requiredOption("--eval <files...>", "eval.json files from alter eval --out (rows are merged)")
    .option("--out <dir>", "write tables.md and tables.json here (default: print Markdown)")
    .action((o: { eval: string[]; out?: string }) => {
      const rows = o.eval.flatMap(readRows);
      const tables = paperTables(rows);
      const markdown = tablesMarkdown(tables);
      if (o.out === undefined) {
        process.stdout.write(markdown);
        return;
      }
      writeFileAtomic(join(o.out, "tables.md"), markdown);
      writeJsonAtomic(join(o.out, "tables.json"), { sources: o.eval, ...tablesJson(tables) });
      process.stderr.write(`alter: wrote ${join(o.out, "tables.md")} and tables.json (${tables.length} tables from ${rows.length} rows)\n`);
    });
}

/**
 * @file The `alter` command line: a table of subcommands, each in commands/. Errors a user can fix
 * (bad flags, missing files, invalid configs) are printed as one line without a stack trace and exit
 * with status 2; anything else is a bug and prints its stack (status 1).
 */
import { Command, CommanderError } from "commander";
import { registerBench } from "./commands/bench.js";
import { registerTrainTeacher } from "./commands/train-teacher.js";
import { registerSample } from "./commands/sample.js";
import { registerMacs } from "./commands/macs.js";
import { registerPrune } from "./commands/prune.js";
import { registerCalibrate } from "./commands/calibrate.js";
import { registerEval } from "./commands/eval.js";
import { registerReport } from "./commands/report.js";
import { registerTables } from "./commands/tables.js";
import { registerTrainClassifier } from "./commands/train-classifier.js";
import { UserError } from "./errors.js";

export function buildProgram(): Command {
  const program = new Command("alter")
    .description(
      "ALTER for diffusion UNets: layer-pruned temporal experts, on a native CPU tensor engine.\n" +
        "Run `alter <command> --help` for the options of a command.",
    )
    .version("0.1.0")
    // Parse errors as one line like every other user error: what is wrong, the suggestion if
    // commander has one, and where the usage is. Subcommands inherit this output configuration.
    .configureOutput({ outputError: (message, write) => write(oneLineParseError(message)) })
    .exitOverride();
  registerTrainTeacher(program);
  registerSample(program);
  registerPrune(program);
  registerCalibrate(program);
  registerTrainClassifier(program);
  registerEval(program);
  registerTables(program);
  registerReport(program);
  registerMacs(program);
  registerBench(program);
  return program;
}

/** "error: unknown option '--stepz'\n(Did you mean --steps?)\n" -> "alter: unknown option '--stepz' (did you mean --steps?); run alter --help for usage\n" */
export function oneLineParseError(message: string): string {
  const text = message
    .replace(/^error: /, "")
    .replace(/\(Did you mean/g, "(did you mean")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .join(" ");
  return `alter: ${text}; run \`alter --help\` or \`alter <command> --help\` for usage\n`;
}

/**
 * Errors about the user's input (files, configs, flags, a diverged run): their messages already say
 * what is wrong and how to fix it, so they are printed as one line without a stack trace.
 */
const USER_FACING = new Set([
  "UserError", "ConfigError", "SchedulerError", "SafetensorsError", "StateDictError", "IdxError",
  "PngFolderError", "TrainingError", "PlanError", "ClassifierConfigError", "ReportError", "OutputError", "PruneError", "EvaluationError",
]);

function isUserFacing(err: unknown): err is Error {
  return err instanceof UserError || (err instanceof Error && USER_FACING.has(err.name));
}

/** Runs the CLI with the given arguments; resolves to the exit status. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    // A command may set a non-zero status without throwing (e.g. 130 after Ctrl-C).
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit "successfully"; parse errors were already printed by commander.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (isUserFacing(err)) {
      process.stderr.write(`alter: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, "/"));
if (invokedDirectly) {
  main(process.argv.slice(2)).then((code) => (process.exitCode = code));
}

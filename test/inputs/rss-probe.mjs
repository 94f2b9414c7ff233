// Preloaded into every `alter` run of the bad-input corpus (node --import): at exit, writes the
// process's peak resident memory (KiB) to $ALTER_RSS_FILE, so the runner can check that a malformed
// file never makes alter allocate more than the (small) file justifies.
import { writeFileSync } from "node:fs";

const target = process.env.ALTER_RSS_FILE;
if (target) process.on("exit", () => writeFileSync(target, String(process.resourceUsage().maxRSS)));

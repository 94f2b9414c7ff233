/**
 * @file JSON-lines training logs. Records are appended one per line; when a run resumes from a
 * checkpoint at step S, records after S (written after that checkpoint, before the crash) are
 * dropped first, so the log always continues the curve of the run it belongs to.
 */
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { describeWriteError, writeFileAtomic } from "./atomic.js";

export class JsonlLog {
  constructor(readonly path: string) {}

  append(record: Record<string, unknown>): void {
    try {
      appendFileSync(this.path, JSON.stringify(record) + "\n");
    } catch (err) {
      throw describeWriteError(err, this.path);
    }
  }

  /** Keeps only well-formed records with step <= `step` (call when resuming). */
  truncateAfter(step: number): void {
    if (!existsSync(this.path)) return;
    const kept = readFileSync(this.path, "utf8")
      .split("\n")
      .filter((line) => {
        if (!line.trim()) return false;
        try {
          const record = JSON.parse(line) as { step?: number };
          return typeof record.step !== "number" || record.step <= step;
        } catch {
          return false; // a line torn by a kill
        }
      });
    writeFileAtomic(this.path, kept.map((l) => l + "\n").join(""));
  }

  read(): Record<string, unknown>[] {
    if (!existsSync(this.path)) return [];
    return readFileSync(this.path, "utf8").split("\n").filter((l) => l.trim()).flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }
}

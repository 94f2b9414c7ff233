/**
 * @file Atomic file output: nothing alter writes is ever seen half-written. Data goes to a temporary
 * file in the same folder, is fsynced, and is renamed over the target (rename is atomic on POSIX
 * file systems); on any failure the temporary file is removed and the previous file is untouched.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { faults, sleepSync } from "./faults.js";

/** A file alter must write could not be written (disk full, read-only, no permission). */
export class OutputError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = "OutputError";
  }
}

const WRITE_PROBLEMS: Record<string, [string, string]> = {
  ENOSPC: ["no space left on the device", "free some space or write to another folder"],
  EDQUOT: ["the disk quota is exhausted", "free some space or write to another folder"],
  EROFS: ["the file system is read-only", "write to a writable folder"],
  EACCES: ["permission denied", "make the folder writable or write to another folder"],
  EPERM: ["operation not permitted", "make the folder writable or write to another folder"],
  ENOENT: ["the folder does not exist", "create the folder or check the path"],
  ENOTDIR: ["a parent of the path is a file, not a folder", "check the path"],
};

/** Turns an fs error while writing `path` into a one-line OutputError; other errors pass through. */
export function describeWriteError(err: unknown, path: string): unknown {
  const code = (err as NodeJS.ErrnoException)?.code;
  const known = code !== undefined ? WRITE_PROBLEMS[code] : undefined;
  if (known === undefined) return err;
  return new OutputError(`${path}: cannot write (${code}: ${known[0]}); ${known[1]}. Nothing was overwritten: the previous file, if any, is intact`, code!);
}

/** Writes every byte of `bytes` at the current position of fd. */
export function writeFully(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 30));
}

/**
 * Creates `path` atomically. `content` is the bytes, a string (UTF-8), or a function that writes the
 * file through the given file descriptor (for large outputs streamed in pieces). Missing parent
 * folders are created unless `createDirs` is false (then a missing folder is an error).
 */
export function writeFileAtomic(
  path: string,
  content: Uint8Array | string | ((fd: number) => void),
  options: { createDirs?: boolean } = {},
): void {
  const dir = dirname(path);
  const createDirs = options.createDirs ?? true;
  try {
    if (createDirs) mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw describeWriteError(err, path);
  }
  if (createDirs && !existsSync(dir)) {
    // Seen on a file system remounted read-only: the recursive mkdir reports no error.
    throw new OutputError(`${path}: cannot create the folder ${dir} (is the file system read-only or full?); write to a writable folder. Nothing was overwritten`, "EROFS");
  }
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  let fd: number | null = null;
  try {
    fd = openSync(tmp, "w");
    if (typeof content === "function") content(fd);
    else {
      const bytes = typeof content === "string" ? Buffer.from(content, "utf8") : content;
      if (faults.slowWriteMs > 0) {
        const half = bytes.length >> 1;
        writeFully(fd, bytes.subarray(0, half));
        sleepSync(faults.slowWriteMs);
        writeFully(fd, bytes.subarray(half));
      } else {
        writeFully(fd, bytes);
      }
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== null) {
      try {
        closeSync(fd);
      } catch {
        // already failing: keep the first error
      }
    }
    rmSync(tmp, { force: true });
    throw describeWriteError(err, path);
  }
}

/**
 * Removes temporary files that writeFileAtomic left in `dir` when its process was killed mid-write
 * (their names carry the writer's pid; files of live processes are kept). Call when resuming.
 */
export function removeStaleTemporaries(dir: string): number {
  let removed = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const m = /^\..+\.(\d+)\.[0-9a-f]{12}\.tmp$/.exec(name);
    if (m === null) continue;
    const pid = Number(m[1]);
    let alive = pid === process.pid;
    if (!alive) {
      try {
        process.kill(pid, 0);
        alive = true;
      } catch (e) {
        alive = (e as NodeJS.ErrnoException).code === "EPERM";
      }
    }
    if (!alive) {
      rmSync(join(dir, name), { force: true });
      removed++;
    }
  }
  return removed;
}

/** JSON with two-space indentation and a final newline, written atomically. */
export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

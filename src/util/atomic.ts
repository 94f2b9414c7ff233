/**
 * @file Atomic file output: nothing alter writes is ever seen half-written. Data goes to a temporary
 * file in the same folder, is fsynced, and is renamed over the target (rename is atomic on POSIX
 * file systems); on any failure the temporary file is removed and the previous file is untouched.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";

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
  if (options.createDirs ?? true) mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  let fd: number | null = null;
  try {
    fd = openSync(tmp, "w");
    if (typeof content === "function") content(fd);
    else writeFully(fd, typeof content === "string" ? Buffer.from(content, "utf8") : content);
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
    throw err;
  }
}

/** JSON with two-space indentation and a final newline, written atomically. */
export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

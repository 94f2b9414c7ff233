/**
 * @file Parsing and checking numeric and path flags, so every bad value is refused with a message
 * naming the flag, the value and what is allowed.
 */
import { existsSync, statSync } from "node:fs";
import { UserError } from "./errors.js";

export function intOption(flag: string, min = 1, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new UserError(`${flag} must be an integer between ${min} and ${max === Number.MAX_SAFE_INTEGER ? "∞" : max}, got "${value}"`);
    }
    return n;
  };
}

export function floatOption(flag: string, min = -Infinity, max = Infinity, exclusiveMin = false): (value: string) => number {
  return (value) => {
    const n = Number(value);
    const tooSmall = exclusiveMin ? n <= min : n < min;
    if (value.trim() === "" || !Number.isFinite(n) || tooSmall || n > max) {
      const range = `${exclusiveMin ? "(" : "["}${min}, ${max}]`;
      throw new UserError(`${flag} must be a number in ${range}, got "${value}"`);
    }
    return n;
  };
}

export function existingFile(flag: string, path: string): string {
  if (!existsSync(path)) throw new UserError(`${flag}: file "${path}" does not exist; check the path (relative paths start at ${process.cwd()})`);
  if (!statSync(path).isFile()) throw new UserError(`${flag}: "${path}" is a folder, not a file; pass the path of the file`);
  return path;
}

export function existingDir(flag: string, path: string): string {
  if (!existsSync(path)) throw new UserError(`${flag}: folder "${path}" does not exist; check the path (relative paths start at ${process.cwd()})`);
  if (!statSync(path).isDirectory()) throw new UserError(`${flag}: "${path}" is a file, not a folder; pass the folder that holds it`);
  return path;
}

/** A parser for a flag that takes one of a few words. */
export function choice<T extends string>(flag: string, allowed: readonly T[]): (v: string) => T {
  return (v) => {
    if (!allowed.includes(v as T)) throw new UserError(`${flag} must be one of ${allowed.join(", ")}, got "${v}"`);
    return v as T;
  };
}

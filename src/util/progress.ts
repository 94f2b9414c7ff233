/**
 * @file A terminal progress bar for long runs: one line on stderr redrawn in place on a TTY
 * (step, percentage, the caller's fields such as loss, items/s, ETA), and on a non-TTY (CI logs,
 * files) a plain line at most every `logEverySeconds`, so logs stay readable.
 */

export interface ProgressOptions {
  total: number;
  /** Starting count (a resumed run). */
  start?: number;
  label?: string;
  /** Unit for the rate, e.g. "img". */
  unit?: string;
  /** Items per tick (e.g. the batch size) for the rate. */
  itemsPerTick?: number;
  stream?: NodeJS.WriteStream;
  logEverySeconds?: number;
  /** Disable all output (library use, tests). */
  silent?: boolean;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const two = (n: number): string => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${two(m)}:${two(sec)}` : `${two(m)}:${two(sec)}`;
}

export class ProgressBar {
  #count: number;
  readonly #startCount: number;
  readonly #startTime = Date.now();
  #lastLog = 0;
  #fields = "";
  readonly #options: Required<Omit<ProgressOptions, "start" | "stream">> & { stream: NodeJS.WriteStream };

  constructor(options: ProgressOptions) {
    this.#count = options.start ?? 0;
    this.#startCount = this.#count;
    this.#options = {
      total: options.total,
      label: options.label ?? "",
      unit: options.unit ?? "it",
      itemsPerTick: options.itemsPerTick ?? 1,
      stream: options.stream ?? process.stderr,
      logEverySeconds: options.logEverySeconds ?? 30,
      silent: options.silent ?? false,
    };
  }

  /** Advances by n and shows the given fields (e.g. {loss: "0.031"}). */
  tick(n = 1, fields: Record<string, string | number> = {}): void {
    this.#count += n;
    this.#fields = Object.entries(fields).map(([k, v]) => `${k} ${v}`).join("  ");
    this.#render(false);
  }

  /** Changes the total (for work whose size is known only once it starts). */
  setTotal(total: number): void {
    this.#options.total = total;
  }

  /** Ends the bar line (call once when done or interrupted). */
  done(): void {
    this.#render(true);
    if (!this.#options.silent && this.#options.stream.isTTY) this.#options.stream.write("\n");
  }

  #render(force: boolean): void {
    const o = this.#options;
    if (o.silent) return;
    const elapsed = (Date.now() - this.#startTime) / 1000;
    const done = this.#count - this.#startCount;
    const rate = elapsed > 0 ? (done * o.itemsPerTick) / elapsed : 0;
    const eta = done > 0 ? ((o.total - this.#count) * elapsed) / done : Infinity;
    const fraction = o.total > 0 ? Math.min(1, this.#count / o.total) : 1;
    const width = 24, filled = Math.round(fraction * width);
    const bar = "#".repeat(filled) + "-".repeat(width - filled);
    const line = `${o.label ? o.label + " " : ""}[${bar}] ${this.#count}/${o.total} ${(fraction * 100).toFixed(1)}%  ${this.#fields}  ${rate.toFixed(1)} ${o.unit}/s  ETA ${formatDuration(eta)}`;
    if (o.stream.isTTY) {
      o.stream.write(`\r${line.slice(0, (o.stream.columns ?? 160) - 1)}\x1b[K`);
    } else if (force || Date.now() - this.#lastLog >= o.logEverySeconds * 1000) {
      this.#lastLog = Date.now();
      o.stream.write(line + "\n");
    }
  }
}

/** Resident memory of this process in MiB, one decimal (logged with training records). */
export function residentMiB(): number {
  return Math.round(process.memoryUsage.rss() / 104857.6) / 10;
}

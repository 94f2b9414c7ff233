/**
 * @file Ctrl-C handling for long runs: the first SIGINT (or SIGTERM) asks the loop to stop at the
 * next safe point, where it writes a checkpoint and exits with a message; a second one exits without a checkpoint
 * as soon as the step in progress gives the event loop a turn (the kernels run synchronously, so
 * nothing can stop a step halfway). Outside a run, signals behave as usual.
 *
 * Node delivers signals on its event loop, so a training loop must give the loop a turn after every
 * step (`await yieldToEventLoop()`), or a handler installed here would never run and Ctrl-C would
 * do nothing at all.
 */

/** Lets pending I/O and signal handlers run (about a microsecond when nothing is pending). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class InterruptFlag {
  #requested = false;
  #handler: ((signal: NodeJS.Signals) => void) | null = null;

  get requested(): boolean {
    return this.#requested;
  }

  /** Starts listening; call `release()` when the run ends. */
  install(onFirst?: (signal: NodeJS.Signals) => void): this {
    this.#handler = (signal) => {
      if (this.#requested) {
        process.stderr.write(`\nalter: second ${signal}, exiting now without a checkpoint\n`);
        process.exit(130);
      }
      this.#requested = true;
      onFirst?.(signal);
    };
    process.on("SIGINT", this.#handler);
    process.on("SIGTERM", this.#handler);
    return this;
  }

  release(): void {
    if (this.#handler !== null) {
      process.off("SIGINT", this.#handler);
      process.off("SIGTERM", this.#handler);
      this.#handler = null;
    }
  }
}

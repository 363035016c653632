// One coarse timer per upstream connection for the deadlines of all its requests in flight. A setTimeout per
// request costs a timer-list insert and a clear on every answer, on the hottest path there is (undici keeps its
// timeouts on one coarse timer for the same reason). Deadlines are checked every `granularity` ms, so a request
// times out between timeoutMs and timeoutMs + granularity after it was written: plenty for timeouts of seconds.
export class RequestDeadlines {
  readonly #granularityMs: number;
  readonly #check: () => boolean;
  #timer: NodeJS.Timeout | null = null;

  /** `check` fails what is overdue and returns whether requests are still in flight (keep ticking). */
  constructor(timeoutMs: number, check: () => boolean) {
    this.#granularityMs = Math.max(10, Math.min(1_000, Math.floor(timeoutMs / 4)));
    this.#check = check;
  }

  /** A request with this timeout was written. */
  armed(timeoutMs: number): void {
    if (this.#timer !== null) return;
    const every = Math.max(10, Math.min(this.#granularityMs, Math.floor(timeoutMs / 4)));
    this.#timer = setInterval(() => {
      if (!this.#check()) this.stop();
    }, every);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}

// Warnings that a peer can trigger at will (a bad frame, a refused connection, a failed TLS handshake) must not
// let it fill the disk: one write of 5,000 garbage frames, or 5,000 connections, would otherwise log 5,000
// lines. Each kind of warning (its key) may log `burst` lines per `intervalMs`; the rest are counted, and the
// count is reported on the next line of that kind, or in a summary line at the end of the interval.
import type { Logger } from 'pino';

type WarnLogger = Pick<Logger, 'warn'>;

interface KeyState {
  windowStart: number;
  logged: number;
  suppressed: number;
  /** The logger and message of the newest suppressed line, for the summary. */
  last: { log: WarnLogger; msg: string } | null;
  timer: ReturnType<typeof setTimeout> | null;
}

export interface RateLimitedLogOptions {
  /** Lines per key per interval before suppression (default 10). */
  burst?: number;
  /** Length of the interval in ms (default 10 s). */
  intervalMs?: number;
  /** Clock, for tests. */
  now?: () => number;
  /** Keys kept at most (default 1,000); beyond that the oldest key is forgotten. */
  maxKeys?: number;
}

export class RateLimitedLog {
  readonly #burst: number;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #maxKeys: number;
  readonly #keys = new Map<string, KeyState>();

  constructor(options: RateLimitedLogOptions = {}) {
    this.#burst = options.burst ?? 10;
    this.#intervalMs = options.intervalMs ?? 10_000;
    this.#now = options.now ?? Date.now;
    this.#maxKeys = options.maxKeys ?? 1_000;
    if (!Number.isInteger(this.#burst) || this.#burst < 1) throw new RangeError(`burst must be a positive integer, got ${this.#burst}`);
    if (!(this.#intervalMs > 0)) throw new RangeError(`intervalMs must be > 0, got ${this.#intervalMs}`);
  }

  /** Logs `msg` at warn level unless `key` already logged `burst` lines in this interval. Returns whether it logged. */
  warn(log: WarnLogger, key: string, fields: Record<string, unknown>, msg: string): boolean {
    const now = this.#now();
    let state = this.#keys.get(key);
    if (state === undefined) {
      if (this.#keys.size >= this.#maxKeys) this.#forget(this.#keys.keys().next().value as string);
      state = { windowStart: now, logged: 0, suppressed: 0, last: null, timer: null };
      this.#keys.set(key, state);
    }
    let carried = 0;
    if (now - state.windowStart >= this.#intervalMs) {
      carried = state.suppressed;
      this.#reset(state, now);
    }
    if (state.logged < this.#burst) {
      state.logged++;
      log.warn(carried > 0 ? { ...fields, suppressed: carried } : fields, msg);
      return true;
    }
    state.suppressed++;
    state.last = { log, msg };
    // Report the count even if no line of this kind ever comes again.
    if (state.timer === null) {
      const s = state;
      s.timer = setTimeout(() => this.#summarize(key, s), Math.max(1, s.windowStart + this.#intervalMs - now));
      s.timer.unref();
    }
    return false;
  }

  /** Lines of `key` counted but not logged in the current interval. */
  suppressed(key: string): number {
    return this.#keys.get(key)?.suppressed ?? 0;
  }

  /** Writes the pending summaries now and stops the timers (shutdown, tests). */
  flush(): void {
    for (const [key, state] of this.#keys) this.#summarize(key, state);
  }

  #summarize(key: string, state: KeyState): void {
    if (state.timer !== null) clearTimeout(state.timer);
    state.timer = null;
    if (state.suppressed > 0 && state.last !== null) {
      state.last.log.warn({ suppressed: state.suppressed, intervalMs: this.#intervalMs }, `${state.last.msg} (${state.suppressed} similar lines suppressed)`);
    }
    this.#reset(state, this.#now());
    if (this.#keys.get(key) === state && state.logged === 0) this.#keys.delete(key);
  }

  #reset(state: KeyState, now: number): void {
    state.windowStart = now;
    state.logged = 0;
    state.suppressed = 0;
    state.last = null;
    if (state.timer !== null) clearTimeout(state.timer);
    state.timer = null;
  }

  #forget(key: string): void {
    const state = this.#keys.get(key);
    if (state !== undefined) this.#summarize(key, state);
    this.#keys.delete(key);
  }
}

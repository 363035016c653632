// Follows one control topic from an offset: long-polls Fetch, hands every record to `apply` in log order, and
// knows how far it has read. `readTo(offset)` resolves once the record at `offset` was applied: a writer learns
// the fate of its own record (won or skipped by the compare-and-set) by reading up to it. `caughtUp()` reads to
// the end of the log as it stood when called: a fenced member resumes only after that (docs/fleet.md §fencing).
import type { Logger } from 'pino';
import type { ControlLogPort } from './control-log.ts';
import type { ReadRecord } from './control-records.ts';

interface Waiter {
  readonly offset: bigint;
  readonly resolve: () => void;
}

export interface LogTailerOptions {
  readonly log: ControlLogPort;
  readonly topic: string;
  /** The connection lane this tailer's long polls use (one per topic: they block their connection). */
  readonly lane: number;
  readonly apply: (record: ReadRecord) => void;
  readonly logger: Logger;
  /** Long-poll wait. Default 250 ms: bounds how late a member learns of a record when nothing else is written. */
  readonly maxWaitMs?: number;
  /** Called after every successful read (liveness of the control cluster as this member sees it). */
  readonly onRead?: () => void;
}

export class LogTailer {
  readonly topic: string;
  readonly #o: LogTailerOptions;
  #position = 0n;
  #waiters: Waiter[] = [];
  #stopped = false;
  #loop: Promise<void> | null = null;
  #lastError: string | null = null;

  constructor(options: LogTailerOptions) {
    this.#o = options;
    this.topic = options.topic;
  }

  /** The offset of the next record to apply. */
  get position(): bigint {
    return this.#position;
  }

  get lastError(): string | null {
    return this.#lastError;
  }

  /**
   * Reads from the start to the current end once (applies everything), then keeps tailing in the background.
   * `fromEnd` skips the history (the move log: moves decided before this member started are in the route log).
   */
  async start(options: { fromEnd?: boolean } = {}): Promise<void> {
    const end = await this.#o.log.endOffset(this.topic);
    if (options.fromEnd === true) this.#position = end;
    while (this.#position < end) await this.#readOnce(0);
    this.#loop = this.#tail();
  }

  /** Resolves once the record at `offset` has been applied. */
  readTo(offset: bigint): Promise<void> {
    if (this.#position > offset) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ offset, resolve }));
  }

  /** Reads to the log end as it is now. */
  async caughtUp(): Promise<void> {
    const end = await this.#o.log.endOffset(this.topic);
    if (end > 0n) await this.readTo(end - 1n);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
  }

  async #tail(): Promise<void> {
    let backoff = 100;
    while (!this.#stopped) {
      try {
        await this.#readOnce(this.#o.maxWaitMs ?? 250);
        backoff = 100;
        this.#lastError = null;
      } catch (error) {
        if (this.#stopped) return;
        const message = error instanceof Error ? error.message : String(error);
        if (this.#lastError !== message) this.#o.logger.warn({ topic: this.topic, err: message }, 'control topic: read failed; retrying');
        this.#lastError = message;
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 2_000);
      }
    }
  }

  async #readOnce(maxWaitMs: number): Promise<void> {
    const { records, next } = await this.#o.log.read(this.topic, this.#position, maxWaitMs, this.#o.lane);
    for (const r of records) {
      try {
        this.#o.apply(r);
      } catch (error) {
        // One bad record must not stop the member from following the log; it is reported and skipped.
        this.#o.logger.error({ topic: this.topic, offset: String(r.offset), err: error instanceof Error ? error.message : String(error) }, 'control topic: record not applied');
      }
    }
    this.#position = next;
    this.#o.onRead?.();
    if (this.#waiters.length > 0) {
      const still: Waiter[] = [];
      for (const w of this.#waiters) {
        if (this.#position > w.offset) w.resolve();
        else still.push(w);
      }
      this.#waiters = still;
    }
  }
}

// Counts the partition errors kmp answered producers with while a move ran (issue #16 item 2): the promise of a
// flip is a pause producers do not notice, and every retriable error costs a client a back-off and a metadata
// refresh, so a move's answer and its audit entry say how many it caused and why.
//
// A move's window opens when its participant starts (before the warm-up) and closes once every request the
// move held has been answered after the release. While it is open, every partition error answered for a topic
// the move covers is counted in it, whatever its cause: the count is what producers saw, not what kmp meant.
// The data path reports errors through observe() (a ProduceConcern's settled hook in src/); that is called
// only for partitions answered with an error, so the healthy path never reaches this file.

import { errorName } from '../protocol/kafka-errors.ts';

/** What a move's answer and its audit entry say about the errors producers got during the move. */
export interface PartitionErrorCount {
  /** Partitions answered with an error. */
  readonly total: number;
  /** By Kafka error name, e.g. { NOT_LEADER_OR_FOLLOWER: 3 }. */
  readonly byError: Readonly<Record<string, number>>;
  /** Why, as "<ERROR_NAME>: <message kmp or the broker gave>" → count; at most MAX_REASONS distinct ones. */
  readonly reasons: Readonly<Record<string, number>>;
}

export const NO_PARTITION_ERRORS: PartitionErrorCount = Object.freeze({ total: 0, byError: Object.freeze({}), reasons: Object.freeze({}) });

/** Distinct reasons kept per move (messages can name brokers and partitions; the count stays exact). */
const MAX_REASONS = 10;
const OTHER_REASONS = '(other reasons)';

class Tally {
  total = 0;
  readonly byError: Record<string, number> = {};
  readonly reasons: Record<string, number> = {};
  #distinct = 0;

  add(errorCode: number, message: string | null): void {
    const name = errorName(errorCode);
    this.total += 1;
    this.byError[name] = (this.byError[name] ?? 0) + 1;
    let reason = `${name}: ${message ?? 'no message'}`;
    if (this.reasons[reason] === undefined) {
      if (this.#distinct >= MAX_REASONS) reason = OTHER_REASONS;
      else this.#distinct += 1;
    }
    this.reasons[reason] = (this.reasons[reason] ?? 0) + 1;
  }

  snapshot(): PartitionErrorCount {
    return { total: this.total, byError: { ...this.byError }, reasons: { ...this.reasons } };
  }
}

/** One move's open window. */
export interface MoveErrorWindow {
  /** The errors counted so far. */
  snapshot(): PartitionErrorCount;
  /** Closes the window; later errors are no longer counted here. Returns the final count. */
  close(): PartitionErrorCount;
}

interface OpenWindow {
  readonly covers: (topic: string) => boolean;
  readonly tally: Tally;
}

export class MoveErrorWatch {
  readonly #open = new Set<OpenWindow>();

  /** Opens a window for a move of `topics` (and, for prefix and pattern batches, whatever `matches`). */
  open(topics: readonly string[], matches?: (topic: string) => boolean): MoveErrorWindow {
    const listed = new Set(topics);
    const window: OpenWindow = {
      covers: matches === undefined ? (t) => listed.has(t) : (t) => listed.has(t) || matches(t),
      tally: new Tally(),
    };
    this.#open.add(window);
    return {
      snapshot: () => window.tally.snapshot(),
      close: () => {
        this.#open.delete(window);
        return window.tally.snapshot();
      },
    };
  }

  /** The data path answered a partition of `topic` with `errorCode`. Cheap when no move runs; never throws. */
  observe(topic: string, errorCode: number, message: string | null): void {
    if (this.#open.size === 0) return;
    for (const w of this.#open) {
      try {
        if (w.covers(topic)) w.tally.add(errorCode, message);
      } catch {
        // a throwing matcher must not break the data path; the move's count is then a lower bound
      }
    }
  }

  /** Moves with an open window now. */
  get openWindows(): number {
    return this.#open.size;
  }
}

/** The sum of several members' counts (reasons merged; beyond MAX_REASONS they fold into "(other reasons)"). */
export function sumPartitionErrors(counts: readonly (PartitionErrorCount | null | undefined)[]): PartitionErrorCount {
  const present = counts.filter((c): c is PartitionErrorCount => c !== null && c !== undefined);
  if (present.length === 0) return NO_PARTITION_ERRORS;
  if (present.length === 1) return present[0];
  const byError: Record<string, number> = {};
  const reasons: Record<string, number> = {};
  let total = 0;
  for (const c of present) {
    total += c.total;
    for (const [k, n] of Object.entries(c.byError)) byError[k] = (byError[k] ?? 0) + n;
    for (const [k, n] of Object.entries(c.reasons)) {
      const key = reasons[k] !== undefined || Object.keys(reasons).length < MAX_REASONS ? k : OTHER_REASONS;
      reasons[key] = (reasons[key] ?? 0) + n;
    }
  }
  return { total, byError, reasons };
}

/** Errors counted in `later` beyond `earlier` (same window, two snapshots). */
export function partitionErrorsSince(earlier: PartitionErrorCount, later: PartitionErrorCount): PartitionErrorCount {
  const diff = (a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const [k, n] of Object.entries(b)) if (n - (a[k] ?? 0) > 0) out[k] = n - (a[k] ?? 0);
    return out;
  };
  return { total: later.total - earlier.total, byError: diff(earlier.byError, later.byError), reasons: diff(earlier.reasons, later.reasons) };
}

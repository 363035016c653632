// The audit trail in memory: every operation (also refused and aborted ones), in order of recording, with
// paged reads (newest first pages, oldest first within a page) so an API read never copies the whole history.

import type { AuditEntry } from './route-state.ts';

export interface PageQuery {
  /** At most this many entries (the newest ones before `before`). Default: all. */
  readonly limit?: number;
  /** Only entries older than this cursor (an audit seq, or a ledger position). */
  readonly before?: number;
}

export interface Page<T> {
  /** Entries matching the query's filter (not only this page). */
  readonly total: number;
  /** Oldest first. */
  readonly entries: readonly T[];
  /** Pass as `before` for the next older page; null when this page reaches the oldest entry. */
  readonly nextBefore: number | null;
}

export class AuditLog {
  readonly #entries: AuditEntry[] = [];

  constructor(entries: readonly AuditEntry[] = []) {
    for (const e of entries) this.#entries.push(e);
  }

  get size(): number {
    return this.#entries.length;
  }

  /** The seq for the next entry recorded here. */
  nextSeq(): number {
    return (this.#entries.at(-1)?.seq ?? 0) + 1;
  }

  append(entry: AuditEntry): void {
    this.#entries.push(entry);
  }

  all(): readonly AuditEntry[] {
    return [...this.#entries];
  }

  /** Entries with seq < before, the newest `limit` of them. Seqs are increasing, so this is a binary search. */
  page(query: PageQuery = {}): Page<AuditEntry> {
    const entries = this.#entries;
    let end = entries.length;
    if (query.before !== undefined) {
      let lo = 0;
      let hi = entries.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (entries[mid].seq < query.before) lo = mid + 1;
        else hi = mid;
      }
      end = lo;
    }
    const start = query.limit === undefined ? 0 : Math.max(0, end - query.limit);
    return { total: entries.length, entries: entries.slice(start, end), nextBefore: start > 0 ? entries[start].seq : null };
  }
}

// The cutover ledger in memory: one entry per partition per move, with the indexes that keep every write path
// O(change): first offsets find their entry by (version, topic, partition), a reconciliation finds the partition's
// last move to the target without scanning, and reads page by position (optionally per topic).

import type { Cluster } from './cluster.ts';
import { ledgerKey } from './state-model.ts';
import type { Page, PageQuery } from './audit-log.ts';
import type { LedgerEntry } from './route-state.ts';
import type { PartitionReport } from './move-spec.ts';

export interface LedgerQuery extends PageQuery {
  readonly topic?: string;
}

export class Ledger {
  readonly #entries: LedgerEntry[] = [];
  readonly #byKey = new Map<string, LedgerEntry>();
  readonly #lastToTarget = new Map<string, LedgerEntry>();
  /** Positions (index + 1) per topic, increasing. */
  readonly #byTopic = new Map<string, number[]>();

  constructor(entries: readonly LedgerEntry[] = []) {
    this.add(entries);
  }

  get size(): number {
    return this.#entries.length;
  }

  add(entries: readonly LedgerEntry[]): void {
    for (const entry of entries) {
      this.#entries.push(entry);
      this.#byKey.set(ledgerKey(entry.version, entry.topic, entry.partition), entry);
      if (entry.to === 'target') this.#lastToTarget.set(`${entry.topic}\u0000${entry.partition}`, entry);
      let positions = this.#byTopic.get(entry.topic);
      if (positions === undefined) this.#byTopic.set(entry.topic, (positions = []));
      positions.push(this.#entries.length);
    }
  }

  /** Fills firstOffsetOnNew (the lowest wins). True when the entry changed (then it must be persisted). */
  setFirstOffset(version: number, topic: string, partition: number, offset: bigint): boolean {
    const entry = this.#byKey.get(ledgerKey(version, topic, partition));
    if (entry === undefined || (entry.firstOffsetOnNew !== null && entry.firstOffsetOnNew <= offset)) return false;
    entry.firstOffsetOnNew = offset;
    return true;
  }

  /** The first offset written to the target when this partition last moved there (a reconciliation's start). */
  lastFirstOffsetOnTarget(topic: string, partition: number): bigint | null {
    return this.#lastToTarget.get(`${topic}\u0000${partition}`)?.firstOffsetOnNew ?? null;
  }

  /** Copies: firstOffsetOnNew of the live entries keeps filling in. */
  all(): LedgerEntry[] {
    return this.#entries.map((e) => ({ ...e }));
  }

  /** Entries at positions < before (1-based), optionally of one topic, the newest `limit`; copies. */
  page(query: LedgerQuery = {}): Page<LedgerEntry> {
    const positions = query.topic === undefined ? null : (this.#byTopic.get(query.topic) ?? []);
    const count = positions === null ? this.#entries.length : positions.length;
    const at = (i: number): number => (positions === null ? i + 1 : positions[i]);
    let end = count;
    if (query.before !== undefined) {
      let lo = 0;
      let hi = count;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (at(mid) < query.before) lo = mid + 1;
        else hi = mid;
      }
      end = lo;
    }
    const start = query.limit === undefined ? 0 : Math.max(0, end - query.limit);
    const entries: LedgerEntry[] = [];
    for (let i = start; i < end; i++) entries.push({ ...this.#entries[at(i) - 1] });
    return { total: count, entries, nextBefore: start > 0 ? at(start) : null };
  }

  /** The entries of one move, built from the participants' partition reports at commit time. */
  entriesFor(input: {
    readonly partitions: readonly PartitionReport[];
    readonly from: Cluster;
    readonly to: Cluster;
    readonly version: number;
    readonly holdMs: number;
    readonly at: string;
    /** True for a partition whose topic was promoted before this move (a reconciliation event). */
    readonly reconciles: (topic: string) => boolean;
  }): LedgerEntry[] {
    return input.partitions.map((p) => {
      const reconciliation = input.reconciles(p.topic);
      return {
        topic: p.topic,
        partition: p.partition,
        from: input.from,
        to: input.to,
        version: input.version,
        lastOffsetOnOld: p.lastOffsetOnOld,
        firstOffsetOnNew: null,
        holdMs: input.holdMs,
        at: input.at,
        reconciliation,
        reconcileFromOffset: reconciliation ? this.lastFirstOffsetOnTarget(p.topic, p.partition) : null,
        failedDrain: p.failedDrain,
      };
    });
  }
}

// Write-back (issue #13): while a wave is on the target and not promoted, every batch the target holds for its
// partitions is copied into the same partition of the source, so the source stays complete for the consumers that
// still read it, a rollback loses nothing, and consumer groups can later move at exact offsets (the sync map).
//
// This is the engine: one PartitionCopier per partition (partition-copier.ts), the ProduceConcern that feeds them
// from the data path (write-back-concern.ts), the group commit of their progress to the state store, the rollback
// drain (a move back to the source completes only when the copy of its partitions caught up: the barrier calls
// drain() between its own drain and the commit) and the promote gate (refused while a copy lags).
import type { Logger } from 'pino';
import type { Cluster, RouteStateName } from '../../routing/cluster.ts';
import { SyncMap, type WriteBackUpdate } from '../../routing/sync-map.ts';
import type { StateStore } from '../../routing/state-store.ts';
import type { ClusterClient } from '../upstream/cluster-client.ts';
import type { ProduceConcern } from '../proxy/produce/produce-session.ts';
import { PartitionCopier, type CopierDeps } from './partition-copier.ts';
import { WriteBackConcern } from './write-back-concern.ts';
import type { WriteBackMetrics } from './write-back-metrics.ts';

/** The per-wave options (config `writeBack.waves`). */
export interface WaveWriteBack {
  /** Copy the wave's target writes back to the source until promotion (default true). */
  readonly writeBack: boolean;
  /** Answer the client only once the source has the copy too (default false). */
  readonly ackAfterWriteBack: boolean;
}

export interface WriteBackOptions {
  readonly clusters: Record<Cluster, ClusterClient>;
  readonly store: StateStore;
  readonly log: Logger;
  /** The route of a topic now (the switch table's answer). */
  readonly resolve: (topic: string) => { readonly state: RouteStateName; readonly cluster: Cluster; readonly batch: string | null };
  /** The options of a wave (null: a topic no wave claims). */
  readonly waveOf: (batch: string | null) => WaveWriteBack;
  readonly metrics?: WriteBackMetrics;
  /** Group commit of progress to the store. Default 100 ms. */
  readonly flushMs?: number;
  /** How long a missing target offset may stay missing before it is read back from the target. Default 200 ms. */
  readonly gapWaitMs?: number;
  readonly retryMs?: number;
  /** Copies in flight per partition (1..5; 5 is the idempotent producer's limit). Default 5. */
  readonly maxInFlight?: number;
  /** ackAfterWriteBack: answer REQUEST_TIMED_OUT (the client retries; the target de-duplicates) after this. Default 30 000 ms. */
  readonly ackTimeoutMs?: number;
}

export interface PartitionLag {
  readonly topic: string;
  readonly partition: number;
  readonly records: number;
  readonly seconds: number;
  readonly lastError: string | null;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

export class WriteBack {
  readonly syncMap = new SyncMap();
  readonly concern: ProduceConcern;
  readonly #o: WriteBackOptions;
  readonly #copiers = new Map<string, PartitionCopier>();
  readonly #deps: CopierDeps;
  #dirty = new Map<string, { progress: WriteBackUpdate['progress']; entries: WriteBackUpdate['entries'][number][] }>();
  #flushTimer: ReturnType<typeof setTimeout> | null = null;
  #flushing: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(options: WriteBackOptions) {
    this.#o = options;
    const m = options.metrics;
    this.#deps = {
      source: options.clusters.source,
      target: options.clusters.target,
      syncMap: this.syncMap,
      persist: (u) => this.#persist(u),
      persistNow: async (u) => {
        this.#persist(u);
        await this.flush();
      },
      log: options.log,
      onCopied: (topic, records, bytes) => m?.copied(topic, records, bytes),
      onError: (topic) => m?.error(topic),
      gapWaitMs: options.gapWaitMs ?? 200,
      retryMs: options.retryMs ?? 250,
      fetchMaxBytes: 4 * 1024 * 1024,
      produceTimeoutMs: 30_000,
      maxInFlight: options.maxInFlight ?? 5,
    };
    if (!(Number.isInteger(this.#deps.maxInFlight) && this.#deps.maxInFlight >= 1 && this.#deps.maxInFlight <= 5)) {
      throw new RangeError(`write-back maxInFlight must be an integer from 1 to 5 (the idempotent producer's limit), got ${this.#deps.maxInFlight}`);
    }
    this.concern = new WriteBackConcern({
      resolve: options.resolve,
      waveOf: options.waveOf,
      copier: (topic, partition) => this.#copier(topic, partition),
      ackTimeoutMs: options.ackTimeoutMs ?? 30_000,
    });
    m?.bind(() => this.lag());
  }

  /** Loads the persisted progress and resumes every copy that was running (the recovery path). */
  async start(): Promise<void> {
    for (const u of (await this.#o.store.loadWriteBack?.()) ?? []) this.syncMap.apply(u);
    for (const p of this.syncMap.partitions()) {
      if (p.segmentStart === null) continue;
      const c = this.#copier(p.topic, p.partition);
      const route = this.#o.resolve(p.topic);
      if (route.state !== 'target') {
        // Promoted (write-back stops) or rolled back while the last progress was not yet persisted.
        c.closeSegment();
        continue;
      }
      c.kick();
    }
  }

  /** Every partition whose copy is open, with its lag. */
  lag(topics?: ReadonlySet<string>): PartitionLag[] {
    const out: PartitionLag[] = [];
    for (const c of this.#copiers.values()) {
      if (!c.open || (topics !== undefined && !topics.has(c.topic))) continue;
      out.push({ topic: c.topic, partition: c.partition, records: c.lagRecords, seconds: c.lagSeconds, lastError: c.lastError });
    }
    return out;
  }

  /**
   * The rollback drain: resolves null once every open copy of `topics` reached the target's log end (then closes
   * those segments), or a message naming the lag when `timeoutMs` passes first (the move then aborts and the
   * route stays on the target). Moves to the target need no wait.
   */
  async drain(move: { readonly to: Cluster; readonly topics: readonly string[]; readonly timeoutMs: number; readonly signal?: AbortSignal }): Promise<string | null> {
    if (move.to !== 'source') return null;
    const topics = new Set(move.topics);
    const copiers = [...this.#copiers.values()].filter((c) => c.open && topics.has(c.topic));
    if (copiers.length === 0) return null;
    const deadline = performance.now() + move.timeoutMs;
    const ends = Promise.all(copiers.map((c) => c.refreshEnd()));
    const endsKnown = await Promise.race([ends.then(() => null), sleep(move.timeoutMs).then(() => 'timeout' as const)]).catch((e: unknown) => (e instanceof Error ? e.message : String(e)));
    if (endsKnown !== null) {
      return `write-back could not read the target's log end to finish the copy (${endsKnown === 'timeout' ? `no answer within ${move.timeoutMs} ms` : endsKnown}); nothing is lost: the records stay on the target`;
    }
    for (;;) {
      const behind = copiers.filter((c) => c.lagRecords > 0);
      if (behind.length === 0) break;
      if (performance.now() >= deadline || move.signal?.aborted === true) return lagMessage(behind, move.timeoutMs);
      for (const c of behind) c.kick();
      await sleep(5);
    }
    for (const c of copiers) c.closeSegment();
    await this.flush();
    return null;
  }

  /** The lag of the open copies of `topics` as one phrase (for a move's failure message), or null when none lags. */
  lagNote(topics: readonly string[]): string | null {
    const names = new Set(topics);
    const behind = [...this.#copiers.values()].filter((c) => c.open && names.has(c.topic) && c.lagRecords > 0);
    return behind.length === 0 ? null : `write-back lag: ${describe(behind)}; nothing is lost: the records stay on the target and the copy continues`;
  }

  /** Why promoting `topics` must wait (write-back lag > 0), as pre-flight refusals. */
  async promoteRefusals(topics: readonly string[]): Promise<string[]> {
    const names = new Set(topics);
    const copiers = [...this.#copiers.values()].filter((c) => c.open && names.has(c.topic));
    await Promise.all(copiers.map((c) => c.refreshEnd().catch(() => undefined)));
    const behind = copiers.filter((c) => c.lagRecords > 0);
    if (behind.length === 0) return [];
    return [`write-back to the source is behind (${describe(behind)}): consumers of the source would miss these records; wait for kmp_writeback_lag_records to reach 0`];
  }

  /** Writes the queued progress now (one store record for every dirty partition). */
  flush(): Promise<void> {
    if (this.#flushTimer !== null) clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
    const batch = this.#dirty;
    this.#dirty = new Map();
    const run = async (): Promise<void> => {
      if (batch.size === 0 || this.#o.store.appendWriteBack === undefined) return;
      try {
        await this.#o.store.appendWriteBack([...batch.values()]);
      } catch (error) {
        // Keep them for the next flush: a copy on the source without a persisted entry is found again by
        // reconcile() after a restart, so a failed write delays persistence but loses nothing.
        for (const [k, u] of batch) this.#merge(k, u.progress, u.entries, true);
        this.#o.log.warn({ err: String(error) }, 'write-back: could not persist progress; retrying');
        this.#schedule();
      }
    };
    this.#flushing = this.#flushing.then(run, run);
    return this.#flushing;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const c of this.#copiers.values()) c.stop();
    await this.flush();
  }

  #copier(topic: string, partition: number): PartitionCopier {
    const k = `${topic}\u0000${partition}`;
    let c = this.#copiers.get(k);
    if (c === undefined) {
      // Lanes spread partitions over the cluster client's pooled connections.
      this.#copiers.set(k, (c = new PartitionCopier(topic, partition, this.#deps, this.#copiers.size)));
    }
    return c;
  }

  #persist(u: WriteBackUpdate): void {
    this.#merge(`${u.progress.topic}\u0000${u.progress.partition}`, u.progress, u.entries, false);
    this.#schedule();
  }

  #merge(k: string, progress: WriteBackUpdate['progress'], entries: WriteBackUpdate['entries'], older: boolean): void {
    const d = this.#dirty.get(k);
    if (d === undefined) this.#dirty.set(k, { progress, entries: [...entries] });
    else if (older) d.entries.unshift(...entries);
    else {
      d.progress = progress;
      d.entries.push(...entries);
    }
  }

  #schedule(): void {
    if (this.#flushTimer !== null || this.#closed) return;
    this.#flushTimer = setTimeout(() => void this.flush(), this.#o.flushMs ?? 100);
    this.#flushTimer.unref();
  }
}

function describe(behind: readonly PartitionCopier[]): string {
  const parts = behind.slice(0, 10).map((c) => `${c.topic}[${c.partition}] ${c.lagRecords} records, ${c.lagSeconds.toFixed(1)} s`);
  const more = behind.length > 10 ? `, … (${behind.length} partitions)` : '';
  const err = behind.find((c) => c.lastError !== null)?.lastError;
  return parts.join(', ') + more + (err ? `; last error: ${err}` : '');
}

function lagMessage(behind: readonly PartitionCopier[], timeoutMs: number): string {
  return `write-back to the source did not catch up within ${timeoutMs} ms (lag: ${describe(behind)}); nothing is lost: the records stay on the target and the copy continues`;
}

// Per-topic evidence (issue #15 item 6, docs/gates.md): what tells schema breakage from platform lag, per topic and
// cluster — event age (now − the batch header's maxTimestamp: records are never decoded), produce and error
// rates, produce latency and the error names. It is a ProduceConcern whose `settled` books the outcome; latency runs
// from the write's `startedAt` (stamped once by PartitionWrite). Per partition write that is a clock read and a few
// additions: nothing that scales with the records or blocks the event loop.
// The canary runner (canary.ts) reads `snapshot()`/`since()` to judge exactly the writes of its watch window.
import type { Cluster } from '../../routing/cluster.ts';
import { BoundedMap } from '../../routing/bounded-map.ts';
import { ErrorCode, errorName } from '../../protocol/kafka-errors.ts';
import type { ProduceConcern } from '../proxy/produce/produce-session.ts';
import type { PartitionWrite } from '../proxy/produce/partition-write.ts';
import { LatencyHistogram } from './latency-histogram.ts';

/** Cumulative figures of one (topic, cluster). */
export interface EvidenceSnapshot {
  readonly at: number;
  /** Partition writes sent upstream (settled ok, failed or unknown; never the barrier's not-sent). */
  readonly writes: number;
  readonly ok: number;
  readonly failed: number;
  readonly records: number;
  readonly errors: ReadonlyMap<string, number>;
  readonly latency: LatencyHistogram;
}

export interface WindowFigures {
  readonly seconds: number;
  readonly writes: number;
  readonly failed: number;
  readonly records: number;
  /** failed / writes; null without writes. */
  readonly errorRate: number | null;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly errors: Readonly<Record<string, number>>;
  readonly recordsPerSec: number;
}

export interface ClusterEvidenceView {
  readonly writes: number;
  readonly ok: number;
  readonly failed: number;
  readonly records: number;
  readonly errors: Readonly<Record<string, number>>;
  /** Over the last rate interval (`recent.seconds`). */
  readonly recent: WindowFigures;
  /** now − maxTimestamp of the newest batch, at the time it was written; null before any write. */
  readonly eventAgeMs: number | null;
  readonly lastEventTime: string | null;
  readonly lastWrite: string | null;
}

export interface TopicEvidenceView {
  readonly topic: string;
  readonly clusters: Partial<Record<Cluster, ClusterEvidenceView>>;
}

class Figures {
  /** When the first write of this (topic, cluster) was booked: the start of its first rate window. */
  readonly createdAt: number;
  writes = 0;
  ok = 0;
  failed = 0;
  records = 0;
  readonly errors = new Map<string, number>();
  readonly latency = new LatencyHistogram();
  eventAgeMs: number | null = null;
  lastEventTs = -1;
  lastWrite = 0;
  /** The figures at the previous rate tick, and the window they describe. */
  previous: EvidenceSnapshot | null = null;
  recent: WindowFigures | null = null;

  constructor(createdAt: number) {
    this.createdAt = createdAt;
  }

  snapshot(at: number): EvidenceSnapshot {
    return { at, writes: this.writes, ok: this.ok, failed: this.failed, records: this.records, errors: new Map(this.errors), latency: this.latency.snapshot() };
  }
}

export function windowBetween(earlier: EvidenceSnapshot, later: EvidenceSnapshot): WindowFigures {
  const writes = later.writes - earlier.writes;
  const failed = later.failed - earlier.failed;
  const latency = later.latency.since(earlier.latency);
  const errors: Record<string, number> = {};
  for (const [name, n] of later.errors) {
    const d = n - (earlier.errors.get(name) ?? 0);
    if (d > 0) errors[name] = d;
  }
  const seconds = Math.max(0.001, (later.at - earlier.at) / 1000);
  const records = later.records - earlier.records;
  return {
    seconds: Math.round(seconds * 10) / 10, writes, failed, records, errorRate: writes === 0 ? null : failed / writes,
    p50Ms: latency.quantile(0.5), p99Ms: latency.quantile(0.99), errors, recordsPerSec: Math.round((records / seconds) * 10) / 10,
  };
}

export interface TopicEvidenceOptions {
  readonly maxTopics?: number;
  /** Interval of the recent-rate window. Default 10 000 ms. */
  readonly rateIntervalMs?: number;
  readonly now?: () => number;
}

export class TopicEvidence implements ProduceConcern {
  readonly #topics: BoundedMap<string, Partial<Record<Cluster, Figures>>>;
  readonly #now: () => number;
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(options: TopicEvidenceOptions = {}) {
    this.#topics = new BoundedMap(options.maxTopics ?? 10_000);
    this.#now = options.now ?? Date.now;
    this.#timer = setInterval(() => this.tick(), options.rateIntervalMs ?? 10_000);
    this.#timer.unref();
  }

  close(): void {
    clearInterval(this.#timer);
  }

  settled(w: PartitionWrite): void {
    if (w.settlement === 'not-sent' || w.cluster === null) return;
    const f = this.#figures(w.topic, w.cluster);
    const now = this.#now();
    f.writes++;
    f.lastWrite = now;
    if (w.settlement === 'ok') {
      f.ok++;
      f.records += w.recordCount;
    } else {
      f.failed++;
      const name = errorName(w.result?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR);
      f.errors.set(name, (f.errors.get(name) ?? 0) + 1);
    }
    f.latency.observe(performance.now() - w.startedAt);
    let maxTs = -1;
    for (const b of w.batches) if (b.maxTimestamp > maxTs) maxTs = b.maxTimestamp;
    if (maxTs > 0) {
      f.eventAgeMs = now - maxTs;
      if (maxTs > f.lastEventTs) f.lastEventTs = maxTs;
    }
  }

  /** Cumulative figures of (topic, cluster) now; zeros for a pair never written. */
  snapshot(topic: string, cluster: Cluster): EvidenceSnapshot {
    return (this.#topics.peek(topic)?.[cluster] ?? new Figures(this.#now())).snapshot(this.#now());
  }

  /** Closes the recent-rate window of every (topic, cluster) and opens the next. */
  tick(): void {
    const now = this.#now();
    for (const clusters of this.#topics.values()) {
      for (const f of Object.values(clusters)) {
        const s = f.snapshot(now);
        if (f.previous !== null) f.recent = windowBetween(f.previous, s);
        f.previous = s;
      }
    }
  }

  topics(): string[] {
    return [...this.#topics.keys()];
  }

  view(topic: string): TopicEvidenceView | null {
    const clusters = this.#topics.peek(topic);
    if (clusters === undefined) return null;
    const out: Partial<Record<Cluster, ClusterEvidenceView>> = {};
    const now = this.#now();
    for (const [cluster, f] of Object.entries(clusters) as [Cluster, Figures][]) {
      const current = f.snapshot(now);
      out[cluster] = {
        writes: f.writes, ok: f.ok, failed: f.failed, records: f.records, errors: Object.fromEntries(f.errors),
        // Before the first tick: the window since the first write.
        recent: f.recent ?? windowBetween(f.previous ?? new Figures(f.createdAt).snapshot(f.createdAt), current),
        eventAgeMs: f.eventAgeMs === null ? null : Math.round(f.eventAgeMs),
        lastEventTime: f.lastEventTs > 0 ? new Date(f.lastEventTs).toISOString() : null,
        lastWrite: f.lastWrite > 0 ? new Date(f.lastWrite).toISOString() : null,
      };
    }
    return { topic, clusters: out };
  }

  #figures(topic: string, cluster: Cluster): Figures {
    let clusters = this.#topics.get(topic);
    if (clusters === undefined) this.#topics.set(topic, (clusters = {}));
    return (clusters[cluster] ??= new Figures(this.#now()));
  }
}

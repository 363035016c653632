// Bypass detection (issue #15 item 3, docs/gates.md): after a partition moved, kmp no longer writes to the
// cluster it left. Growth of that cluster's log-end offset is therefore a write kmp did not route: a producer
// still connected straight to the old cluster (or a fleet member on a stale route). Every `intervalMs`:
//   1 ListOffsets(LATEST) of every watched partition, one request per leader of the old cluster;
//   2 for partitions that grew: DescribeProducers, compared with the previous answer for that partition. A
//     producer id that is new or whose (epoch, last sequence, open transaction) changed wrote in the interval.
//     Comparing snapshots needs no clock: DescribeProducers' lastTimestamp is the producer's own clock.
//   3 each active id is attributed (producer-attribution.ts): kmp's own and write-back ids are expected; a fleet
//     member's id raises the fleet alarm; the rest — and growth no id explains (a non-idempotent producer has
//     none) — is bypass, reported with the ids and partitions.
// Reports: `report()` (GET /v1/bypass, kmp bypass), `onBypass`/`onFleetAlarm` (metric, log line, audit note),
// `seenWithin()` for the promotion gate. The baseline of a partition is taken when its watch starts.
import type { Cluster } from '../../routing/cluster.ts';
import type { Attribution, ProducerAttribution } from './producer-attribution.ts';
import { activeProducers, logEndOffsets, type ProbeCluster, type ProducerStateView, type TopicPartitions } from './partition-probe.ts';

/** Partitions of one topic that moved off `oldCluster` and are routed elsewhere now. */
export interface WatchedTopic {
  readonly topic: string;
  readonly oldCluster: Cluster;
  readonly partitions: readonly number[];
  /**
   * Per partition (same order), the table version of the move that took it off `oldCluster`. A partition that
   * moved back and off again between two checks keeps its old cluster but not its baseline: kmp itself wrote
   * there in between, so the watch starts over when this changes.
   */
  readonly movedAt?: readonly number[];
}

export interface BypassWrite {
  readonly at: string;
  readonly topic: string;
  readonly partition: number;
  readonly cluster: Cluster;
  /** Log-end offsets before and after: `toOffset - fromOffset` offsets were written (records and markers). */
  readonly fromOffset: string;
  readonly toOffset: string;
  /** Producer ids that wrote in the interval and are not kmp's. */
  readonly producerIds: readonly string[];
  /** Growth with no producer id that changed: a non-idempotent producer (it has no id). */
  readonly unattributed: boolean;
}

export interface FleetAlarm {
  readonly at: string;
  readonly topic: string;
  readonly partition: number;
  readonly cluster: Cluster;
  readonly member: string;
  readonly producerId: string;
}

export interface TopicBypass {
  readonly topic: string;
  readonly cluster: Cluster;
  readonly firstSeen: string;
  readonly lastSeen: string;
  readonly offsets: string;
  readonly partitions: readonly number[];
  readonly producerIds: readonly string[];
  readonly unattributed: boolean;
}

export interface BypassReport {
  readonly intervalMs: number;
  readonly windowMs: number;
  /** Partitions watched now, per old cluster. */
  readonly watching: { readonly topics: number; readonly partitions: number };
  readonly lastCheck: string | null;
  readonly lastCheckMs: number | null;
  /** Topics with bypass writes seen within the window. */
  readonly active: readonly TopicBypass[];
  /** The newest bypass writes and fleet alarms (bounded). */
  readonly recent: readonly BypassWrite[];
  readonly fleetAlarms: readonly FleetAlarm[];
  /** Partitions that could not be read at the last check, with why. */
  readonly errors: readonly string[];
}

export interface BypassDetectorOptions {
  readonly clusters: Record<Cluster, ProbeCluster>;
  readonly watched: () => readonly WatchedTopic[] | Promise<readonly WatchedTopic[]>;
  readonly attribution: ProducerAttribution;
  readonly intervalMs: number;
  readonly windowMs: number;
  readonly onBypass?: (write: BypassWrite) => void;
  readonly onFleetAlarm?: (alarm: FleetAlarm) => void;
  /** Wall clock ms. Default Date.now. */
  readonly now?: () => number;
}

interface PartitionWatch {
  readonly topic: string;
  readonly partition: number;
  readonly cluster: Cluster;
  readonly movedAt: number | undefined;
  logEnd: bigint | null;
  producers: Map<bigint, ProducerStateView> | null;
}

interface TopicState {
  cluster: Cluster;
  firstSeen: number;
  lastSeen: number;
  offsets: bigint;
  partitions: Set<number>;
  producerIds: Set<string>;
  unattributed: boolean;
}

const MAX_RECENT = 200;

function changed(before: ProducerStateView | undefined, now: ProducerStateView): boolean {
  return before === undefined || before.producerEpoch !== now.producerEpoch || before.lastSequence !== now.lastSequence || before.currentTxnStartOffset !== now.currentTxnStartOffset;
}

export class BypassDetector {
  readonly #o: BypassDetectorOptions;
  readonly #now: () => number;
  readonly #watches = new Map<string, PartitionWatch>();
  readonly #topics = new Map<string, TopicState>();
  readonly #recent: BypassWrite[] = [];
  readonly #fleet: FleetAlarm[] = [];
  #errors: string[] = [];
  #lastCheck: number | null = null;
  #lastCheckMs: number | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #running: Promise<void> | null = null;
  #stopped = false;

  constructor(options: BypassDetectorOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  start(): void {
    this.#stopped = false;
    const loop = (): void => {
      this.#timer = setTimeout(() => {
        this.check().catch(() => undefined).finally(() => {
          if (!this.#stopped) loop();
        });
      }, this.#o.intervalMs);
      this.#timer.unref();
    };
    loop();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** One check now (concurrent callers share it). */
  check(): Promise<void> {
    this.#running ??= this.#check().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  /** Topics among `topics` (all when omitted) with bypass writes seen in the last `windowMs`. */
  seenWithin(windowMs: number, topics?: readonly string[]): TopicBypass[] {
    const since = this.#now() - windowMs;
    const wanted = topics === undefined ? null : new Set(topics);
    return [...this.#topics]
      .filter(([topic, s]) => s.lastSeen >= since && (wanted === null || wanted.has(topic)))
      .map(([topic, s]) => this.#view(topic, s));
  }

  report(): BypassReport {
    const topics = new Set([...this.#watches.values()].map((w) => w.topic));
    return {
      intervalMs: this.#o.intervalMs,
      windowMs: this.#o.windowMs,
      watching: { topics: topics.size, partitions: this.#watches.size },
      lastCheck: this.#lastCheck === null ? null : new Date(this.#lastCheck).toISOString(),
      lastCheckMs: this.#lastCheckMs,
      active: this.seenWithin(this.#o.windowMs),
      recent: [...this.#recent],
      fleetAlarms: [...this.#fleet],
      errors: [...this.#errors],
    };
  }

  /** Bypass totals of one topic (all time since start), or null. */
  topic(topic: string): TopicBypass | null {
    const s = this.#topics.get(topic);
    return s === undefined ? null : this.#view(topic, s);
  }

  #view(topic: string, s: TopicState): TopicBypass {
    return {
      topic, cluster: s.cluster, firstSeen: new Date(s.firstSeen).toISOString(), lastSeen: new Date(s.lastSeen).toISOString(),
      offsets: s.offsets.toString(), partitions: [...s.partitions].sort((a, b) => a - b), producerIds: [...s.producerIds].sort(), unattributed: s.unattributed,
    };
  }

  async #check(): Promise<void> {
    const started = performance.now();
    const watched = await this.#o.watched();
    this.#sync(watched);
    const errors: string[] = [];
    for (const cluster of ['source', 'target'] as const) {
      const mine = [...this.#watches.values()].filter((w) => w.cluster === cluster);
      if (mine.length === 0) continue;
      const client = this.#o.clusters[cluster];
      const ends = await logEndOffsets(client, groupByTopic(mine));
      const fresh: PartitionWatch[] = [];
      const grown: { watch: PartitionWatch; from: bigint; to: bigint }[] = [];
      for (const r of ends) {
        const w = this.#watches.get(watchKey(r.topic, r.partition));
        if (w === undefined) continue;
        if (r.value === null) {
          errors.push(`${r.topic}-${r.partition}: ${r.error ?? 'unreadable'}`);
          continue;
        }
        if (w.logEnd === null) {
          w.logEnd = r.value;
          fresh.push(w);
        } else if (r.value > w.logEnd) {
          grown.push({ watch: w, from: w.logEnd, to: r.value });
          w.logEnd = r.value;
        } else if (r.value < w.logEnd) {
          w.logEnd = r.value; // the topic was deleted and re-created, or truncated: a new baseline
        }
      }
      const toDescribe = [...fresh, ...grown.map((g) => g.watch)];
      if (toDescribe.length === 0) continue;
      const described = new Map<string, readonly ProducerStateView[]>();
      for (const r of await activeProducers(client, groupByTopic(toDescribe))) {
        if (r.value !== null) described.set(watchKey(r.topic, r.partition), r.value);
        else errors.push(`${r.topic}-${r.partition}: ${r.error ?? 'unreadable'}`);
      }
      for (const w of fresh) {
        const now = described.get(watchKey(w.topic, w.partition));
        w.producers = now === undefined ? null : new Map(now.map((p) => [p.producerId, p]));
      }
      for (const g of grown) this.#attribute(g.watch, g.from, g.to, described.get(watchKey(g.watch.topic, g.watch.partition)));
    }
    this.#errors = errors;
    this.#lastCheck = this.#now();
    this.#lastCheckMs = Math.round((performance.now() - started) * 10) / 10;
  }

  /** Adds new watches (baseline at the next read) and drops the ones no longer watched. */
  #sync(watched: readonly WatchedTopic[]): void {
    const keep = new Set<string>();
    for (const t of watched) {
      for (const [i, partition] of t.partitions.entries()) {
        const key = watchKey(t.topic, partition);
        keep.add(key);
        const w = this.#watches.get(key);
        const movedAt = t.movedAt?.[i];
        if (w !== undefined && w.cluster === t.oldCluster && w.movedAt === movedAt) continue;
        this.#watches.set(key, { topic: t.topic, partition, cluster: t.oldCluster, movedAt, logEnd: null, producers: null });
      }
    }
    for (const key of this.#watches.keys()) if (!keep.has(key)) this.#watches.delete(key);
  }

  #attribute(w: PartitionWatch, from: bigint, to: bigint, now: readonly ProducerStateView[] | undefined): void {
    const before = w.producers;
    const active = now === undefined ? [] : now.filter((p) => before === null || changed(before.get(p.producerId), p));
    if (now !== undefined) w.producers = new Map(now.map((p) => [p.producerId, p]));
    const verdicts = active.map((p) => ({ p, a: this.#o.attribution.classify(w.cluster, p.producerId) as Attribution }));
    const at = new Date(this.#now()).toISOString();
    for (const { p, a } of verdicts) {
      if (a.kind !== 'fleet') continue;
      const alarm: FleetAlarm = { at, topic: w.topic, partition: w.partition, cluster: w.cluster, member: a.member, producerId: p.producerId.toString() };
      push(this.#fleet, alarm);
      this.#o.onFleetAlarm?.(alarm);
    }
    const strangers = verdicts.filter((v) => v.a.kind === 'unknown').map((v) => v.p.producerId.toString());
    // Growth that no changed producer explains: a producer without an id (not idempotent) wrote.
    const unattributed = verdicts.length === 0;
    if (strangers.length === 0 && !unattributed) return;
    const write: BypassWrite = {
      at, topic: w.topic, partition: w.partition, cluster: w.cluster, fromOffset: from.toString(), toOffset: to.toString(), producerIds: strangers, unattributed,
    };
    push(this.#recent, write);
    const nowMs = this.#now();
    let s = this.#topics.get(w.topic);
    if (s === undefined) {
      s = { cluster: w.cluster, firstSeen: nowMs, lastSeen: nowMs, offsets: 0n, partitions: new Set(), producerIds: new Set(), unattributed: false };
      this.#topics.set(w.topic, s);
    }
    s.lastSeen = nowMs;
    s.offsets += to - from;
    s.partitions.add(w.partition);
    for (const id of strangers) s.producerIds.add(id);
    s.unattributed ||= unattributed;
    this.#o.onBypass?.(write);
  }
}

function push<T>(list: T[], item: T): void {
  list.push(item);
  if (list.length > MAX_RECENT) list.splice(0, list.length - MAX_RECENT);
}

const watchKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

function groupByTopic(watches: readonly PartitionWatch[]): TopicPartitions[] {
  const out = new Map<string, number[]>();
  for (const w of watches) {
    const list = out.get(w.topic) ?? [];
    list.push(w.partition);
    out.set(w.topic, list);
  }
  return [...out].map(([topic, partitions]) => ({ topic, partitions }));
}

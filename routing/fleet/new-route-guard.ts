// The fleet's guard against a cross-cluster duplicate after a move (docs/fleet.md "Retries across a move").
//
// The hole it closes: member X forwards a client's batch to the old cluster, which appends it, and X dies or is
// paused before the answer reaches the client. The others count X gone after its lease and the move commits
// without it. The client retries the batch through the new route: the new cluster has never seen the batch's
// upstream producer id (a new generation gets a fresh one, producer-id-map.ts), so it appends it again. Each
// cluster deduplicates only its own log, the barrier's in-doubt rule only sees this member's own writes, and no
// member can know which clients had a batch in flight through X.
//
// What does know: the old cluster. Once a move committed, nobody forwards to the old cluster for the moved
// partitions any more (live members drained and hold; a gone member fenced itself before it was counted gone,
// and what it had sent landed before then, network.ts's latency bound), so the old leader's producer state of a
// partition (DescribeProducers: the last sequence appended per upstream producer id) is final. For a while after
// a route change (`windowMs`, the clients' delivery timeout), the first batch on each partition of the new route
// waits (a retriable error) until that state is loaded; from then on every batch is checked against it: a batch
// the old cluster already has is answered as written, without being forwarded (the client's retry gets the
// success it missed); anything else is forwarded. Loading is per partition, once per route generation.
//
// Shared by the Kafka runtime (src/fleet/new-route-concern.ts: DescribeProducers and the client's sequences) and
// the deterministic simulation (test/sim/member.ts: the simulated cluster's appended write ids): `W` is whatever
// names one write, and the loaded state answers whether the old cluster has it.
import type { Cluster } from '../cluster.ts';

/** The old cluster's producer state of one partition, as read once the move committed. */
export interface OldPartitionState<W> {
  /** The old cluster already appended this write (a retry of a batch whose answer was lost). */
  has(write: W): boolean;
}

export interface NewRouteGuardOptions<W> {
  /** How long after a route change (first seen here) batches are checked: at least the clients' delivery timeout. */
  readonly windowMs: number;
  /** A load that has not answered within this is started again (its late answer is ignored). */
  readonly loadTimeoutMs: number;
  /**
   * Give up waiting after this long without a loaded state (the old cluster unreachable): batches are forwarded
   * unchecked from then on, accepting the duplicate risk rather than refusing the partition for the whole window.
   */
  readonly giveUpAfterMs: number;
  /** Monotonic clock (ms). */
  readonly now: () => number;
  /** Reads the old cluster's producer state of a partition. */
  readonly load: (topic: string, partition: number, oldCluster: Cluster) => Promise<OldPartitionState<W>>;
  /** Partitions tracked at once (the oldest are dropped: their windows are the first to end anyway). */
  readonly maxPartitions?: number;
}

/** forward: send it; duplicate: answer it as written, do not send; wait: a retriable error, the client resends. */
export type NewRouteVerdict = 'forward' | 'duplicate' | 'wait';

/** Where a batch goes now: the route's cluster and generation (the barrier's; 0 = the topic never moved). */
export interface RouteEpoch {
  readonly cluster: Cluster;
  readonly generation: number;
}

interface PartitionCheck<W> {
  readonly cluster: Cluster;
  readonly generation: number;
  readonly since: number;
  state: OldPartitionState<W> | null;
  /** The load in flight (its token), or null. */
  loading: number | null;
  loadStartedAt: number;
  /** Unchecked from now on: the window ended or the old cluster never answered. */
  open: boolean;
}

export class NewRouteGuard<W> {
  readonly #o: NewRouteGuardOptions<W>;
  readonly #checks = new Map<string, PartitionCheck<W>>();
  readonly #max: number;
  #token = 0;
  /** Counters for metrics and tests. */
  readonly stats = { loads: 0, loadFailures: 0, waits: 0, duplicates: 0, gaveUp: 0 };

  constructor(options: NewRouteGuardOptions<W>) {
    if (!(options.windowMs > 0 && options.loadTimeoutMs > 0 && options.giveUpAfterMs > 0)) {
      throw new RangeError('NewRouteGuard: windowMs, loadTimeoutMs and giveUpAfterMs must be > 0');
    }
    this.#o = options;
    this.#max = options.maxPartitions ?? 100_000;
  }

  /**
   * The verdict for `write` on (topic, partition) going to `route`. Synchronous; a 'wait' starts (or restarts)
   * the load of the old cluster's state, so the client's retry finds it.
   */
  check(topic: string, partition: number, route: RouteEpoch, write: W): NewRouteVerdict {
    if (route.generation === 0) return 'forward'; // never moved: there is no old cluster to ask
    const now = this.#o.now();
    const c = this.#entry(topic, partition, route, now);
    if (c.open) return 'forward';
    if (now - c.since >= this.#o.windowMs) {
      c.open = true;
      c.state = null; // the window is over: free the state
      return 'forward';
    }
    if (c.state !== null) {
      if (!c.state.has(write)) return 'forward';
      this.stats.duplicates += 1;
      return 'duplicate';
    }
    if (now - c.since >= this.#o.giveUpAfterMs) {
      c.open = true;
      this.stats.gaveUp += 1;
      return 'forward';
    }
    if (c.loading === null || now - c.loadStartedAt >= this.#o.loadTimeoutMs) this.#load(topic, partition, c, now);
    this.stats.waits += 1;
    return 'wait';
  }

  /**
   * Starts loading a partition's old state before its first batch (the runtime loads every partition of a topic
   * once one of them needs it, so a partition whose leader instance changes later finds its state ready).
   */
  prefetch(topic: string, partition: number, route: RouteEpoch): void {
    if (route.generation === 0) return;
    const now = this.#o.now();
    const c = this.#entry(topic, partition, route, now);
    if (!c.open && c.state === null && c.loading === null && now - c.since < this.#o.windowMs) this.#load(topic, partition, c, now);
  }

  #entry(topic: string, partition: number, route: RouteEpoch, now: number): PartitionCheck<W> {
    // One entry per route epoch, not one per partition replaced when the epoch differs: the data path checks a
    // batch before admission (the route now) and again before sending (its ticket's generation), and the two may
    // name different generations for a while on a member that installed a version late (back from a pause).
    // Replacing the entry at each alternation restarted its clock and its load on every call — a partition
    // answered 'wait' forever (found by fleet-pause.test.ts: a Java producer stuck for a minute).
    const key = `${partition}:${topic}:${route.cluster}:${route.generation}`;
    let c = this.#checks.get(key);
    if (c === undefined) {
      c = { cluster: route.cluster, generation: route.generation, since: now, state: null, loading: null, loadStartedAt: 0, open: false };
      this.#checks.set(key, c);
      if (this.#checks.size > this.#max) this.#checks.delete(this.#checks.keys().next().value as string);
    }
    return c;
  }

  /** Partitions whose window is still running (diagnostics). */
  get tracked(): number {
    return this.#checks.size;
  }

  #load(topic: string, partition: number, c: PartitionCheck<W>, now: number): void {
    const token = ++this.#token;
    c.loading = token;
    c.loadStartedAt = now;
    this.stats.loads += 1;
    const old: Cluster = c.cluster === 'source' ? 'target' : 'source';
    let loading: Promise<OldPartitionState<W>>;
    try {
      loading = this.#o.load(topic, partition, old);
    } catch (error) {
      loading = Promise.reject(error);
    }
    loading.then(
      (state) => {
        if (c.loading !== token) return; // superseded by a newer load (this one timed out)
        c.loading = null;
        if (!c.open) c.state = state;
      },
      () => {
        if (c.loading !== token) return;
        c.loading = null; // the next batch starts another load
        this.stats.loadFailures += 1;
      },
    );
  }
}

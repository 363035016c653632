// The home of every transactional id kmp serves, and the moves of an id between clusters. One object per proxy
// instance; the request handlers (transaction-handlers.ts), the Produce concern (transaction-produce-concern.ts)
// and the flip guard (transaction-flip-guard.ts) share it.
//
// - An id's home is where its transactions run: InitProducerId, AddPartitionsToTxn, its transactional batches,
//   AddOffsetsToTxn, TxnOffsetCommit and EndTxn all go to the home cluster, under the producer id and epoch kmp
//   holds there (`upstream`). The client sees one producer id for the id's whole life and an epoch kmp advances
//   on each of its InitProducerId calls, so nothing the client holds depends on the home.
// - An id changes home only between transactions ("rehome"): InitProducerId for the id on the new cluster
//   (new upstream ids), persist, then InitProducerId on the old cluster, which fences anything still writing
//   there under the id (a zombie) and aborts a transaction it left open. A flip does that for every id it moves
//   while its topics are held; otherwise the first AddPartitionsToTxn of a transaction whose partitions are all
//   routed to the other cluster does it.
import type { Logger } from 'pino';
import { ErrorCode } from '../../protocol/kafka-errors.ts';
import type { Cluster } from '../../routing/cluster.ts';
import { SerialQueue } from '../../routing/serial-queue.ts';
import type { ProducerIdMap } from '../proxy/producer-id-map.ts';
import type { TransactionMetrics } from './transaction-metrics.ts';
import { fromStored, type StoredProducer, type TransactionStore } from './transaction-store.ts';
import { coordinatorKey, singleInstanceOwnership, type TransactionOwnership } from './transaction-ownership.ts';
import { MAX_CLIENT_EPOCH, TransactionalProducer } from './transactional-producer.ts';
import { CoordinatorKeyType, TransactionUpstreamError, type InitResult, type TransactionUpstream } from './transaction-upstream.ts';

export interface TransactionRouterOptions {
  upstream: TransactionUpstream;
  producerIds: ProducerIdMap;
  /** The cluster a topic is routed to now. */
  clusterOf: (topic: string) => Cluster;
  /** Clusters to start a new id on, best first (the default cluster first, a down one last). */
  clusterOrder: () => readonly Cluster[];
  store: TransactionStore;
  metrics: TransactionMetrics | null;
  log: Logger;
  /** Bound of kmp's own InitProducerId calls (retries of CONCURRENT_TRANSACTIONS included). Default 10 s. */
  initTimeoutMs?: number;
  /** Which instance coordinates an id; default: this one (no fleet). */
  ownership?: TransactionOwnership;
}

export interface TransactionInventoryEntry {
  transactionalId: string;
  homeCluster: Cluster;
  state: 'ready' | 'open' | 'ending';
  openForMs: number | null;
  partitionsInTransaction: number;
  coupledTopics: string[];
  commitsOffsets: boolean;
  groups: string[];
  committed: number;
  aborted: number;
  producerId: string;
  producerEpoch: number;
}

const other = (c: Cluster): Cluster => (c === 'source' ? 'target' : 'source');

export class TransactionRouter {
  readonly upstream: TransactionUpstream;
  readonly metrics: TransactionMetrics | null;
  readonly log: Logger;
  readonly clusterOf: (topic: string) => Cluster;
  readonly ownership: TransactionOwnership;
  readonly #o: TransactionRouterOptions;
  readonly #byId = new Map<string, TransactionalProducer>();
  readonly #byClientPid = new Map<bigint, TransactionalProducer>();
  readonly #queues = new Map<string, SerialQueue>();
  readonly #listeners = new Set<() => void>();
  readonly #initTimeoutMs: number;

  constructor(options: TransactionRouterOptions) {
    this.#o = options;
    this.upstream = options.upstream;
    this.metrics = options.metrics;
    this.log = options.log;
    this.clusterOf = options.clusterOf;
    this.#initTimeoutMs = options.initTimeoutMs ?? 10_000;
    this.ownership = options.ownership ?? singleInstanceOwnership();
    for (const p of options.store.load()) this.#index(p);
    options.store.shared?.onRemote((stored) => this.#applyRemote(stored));
  }

  /** Whether this instance coordinates the id (always, without a fleet). */
  owns(transactionalId: string): boolean {
    return this.ownership.owns(coordinatorKey(CoordinatorKeyType.TRANSACTION, transactionalId));
  }

  /** Whether this instance's view of the id is the authority (its owner, which saw its transactions start). */
  authoritative(p: TransactionalProducer): boolean {
    return p.stateKnown && this.owns(p.transactionalId);
  }

  /**
   * The client's base sequence on a partition in the id's current home period: 0 when the period began with the
   * client's InitProducerId; else learned from the first batch and made durable before use (the state file; in a
   * fleet the control topic, first proposal wins), so a restart or a new leader of the partition after a failover
   * rebases as before. Null while the proposal is on its way: the caller answers retriably and the client resends.
   */
  sequenceBase(p: TransactionalProducer, topic: string, partition: number, clientSequence: number): number | null {
    const known = p.knownBase(topic, partition);
    if (known !== undefined) return known;
    const bases = this.#o.store.sequenceBases;
    if (bases === undefined) {
      p.learnBase(topic, partition, clientSequence);
      return clientSequence;
    }
    const key = `${p.periodKey}/${topic}/${partition}`;
    const agreed = bases.get(key);
    if (agreed !== undefined) {
      p.learnBase(topic, partition, agreed);
      return agreed;
    }
    bases.propose(key, clientSequence).catch((err: unknown) => this.log.warn({ transactionalId: p.transactionalId, topic, partition, err: String(err) }, 'could not record a sequence base; the client retries'));
    return null;
  }

  /** Another fleet member wrote the id's state (its owner, or a former one): take it over. */
  #applyRemote(s: StoredProducer): void {
    const known = this.#byId.get(s.transactionalId);
    if (known === undefined) {
      this.#index(fromStored(s));
      this.changed();
      return;
    }
    const clientPid = BigInt(s.clientProducerId);
    if (clientPid !== known.clientProducerId) {
      this.#byClientPid.delete(known.clientProducerId);
      known.clientProducerId = clientPid;
      this.#byClientPid.set(clientPid, known);
    }
    known.clientEpoch = s.clientEpoch;
    known.previousClientEpoch = s.previousClientEpoch ?? -1;
    known.transactionTimeoutMs = s.transactionTimeoutMs;
    const upstream = { producerId: BigInt(s.upstreamProducerId), producerEpoch: s.upstreamEpoch };
    if (s.home !== known.home || upstream.producerId !== known.upstream.producerId || upstream.producerEpoch !== known.upstream.producerEpoch) {
      // New upstream ids elsewhere: whatever this instance saw open was aborted or ended there.
      known.newHomePeriod(s.home, upstream, s.aligned ?? true);
      known.ended();
      known.stateKnown = false;
    }
    for (const t of s.coupledTopics) known.coupledTopics.add(t);
    for (const g of s.groups) known.groups.add(g);
    known.abortRequested = s.abortRequested ?? null;
    this.changed();
  }

  get(transactionalId: string): TransactionalProducer | undefined {
    return this.#byId.get(transactionalId);
  }

  byClientProducerId(producerId: bigint): TransactionalProducer | undefined {
    return this.#byClientPid.get(producerId);
  }

  all(): IterableIterator<TransactionalProducer> {
    return this.#byId.values();
  }

  /** Runs `fn` after every earlier call for the same id (init, add, end, rehome never interleave per id). */
  locked<T>(transactionalId: string, fn: () => Promise<T>): Promise<T> {
    let q = this.#queues.get(transactionalId);
    if (q === undefined) this.#queues.set(transactionalId, (q = new SerialQueue()));
    return q.run(fn);
  }

  /** Called whenever a transaction opens or ends (flips wait on it). */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  changed(): void {
    this.metrics?.open.set([...this.#byId.values()].filter((p) => p.state !== 'ready').length);
    for (const l of this.#listeners) l();
  }

  async persist(p: TransactionalProducer): Promise<void> {
    await this.#o.store.save(p);
  }

  /**
   * InitProducerId from a client for `transactionalId`. `client` is the pid/epoch the request carries (KIP-360
   * bump) or null. Answers with the client-facing ids.
   */
  init(transactionalId: string, timeoutMs: number, client: { producerId: bigint; producerEpoch: number } | null, version: number): Promise<InitResult> {
    return this.locked(transactionalId, async () => {
      const known = this.#byId.get(transactionalId);
      const deadline = performance.now() + this.#initTimeoutMs;
      if (client !== null) {
        if (known === undefined || known.clientProducerId !== client.producerId) return errorResult(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
        if (client.producerEpoch === known.previousClientEpoch && known.state === 'ready') return okResult(known); // a retried bump
        if (client.producerEpoch !== known.clientEpoch) return errorResult(ErrorCode.PRODUCER_FENCED);
      }
      const candidates = known !== undefined ? [known.home] : this.#o.clusterOrder();
      let last: InitResult = errorResult(ErrorCode.COORDINATOR_NOT_AVAILABLE);
      for (const cluster of candidates) {
        let res: InitResult;
        try {
          // A bump goes to the home under the ids kmp holds there (the coordinator then aborts the open transaction).
          res = await this.upstream.initProducerId(cluster, transactionalId, timeoutMs, client !== null && known !== undefined ? known.upstream : null, deadline, version);
        } catch (err) {
          this.log.warn({ transactionalId, cluster, err: String(err) }, 'InitProducerId: the cluster did not answer');
          continue;
        }
        if (res.errorCode !== ErrorCode.NONE) {
          last = res;
          if (known === undefined) continue;
          return res;
        }
        const p = this.#reinitialised(known, transactionalId, cluster, res, timeoutMs);
        await this.persist(p);
        this.changed();
        return { ...okResult(p), throttleTimeMs: res.throttleTimeMs };
      }
      return last;
    });
  }

  #reinitialised(known: TransactionalProducer | undefined, transactionalId: string, cluster: Cluster, res: InitResult, timeoutMs: number): TransactionalProducer {
    const upstream = { producerId: res.producerId, producerEpoch: res.producerEpoch };
    if (known === undefined) {
      const p = new TransactionalProducer({
        transactionalId,
        clientProducerId: this.#o.producerIds.clientPid(cluster, res.producerId),
        clientEpoch: res.producerEpoch,
        home: cluster,
        upstream,
        transactionTimeoutMs: timeoutMs,
      });
      this.#index(p);
      return p;
    }
    known.previousClientEpoch = known.clientEpoch;
    if (known.clientEpoch >= MAX_CLIENT_EPOCH) {
      // Epochs are exhausted: like a broker, hand out a new producer id (the new upstream one, marked by cluster).
      this.#byClientPid.delete(known.clientProducerId);
      known.clientProducerId = this.#o.producerIds.clientPid(cluster, res.producerId);
      known.clientEpoch = 0;
      known.previousClientEpoch = -1;
      this.#byClientPid.set(known.clientProducerId, known);
    } else {
      known.clientEpoch++;
    }
    known.transactionTimeoutMs = timeoutMs;
    known.newHomePeriod(cluster, upstream, true);
    known.ended(); // the coordinator aborted whatever was open
    known.stateKnown = true;
    return known;
  }

  /**
   * Moves an id with no open transaction to `to`: initialise there, persist, fence the old side. Throws when the
   * new cluster cannot initialise the id (nothing changed then). Call inside locked().
   */
  async rehome(p: TransactionalProducer, to: Cluster, reason: 'flip' | 'first-add'): Promise<void> {
    const from = p.home;
    if (from === to) return;
    const deadline = performance.now() + this.#initTimeoutMs;
    const res = await this.upstream.initProducerId(to, p.transactionalId, p.transactionTimeoutMs, null, deadline);
    if (res.errorCode !== ErrorCode.NONE) {
      throw new TransactionUpstreamError(`transactional id "${p.transactionalId}": InitProducerId on ${to} failed with error ${res.errorCode}`, res.errorCode);
    }
    p.newHomePeriod(to, { producerId: res.producerId, producerEpoch: res.producerEpoch }, false);
    await this.persist(p);
    this.metrics?.rehomes.inc({ from, to, reason });
    this.log.info({ transactionalId: p.transactionalId, from, to, reason, producerId: String(res.producerId), producerEpoch: res.producerEpoch }, 'transactional id moved to a new home');
    await this.fence(p.transactionalId, from, p.transactionTimeoutMs);
  }

  /**
   * InitProducerId for the id on its old cluster: its epoch there moves past anything a zombie holds (its next
   * request is fenced) and a transaction left open there is aborted. Failures are logged and counted, not thrown:
   * the move itself is already durable.
   */
  async fence(transactionalId: string, cluster: Cluster, timeoutMs: number): Promise<boolean> {
    try {
      const res = await this.upstream.initProducerId(cluster, transactionalId, timeoutMs, null, performance.now() + this.#initTimeoutMs);
      const ok = res.errorCode === ErrorCode.NONE;
      this.metrics?.fences.inc({ cluster, result: ok ? 'ok' : 'error' });
      if (!ok) this.log.warn({ transactionalId, cluster, errorCode: res.errorCode }, 'could not fence the old side of a transactional id');
      return ok;
    } catch (err) {
      this.metrics?.fences.inc({ cluster, result: 'error' });
      this.log.warn({ transactionalId, cluster, err: String(err) }, 'could not fence the old side of a transactional id');
      return false;
    }
  }

  /** The home a starting transaction should run on, given the clusters of the partitions it adds first. */
  homeFor(p: TransactionalProducer, clusters: readonly Cluster[]): Cluster {
    if (p.state !== 'ready' || clusters.length === 0) return p.home;
    if (clusters.includes(p.home)) return p.home;
    return clusters.every((c) => c === clusters[0]) ? clusters[0] : p.home;
  }

  inventory(now = performance.now()): TransactionInventoryEntry[] {
    return [...this.#byId.values()].map((p) => ({
      transactionalId: p.transactionalId,
      homeCluster: p.home,
      state: p.state,
      openForMs: p.openSince === null ? null : Math.round(now - p.openSince),
      partitionsInTransaction: p.partitions.size,
      coupledTopics: [...p.coupledTopics].sort(),
      commitsOffsets: p.commitsOffsets,
      groups: [...p.groups].sort(),
      committed: p.committed,
      aborted: p.aborted,
      producerId: String(p.clientProducerId),
      producerEpoch: p.clientEpoch,
    }));
  }

  #index(p: TransactionalProducer): void {
    this.#byId.set(p.transactionalId, p);
    this.#byClientPid.set(p.clientProducerId, p);
  }
}

export { other as otherCluster };

function errorResult(errorCode: number): InitResult {
  return { errorCode, producerId: -1n, producerEpoch: -1, throttleTimeMs: 0 };
}

function okResult(p: TransactionalProducer): InitResult {
  return { errorCode: ErrorCode.NONE, producerId: p.clientProducerId, producerEpoch: p.clientEpoch, throttleTimeMs: 0 };
}

// Transactions in a fleet without brokers: members share ids' state through a control topic kept in memory
// (src/fleet/transaction-log.ts behind src/transactions/fleet-transaction-store.ts).
// - a member that is not an id's owner maps a transactional batch exactly as the owner does, refuses an older
//   epoch at once, and answers what may be lag (unknown pid, newer epoch, a home that disagrees with the route)
//   retriably, for a bounded time only;
// - after a move between transactions every leader rebases sequences by the base the first leader agreed in the
//   log, so a new leader after a failover continues the upstream sequence instead of restarting it;
// - ownership is the rendezvous winner over live members; only the owner serves InitProducerId, AddPartitionsToTxn,
//   AddOffsetsToTxn and EndTxn (NOT_COORDINATOR elsewhere), and FindCoordinator on any member names it;
// - a member's flip guard does not let the barrier hold until every live member announced it drained its own ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { ErrorCode } from '../../protocol/kafka-errors.ts';
import { BatchAttribute, readBatchHeaders, type BatchView, type ProducerFields } from '../../protocol/record-batch.ts';
import type { Cluster } from '../../routing/cluster.ts';
import { RoutingError } from '../../routing/errors.ts';
import { rendezvousOwner } from '../../routing/fleet/rendezvous.ts';
import type { MoveHookInput } from '../../routing/move-hooks.ts';
import type { ClusterClient } from '../../src/upstream/cluster-client.ts';
import { FleetTransactionLog } from '../../src/fleet/transaction-log.ts';
import { ProducerIdMap } from '../../src/proxy/producer-id-map.ts';
import { PartitionWrite } from '../../src/proxy/produce/partition-write.ts';
import type { ProducerMapping } from '../../src/proxy/produce/produce-session.ts';
import { FleetTransactionStore } from '../../src/transactions/fleet-transaction-store.ts';
import { TransactionFlipGuard, type FleetDrain } from '../../src/transactions/transaction-flip-guard.ts';
import { coordinatorKey, fleetOwnership } from '../../src/transactions/transaction-ownership.ts';
import { STALE_GRACE_MS, transactionProduceConcern } from '../../src/transactions/transaction-produce-concern.ts';
import { TransactionRouter } from '../../src/transactions/transaction-router.ts';
import { CoordinatorKeyType, TransactionUpstream, type InitResult } from '../../src/transactions/transaction-upstream.ts';
import type { UpstreamIds } from '../../src/transactions/transactional-producer.ts';
import { buildBatch } from '../support/build-batch.ts';
import { decodeResponse, encodeRequestFrame } from '../../protocol/codec.ts';
import { decodeRequestHeader } from '../../protocol/header.ts';
import { ApiKey, type RequestBody } from '../../protocol/messages/index.ts';
import { defaultAddPartitionsToTxnRequest } from '../../protocol/messages/add-partitions-to-txn-request.ts';
import { defaultAddOffsetsToTxnRequest } from '../../protocol/messages/add-offsets-to-txn-request.ts';
import { defaultEndTxnRequest } from '../../protocol/messages/end-txn-request.ts';
import { defaultFindCoordinatorRequest } from '../../protocol/messages/find-coordinator-request.ts';
import { defaultInitProducerIdRequest } from '../../protocol/messages/init-producer-id-request.ts';
import type { Handler, RequestContext } from '../../src/proxy/handler.ts';
import { createTransactionHandlers } from '../../src/transactions/transaction-handlers.ts';
import { MemoryControlLog } from '../support/memory-control-log.ts';

const silent = pino({ level: 'silent' });

/** One coordinator per cluster for the whole fleet: InitProducerId keeps one pid per (cluster, id), bumps its epoch. */
class FakeUpstream extends TransactionUpstream {
  readonly calls: string[] = [];
  readonly pids = new Map<string, UpstreamIds>();
  #next = 100n;

  constructor() {
    // Every method that would reach a cluster is overridden below: no cluster client is ever used.
    super({} as Record<Cluster, ClusterClient>);
  }

  override async initProducerId(cluster: Cluster, transactionalId: string): Promise<InitResult> {
    this.calls.push(`init ${cluster} ${transactionalId}`);
    const key = `${cluster}/${transactionalId}`;
    const known = this.pids.get(key);
    const next = known === undefined ? { producerId: this.#next++, producerEpoch: 0 } : { producerId: known.producerId, producerEpoch: known.producerEpoch + 1 };
    this.pids.set(key, next);
    return { errorCode: ErrorCode.NONE, ...next, throttleTimeMs: 0 };
  }

  override async unstablePartitions(): Promise<string[]> {
    return [];
  }
}

interface Member {
  name: string;
  log: FleetTransactionLog;
  router: TransactionRouter;
  concern: ReturnType<typeof transactionProduceConcern>;
}

async function fleetOf(names: string[], ownerOf: (key: string) => string, clock: { now: number }, routes: Record<string, Cluster> = {}) {
  const control = new MemoryControlLog();
  const upstream = new FakeUpstream();
  const members: Member[] = [];
  for (const name of names) {
    const log = new FleetTransactionLog({ log: control, topic: 'kmp.transactions', lane: 5, logger: silent });
    await log.start();
    const router = new TransactionRouter({
      upstream,
      producerIds: new ProducerIdMap({ defaultCluster: 'source', allocate: async () => ({ producerId: 1n, producerEpoch: 0 }) }),
      clusterOf: (t) => routes[t] ?? 'source',
      clusterOrder: () => ['source', 'target'],
      store: new FleetTransactionStore(log),
      metrics: null,
      log: silent,
      ownership: fleetOwnership((key) => ({ member: ownerOf(key), node: { nodeId: names.indexOf(ownerOf(key)), host: `kmp-${ownerOf(key)}`, port: 9092 } }), name),
    });
    members.push({ name, log, router, concern: transactionProduceConcern(router, () => clock.now) });
  }
  return { control, upstream, members, stop: () => Promise.all(members.map((m) => m.log.stop())) };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (const deadline = Date.now() + 2_000; !check();) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

function write(topic: string, partition: number, spec: { producerId: bigint; producerEpoch: number; baseSequence: number }, cluster: Cluster = 'source'): PartitionWrite {
  const records = buildBatch({ ...spec, attributes: BatchAttribute.transactional, records: [{ value: 'v' }, { value: 'w' }] });
  const w = new PartitionWrite(topic, partition, records);
  w.batches = readBatchHeaders(records) as BatchView[];
  w.cluster = cluster;
  return w;
}

function mapped(m: Member, w: PartitionWrite): ProducerFields | { errorCode: number; message: string } {
  const r = m.concern.mapProducer!(w);
  if (r === undefined) throw new Error('not a transactional batch');
  return typeof r === 'function' ? (r as ProducerMapping)(w.batches[0]) : r;
}

test('a member that does not own an id maps its batches as the owner does; lag is answered retriably, for a bounded time', async () => {
  const clock = { now: 0 };
  const { members, stop } = await fleetOf(['A', 'B'], () => 'A', clock);
  const [a, b] = members;
  try {
    const init = await a.router.init('app', 60_000, null, 4);
    assert.equal(init.errorCode, ErrorCode.NONE);
    const ids = { producerId: init.producerId, producerEpoch: init.producerEpoch };
    await until(() => b.router.get('app') !== undefined, 'B reads the id');
    const seen = b.router.get('app')!;
    assert.equal(seen.stateKnown, false, 'B never saw its transactions start');
    assert.equal(b.router.owns('app'), false);
    assert.equal(a.router.owns('app'), true);
    // B leads the partition: same upstream ids as the owner holds, sequence as the client's (aligned period).
    assert.equal(b.concern.refuse!(write('t', 0, { ...ids, baseSequence: 0 })), null, 'B does not check the partitions of a transaction it cannot see');
    assert.deepEqual(mapped(b, write('t', 0, { ...ids, baseSequence: 4 })), { producerId: 100n, producerEpoch: 0, baseSequence: 4 });
    // A's own view is authoritative: the partition was not added to a transaction there.
    assert.equal(a.concern.refuse!(write('t', 0, { ...ids, baseSequence: 0 }))!.errorCode, ErrorCode.TRANSACTION_ABORTABLE);

    // The client re-initialised through A; B has not read it yet → retriable; an older epoch is certain.
    const again = await a.router.init('app', 60_000, null, 4);
    const newer = { producerId: again.producerId, producerEpoch: again.producerEpoch };
    await until(() => b.router.get('app')!.clientEpoch === newer.producerEpoch, 'B reads the bump');
    assert.equal(b.concern.refuse!(write('t', 1, { ...ids, baseSequence: 9 }))!.errorCode, ErrorCode.INVALID_PRODUCER_EPOCH);
    assert.deepEqual(mapped(b, write('t', 1, { ...newer, baseSequence: 0 })), { producerId: 100n, producerEpoch: 1, baseSequence: 0 });
    const future = write('t', 2, { ...newer, producerEpoch: newer.producerEpoch + 1, baseSequence: 0 });
    assert.equal(b.concern.refuse!(future)!.errorCode, ErrorCode.NOT_ENOUGH_REPLICAS, 'an epoch B has not read yet may be lag');
    clock.now += STALE_GRACE_MS + 1;
    assert.equal(b.concern.refuse!(future)!.errorCode, ErrorCode.INVALID_PRODUCER_EPOCH, 'a disagreement past the grace is real');
    assert.equal(b.concern.refuse!(write('t', 0, { producerId: 999n, producerEpoch: 0, baseSequence: 0 }))!.errorCode, ErrorCode.NOT_ENOUGH_REPLICAS, 'a pid not read yet');
  } finally {
    await stop();
  }
});

test('after a move between transactions, leaders agree on each partition\'s sequence base through the log; a new leader continues it', async () => {
  const clock = { now: 0 };
  const routes: Record<string, Cluster> = {};
  const { members, upstream, stop } = await fleetOf(['A', 'B', 'C'], () => 'A', clock, routes);
  const [a, b, c] = members;
  try {
    const init = await a.router.init('app', 60_000, null, 4);
    const ids = { producerId: init.producerId, producerEpoch: init.producerEpoch };
    const p = a.router.get('app')!;
    p.coupledTopics.add('t');
    await a.router.locked('app', () => a.router.rehome(p, 'target', 'flip'));
    assert.deepEqual(upstream.calls, ['init source app', 'init target app', 'init source app'], 'initialised on the new cluster, then fenced on the old one');
    routes.t = 'target';
    await until(() => b.router.get('app')?.home === 'target' && c.router.get('app')?.home === 'target', 'B and C read the move');
    assert.equal(b.router.get('app')!.aligned, false);
    // B leads t-0: the client's sequences run on (17 here); the first batch waits for the base to be agreed.
    const first = write('t', 0, { ...ids, baseSequence: 17 }, 'target');
    assert.equal((mapped(b, first) as { errorCode: number }).errorCode, ErrorCode.NOT_ENOUGH_REPLICAS);
    await until(() => b.log.sequenceBase(`${b.router.get('app')!.periodKey}/t/0`) !== undefined, 'the base in the log');
    assert.deepEqual(mapped(b, first), { producerId: 101n, producerEpoch: 0, baseSequence: 0 });
    assert.deepEqual(mapped(b, write('t', 0, { ...ids, baseSequence: 19 }, 'target')), { producerId: 101n, producerEpoch: 0, baseSequence: 2 });
    // B dies; C leads t-0 now and first sees sequence 21: it rebases by the agreed 17, not by 21.
    await until(() => c.log.sequenceBase(`${c.router.get('app')!.periodKey}/t/0`) !== undefined, 'C reads the base');
    assert.deepEqual(mapped(c, write('t', 0, { ...ids, baseSequence: 21 }, 'target')), { producerId: 101n, producerEpoch: 0, baseSequence: 4 });
    // On a member that does not own the id, a home that disagrees with the route may be lag: retriable first.
    routes.u = 'source';
    assert.equal(c.concern.refuse!(write('u', 0, { ...ids, baseSequence: 0 }))!.errorCode, ErrorCode.NOT_ENOUGH_REPLICAS);
  } finally {
    await stop();
  }
});

test('ownership is the rendezvous winner over live members; a member leaving moves only its own ids', () => {
  const live = ['kmp-0', 'kmp-1', 'kmp-2'];
  const ids = Array.from({ length: 300 }, (_, i) => `app-${i}`);
  const owner = (members: string[], id: string) => rendezvousOwner(members, coordinatorKey(CoordinatorKeyType.TRANSACTION, id));
  const counts = new Map<string, number>();
  for (const id of ids) counts.set(owner(live, id)!, (counts.get(owner(live, id)!) ?? 0) + 1);
  for (const m of live) assert.ok((counts.get(m) ?? 0) > 60, `ids spread over the members: ${JSON.stringify([...counts])}`);
  for (const id of ids) {
    const before = owner(live, id)!;
    const after = owner(['kmp-0', 'kmp-2'], id)!;
    if (before !== 'kmp-1') assert.equal(after, before, `${id} moved although its owner stayed`);
  }
  const own = fleetOwnership((key) => ({ member: rendezvousOwner(live, key)!, node: { nodeId: 1, host: 'h', port: 1 } }), 'kmp-1');
  assert.equal(own.owns(coordinatorKey(1, 'app-0')), owner(live, 'app-0') === 'kmp-1');
});

function moveOf(topics: string[], moveId: string, signal = new AbortController().signal): MoveHookInput {
  return { label: `flip of ${topics.join(',')}`, from: 'source', to: 'target', topics, moving: (t) => topics.includes(t), signal, moveId };
}

function drainOf(m: Member, live: string[]): FleetDrain {
  return {
    member: m.name,
    live: () => live,
    announce: (moveId) => m.log.announceDrained(moveId, m.name),
    drained: (moveId) => m.log.drainedMembers(moveId),
    onDrained: (l) => m.log.onDrained(l),
  };
}

test('flip guard in a fleet: no member holds before every live member drained the ids it owns; the bound names who did not', async () => {
  const clock = { now: 0 };
  const { members, stop } = await fleetOf(['A', 'B'], () => 'A', clock);
  const [a, b] = members;
  try {
    await a.router.init('app', 60_000, null, 4);
    await until(() => b.router.get('app') !== undefined, 'B reads the id');
    const p = a.router.get('app')!;
    p.added('t', 0, performance.now());
    const guardA = new TransactionFlipGuard(a.router, { drainMs: 5_000, pollMs: 5, fleet: drainOf(a, ['A', 'B']) });
    const guardB = new TransactionFlipGuard(b.router, { drainMs: 5_000, pollMs: 5, fleet: drainOf(b, ['A', 'B']) });
    let bReady = false;
    const holdB = guardB.beforeHold(moveOf(['t'], 'm1')).then((g) => ((bReady = true), g));
    const holdA = guardA.beforeHold(moveOf(['t'], 'm1'));
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(bReady, false, 'B waits: the owner A still has a transaction open on a moving topic');
    p.ended();
    a.router.changed();
    const [ga, gb] = await Promise.all([holdA, holdB]);
    assert.ok(bReady);
    await ga!.beforeSwitch!();
    await gb!.beforeSwitch!();
    ga!.release(true);
    gb!.release(true);
    assert.deepEqual([guardA.history.at(-1)?.rehomed, guardB.history.at(-1)?.rehomed], [['app'], []], 'only the owner moves the id');
    // A member that never announces: the move aborts at the bound, naming it.
    const lonely = new TransactionFlipGuard(b.router, { drainMs: 80, pollMs: 5, fleet: drainOf(b, ['A', 'B']) });
    await assert.rejects(lonely.beforeHold(moveOf(['t'], 'm2')), (err: unknown) => err instanceof RoutingError && err.status === 503 && /member\(s\) A did not drain/.test(err.message));
  } finally {
    await stop();
  }
});

test('two members proposing one sequence base: the first record wins on both and on a member started later', async () => {
  const control = new MemoryControlLog();
  const [x, y] = [0, 1].map(() => new FleetTransactionLog({ log: control, topic: 'kmp.transactions', lane: 5, logger: silent }));
  await Promise.all([x.start(), y.start()]);
  try {
    const [fromX, fromY] = await Promise.all([x.proposeSequenceBase('app/target/7/0/t/0', 17), y.proposeSequenceBase('app/target/7/0/t/0', 21)]);
    assert.equal(fromX, fromY, 'both members agree');
    const keys = control.topics.get('kmp.transactions')!.map((r) => r.key);
    assert.equal(new Set(keys).size, 2, 'each proposal has its own key, so compaction keeps the first one too');
    const later = new FleetTransactionLog({ log: control, topic: 'kmp.transactions', lane: 5, logger: silent });
    await later.start();
    assert.equal(later.sequenceBase('app/target/7/0/t/0'), fromX);
    await later.stop();
  } finally {
    await Promise.all([x.stop(), y.stop()]);
  }
});

/** Runs a handler on an encoded request and decodes its answer (handlers may answer later). */
async function call(handler: Handler | ((ctx: RequestContext, respond: Parameters<Handler>[1]) => void), apiKey: ApiKey, version: number, body: RequestBody): Promise<Record<string, unknown>> {
  const frame = Buffer.concat(encodeRequestFrame({ requestApiKey: apiKey, requestApiVersion: version, correlationId: 5, clientId: 'test' }, body)).subarray(4);
  const { header, bodyOffset } = decodeRequestHeader(frame);
  // Only what the transaction handlers read of a connection.
  const connection = { id: 1, log: silent, auth: null, advertisedNodes: undefined } as unknown as RequestContext['connection'];
  const answer = new Promise<Buffer[]>((resolve, reject) => {
    void handler({ header, frame, bodyOffset, connection }, { send: resolve, none: () => reject(new Error('no answer')), close: (r) => reject(new Error(r)) });
  });
  return decodeResponse(Buffer.concat(await answer).subarray(4), apiKey, version).body as unknown as Record<string, unknown>;
}

test('handlers in a fleet: only the owner serves an id (NOT_COORDINATOR elsewhere); FindCoordinator names the owner on every member', async () => {
  const names = ['A', 'B'];
  const ownerOf = (key: string) => rendezvousOwner(names, key)!;
  let id = 'app-0';
  for (let n = 1; ownerOf(coordinatorKey(CoordinatorKeyType.TRANSACTION, id)) !== 'A'; n++) id = `app-${n}`;
  const { members, stop } = await fleetOf(names, ownerOf, { now: 0 });
  const [a, b] = members;
  try {
    const guard = new TransactionFlipGuard(b.router, { drainMs: 1_000 });
    const hb = createTransactionHandlers(b.router, guard);
    const ha = createTransactionHandlers(a.router, new TransactionFlipGuard(a.router, { drainMs: 1_000 }));
    const init = (h: typeof hb) => (ctx: RequestContext, respond: Parameters<Handler>[1]) => h.initProducerId(ctx, respond, id, 60_000, null);
    const initBody = { ...defaultInitProducerIdRequest(), transactionalId: id, transactionTimeoutMs: 60_000, producerId: -1n, producerEpoch: -1 };
    assert.equal((await call(init(hb), ApiKey.InitProducerId, 4, initBody)).errorCode, ErrorCode.NOT_COORDINATOR);
    const ok = await call(init(ha), ApiKey.InitProducerId, 4, initBody);
    assert.equal(ok.errorCode, ErrorCode.NONE);
    const ids = { producerId: ok.producerId as bigint, producerEpoch: ok.producerEpoch as number };
    await until(() => b.router.get(id) !== undefined, 'B reads the id');
    const add = { ...defaultAddPartitionsToTxnRequest(), v3AndBelowTransactionalId: id, v3AndBelowProducerId: ids.producerId, v3AndBelowProducerEpoch: ids.producerEpoch, v3AndBelowTopics: [{ name: 't', partitions: [0, 1] }] };
    const added = await call(hb.addPartitionsToTxn, ApiKey.AddPartitionsToTxn, 3, add) as { resultsByTopicV3AndBelow: { resultsByPartition: { partitionErrorCode: number }[] }[] };
    assert.deepEqual(added.resultsByTopicV3AndBelow[0].resultsByPartition.map((r) => r.partitionErrorCode), [ErrorCode.NOT_COORDINATOR, ErrorCode.NOT_COORDINATOR]);
    assert.equal((await call(hb.addOffsetsToTxn, ApiKey.AddOffsetsToTxn, 3, { ...defaultAddOffsetsToTxnRequest(), transactionalId: id, ...ids, groupId: 'g' })).errorCode, ErrorCode.NOT_COORDINATOR);
    assert.equal((await call(hb.endTxn, ApiKey.EndTxn, 3, { ...defaultEndTxnRequest(), transactionalId: id, ...ids, committed: true })).errorCode, ErrorCode.NOT_COORDINATOR);
    // FindCoordinator on B names A (node 0) for the id; a group the id commits goes to the id's owner too.
    const find = (keyType: number, key: string) => call(hb.findCoordinator(() => [{ nodeId: 0, host: 'kmp-A', port: 9092 }, { nodeId: 1, host: 'kmp-B', port: 9092 }]), ApiKey.FindCoordinator, 3, { ...defaultFindCoordinatorRequest(), key, keyType });
    assert.deepEqual(await find(CoordinatorKeyType.TRANSACTION, id).then((r) => [r.errorCode, r.nodeId, r.host]), [ErrorCode.NONE, 0, 'kmp-A']);
    let group = 'g-0';
    for (let n = 1; ownerOf(coordinatorKey(CoordinatorKeyType.GROUP, group)) !== 'B'; n++) group = `g-${n}`;
    assert.equal((await find(CoordinatorKeyType.GROUP, group)).nodeId, 1, 'a group no id is known to commit: its own rendezvous owner');
    b.router.get(id)!.groups.add(group);
    assert.equal((await find(CoordinatorKeyType.GROUP, group)).nodeId, 0, "a group the id commits: the id's owner");
  } finally {
    await stop();
  }
});

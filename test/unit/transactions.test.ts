// The transaction pieces without brokers: client-facing ids and epochs (InitProducerId, KIP-360 bumps), moves of
// an id between clusters (initialise on the new one, persist, fence the old one), the flip guard (pre-flight
// refusals, held starts, the drain and its bound, the rehome before the switch), and the Produce concern
// (refusals, producer id/epoch mapping, sequences rebased per home period).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { ErrorCode } from '../../protocol/kafka-errors.ts';
import { BatchAttribute, readBatchHeaders, type BatchView } from '../../protocol/record-batch.ts';
import type { Cluster } from '../../routing/cluster.ts';
import { RoutingError } from '../../routing/errors.ts';
import type { MoveHookInput } from '../../routing/move-hooks.ts';
import type { ClusterClient } from '../../src/upstream/cluster-client.ts';
import { ProducerIdMap } from '../../src/proxy/producer-id-map.ts';
import { PartitionWrite } from '../../src/proxy/produce/partition-write.ts';
import { TransactionRouter } from '../../src/transactions/transaction-router.ts';
import { TransactionFlipGuard } from '../../src/transactions/transaction-flip-guard.ts';
import { transactionProduceConcern } from '../../src/transactions/transaction-produce-concern.ts';
import { MemoryTransactionStore } from '../../src/transactions/transaction-store.ts';
import { TransactionUpstream, type InitResult } from '../../src/transactions/transaction-upstream.ts';
import { TransactionalProducer, type UpstreamIds } from '../../src/transactions/transactional-producer.ts';
import { buildBatch } from '../support/build-batch.ts';

/** A coordinator per cluster in memory: InitProducerId keeps one pid per (cluster, id) and bumps its epoch. */
class FakeUpstream extends TransactionUpstream {
  readonly calls: string[] = [];
  readonly pids = new Map<string, UpstreamIds>();
  unstable: string[] = [];
  #next = 100n;

  constructor() {
    // Every method that would reach a cluster is overridden below: no cluster client is ever used.
    super({} as Record<Cluster, ClusterClient>);
  }

  override async initProducerId(cluster: Cluster, transactionalId: string, _timeoutMs: number, current: UpstreamIds | null): Promise<InitResult> {
    this.calls.push(`init ${cluster} ${transactionalId}${current === null ? '' : ` bump ${current.producerEpoch}`}`);
    const key = `${cluster}/${transactionalId}`;
    const known = this.pids.get(key);
    const next = known === undefined ? { producerId: this.#next++, producerEpoch: 0 } : { producerId: known.producerId, producerEpoch: known.producerEpoch + 1 };
    this.pids.set(key, next);
    return { errorCode: ErrorCode.NONE, ...next, throttleTimeMs: 0 };
  }

  override async unstablePartitions(cluster: Cluster, topics: readonly string[]): Promise<string[]> {
    this.calls.push(`lso ${cluster} ${[...topics].sort().join(',')}`);
    return this.unstable;
  }
}

function setup(routes: Record<string, Cluster> = {}) {
  const upstream = new FakeUpstream();
  const saved: string[] = [];
  const store = new MemoryTransactionStore();
  store.save = async (p: TransactionalProducer) => {
    saved.push(`${p.transactionalId}@${p.home}`);
  };
  const router = new TransactionRouter({
    upstream,
    producerIds: new ProducerIdMap({ defaultCluster: 'source', allocate: async () => ({ producerId: 1n, producerEpoch: 0 }) }),
    clusterOf: (t) => routes[t] ?? 'source',
    clusterOrder: () => ['source', 'target'],
    store,
    metrics: null,
    log: pino({ level: 'silent' }),
  });
  return { upstream, router, saved, routes };
}

function moveOf(topics: string[], from: Cluster, to: Cluster, signal = new AbortController().signal): MoveHookInput {
  return { label: `flip of ${topics.join(',')}`, from, to, topics, moving: (t) => topics.includes(t), signal };
}

test('InitProducerId: one client producer id per transactional id, an epoch kmp advances, KIP-360 bumps checked', async () => {
  const { router, upstream } = setup();
  const first = await router.init('app', 60_000, null, 4);
  assert.deepEqual(first, { errorCode: ErrorCode.NONE, producerId: 100n, producerEpoch: 0, throttleTimeMs: 0 });
  const again = await router.init('app', 60_000, null, 4);
  assert.deepEqual([again.producerId, again.producerEpoch], [100n, 1]);
  // A bump from the current epoch goes to the home under kmp's upstream ids.
  const bumped = await router.init('app', 60_000, { producerId: 100n, producerEpoch: 1 }, 4);
  assert.deepEqual([bumped.errorCode, bumped.producerEpoch], [ErrorCode.NONE, 2]);
  assert.equal(upstream.calls.at(-1), 'init source app bump 1');
  // The same bump retried gets the same answer; an older epoch is fenced; a foreign pid is unknown.
  assert.equal((await router.init('app', 60_000, { producerId: 100n, producerEpoch: 1 }, 4)).producerEpoch, 2);
  assert.equal((await router.init('app', 60_000, { producerId: 100n, producerEpoch: 0 }, 4)).errorCode, ErrorCode.PRODUCER_FENCED);
  assert.equal((await router.init('app', 60_000, { producerId: 7n, producerEpoch: 2 }, 4)).errorCode, ErrorCode.INVALID_PRODUCER_ID_MAPPING);
});

test('rehome: initialise on the new cluster, persist, then fence the old one; the client ids stay', async () => {
  const { router, upstream, saved } = setup();
  await router.init('app', 60_000, null, 4);
  const p = router.get('app')!;
  upstream.calls.length = 0;
  await router.locked('app', () => router.rehome(p, 'target', 'flip'));
  assert.deepEqual(upstream.calls, ['init target app', 'init source app']);
  assert.deepEqual(saved.at(-1), 'app@target');
  assert.deepEqual([p.home, p.upstream.producerId, p.clientProducerId, p.clientEpoch], ['target', 101n, 100n, 0]);
});

test('sequences: a period the client started keeps its sequences; a move rebases per partition from the first batch, wrapping like Kafka', () => {
  const { router } = setup();
  const p = new TransactionalProducer({ transactionalId: 'x', clientProducerId: 1n, clientEpoch: 0, home: 'source', upstream: { producerId: 1n, producerEpoch: 0 }, transactionTimeoutMs: 1 });
  const upstreamSeq = (t: string, partition: number, seq: number): number => TransactionalProducer.rebase(seq, router.sequenceBase(p, t, partition, seq)!);
  assert.equal(upstreamSeq('t', 0, 5), 5, 'aligned with the client InitProducerId: base 0, even for a first batch seen late (a new leader)');
  p.newHomePeriod('target', { producerId: 9n, producerEpoch: 3 }, false);
  assert.equal(upstreamSeq('t', 0, 17), 0);
  assert.equal(upstreamSeq('t', 0, 20), 3);
  assert.equal(upstreamSeq('t', 1, 40), 0);
  p.newHomePeriod('source', { producerId: 1n, producerEpoch: 1 }, false);
  assert.equal(upstreamSeq('t', 0, 2 ** 31 - 2), 0);
  assert.equal(upstreamSeq('t', 0, 1), 3, 'the client wrapped from Int32.MAX_VALUE to 0');
  p.newHomePeriod('source', { producerId: 1n, producerEpoch: 2 }, true);
  assert.equal(upstreamSeq('t', 0, 3), 3);
});

test('pre-flight: a split transaction group and a consume-transform-produce id are refused, naming them', async () => {
  const { router, routes } = setup({ b: 'source', c: 'target' });
  await router.init('pair', 1, null, 4);
  await router.init('ctp', 1, null, 4);
  await router.init('together', 1, null, 4);
  router.get('pair')!.coupledTopics.add('a').add('b');
  router.get('ctp')!.coupledTopics.add('a');
  router.get('ctp')!.groups.add('g1');
  router.get('together')!.coupledTopics.add('a').add('c');
  const guard = new TransactionFlipGuard(router, { drainMs: 1_000 });
  const { refusals } = await guard.preflight(['a'], 'source', 'target');
  assert.equal(refusals.length, 2, refusals.join('\n'));
  assert.match(refusals[0], /splits a transaction group: transactional id "pair" writes a \(in the wave\) and b \(outside it\)/);
  assert.match(refusals[1], /"ctp" commits consumer offsets of group\(s\) g1 .*consume-transform-produce/);
  routes.b = 'target';
  assert.equal((await guard.preflight(['a'], 'source', 'target')).refusals.length, 1, 'b already on the target: no split');
});

test('flip guard: holds new starts, waits for open transactions, reads the last stable offsets, rehomes before the switch', async () => {
  const { router, upstream } = setup();
  await router.init('app', 1, null, 4);
  await router.init('other', 1, null, 4);
  const p = router.get('app')!;
  p.added('a', 0, performance.now());
  const o = router.get('other')!;
  o.coupledTopics.add('z');
  const guard = new TransactionFlipGuard(router, { drainMs: 5_000, pollMs: 5 });
  let guarded = false;
  const hold = guard.beforeHold(moveOf(['a'], 'source', 'target')).then((g) => {
    guarded = true;
    return g;
  });
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(guarded, false, 'waits while the transaction on a moving topic is open');
  // A start on a moving topic by another id is held; one on a topic that stays is not.
  const fresh = new TransactionalProducer({ transactionalId: 'n', clientProducerId: 5n, clientEpoch: 0, home: 'source', upstream: { producerId: 5n, producerEpoch: 0 }, transactionTimeoutMs: 1 });
  const held = guard.holdStart(fresh, ['a']);
  assert.notEqual(held, null);
  assert.equal(guard.holdStart(fresh, ['z']), null);
  assert.equal(guard.holdStart(p, ['a']), null, 'the open transaction on the moving topic finishes on the old cluster');
  p.ended();
  router.changed();
  const g = (await hold)!;
  assert.ok(upstream.calls.includes('lso source a'));
  upstream.calls.length = 0;
  await g.beforeSwitch!();
  assert.deepEqual(upstream.calls, ['init target app', 'init source app'], 'only the id coupled to the wave moves');
  assert.equal(router.get('other')!.home, 'source');
  let released = false;
  void held!.then(() => (released = true));
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(released, false);
  g.release(true);
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(released, true);
  assert.deepEqual(guard.history.at(-1)?.rehomed, ['app']);
});

test('flip guard: an open transaction past the bound aborts the move, naming the id; markers not landed too', async () => {
  const { router, upstream } = setup();
  await router.init('slow', 1, null, 4);
  router.get('slow')!.added('a', 0, performance.now());
  const guard = new TransactionFlipGuard(router, { drainMs: 60, pollMs: 5 });
  await assert.rejects(guard.beforeHold(moveOf(['a'], 'source', 'target')), (err: unknown) => err instanceof RoutingError && err.status === 503 && /"slow" \(open \d+ ms on source\)/.test(err.message));
  assert.equal(guard.holdStart(router.get('slow')!, ['a']), null, 'nothing stays held after the abort');
  router.get('slow')!.ended();
  upstream.unstable = ['a-0 (last stable offset 3 < log end 5)'];
  await assert.rejects(guard.beforeHold(moveOf(['a'], 'source', 'target')), /a-0 \(last stable offset 3 < log end 5\)/);
  assert.deepEqual(guard.history.map((h) => h.outcome), ['timeout', 'timeout']);
});

function write(topic: string, partition: number, spec: { producerId: bigint; producerEpoch: number; baseSequence: number; transactional?: boolean }): PartitionWrite {
  const records = buildBatch({ ...spec, attributes: spec.transactional === false ? 0 : BatchAttribute.transactional, records: [{ value: 'v' }, { value: 'w' }] });
  const w = new PartitionWrite(topic, partition, records);
  w.batches = readBatchHeaders(records) as BatchView[];
  return w;
}

test('Produce concern: refuses what is not in the transaction or routed elsewhere; maps ids and rebases sequences', async () => {
  const { router, routes } = setup();
  await router.init('app', 1, null, 4);
  const p = router.get('app')!;
  const concern = transactionProduceConcern(router);
  const ids = { producerId: p.clientProducerId, producerEpoch: 0 };
  assert.equal(concern.refuse!(write('a', 0, { ...ids, baseSequence: 7, transactional: false })), null, 'not a transactional batch');
  assert.match(concern.refuse!(write('a', 0, { ...ids, baseSequence: 7 }))!.message, /was not added to the transaction/);
  assert.equal(concern.refuse!(write('a', 0, { producerId: 999n, producerEpoch: 0, baseSequence: 0 }))!.errorCode, ErrorCode.TRANSACTION_ABORTABLE);
  assert.equal(concern.refuse!(write('a', 0, { producerId: ids.producerId, producerEpoch: 3, baseSequence: 0 }))!.errorCode, ErrorCode.INVALID_PRODUCER_EPOCH);
  p.added('a', 0, performance.now());
  routes.a = 'target';
  assert.match(concern.refuse!(write('a', 0, { ...ids, baseSequence: 7 }))!.message, /routed to target but the transaction of "app" runs on source/);
  routes.a = 'source';
  const w = write('a', 0, { ...ids, baseSequence: 7 });
  assert.equal(concern.refuse!(w), null);
  w.cluster = 'source';
  p.newHomePeriod('source', { producerId: 4242n, producerEpoch: 9 }, false);
  const mapping = concern.mapProducer!(w);
  assert.equal(typeof mapping, 'function');
  assert.deepEqual((mapping as (b: BatchView) => unknown)(w.batches[0]), { producerId: 4242n, producerEpoch: 9, baseSequence: 0 });
  const later = write('a', 0, { ...ids, baseSequence: 9 });
  later.cluster = 'source';
  assert.deepEqual((concern.mapProducer!(later) as (b: BatchView) => unknown)(later.batches[0]), { producerId: 4242n, producerEpoch: 9, baseSequence: 2 });
  later.cluster = 'target';
  assert.match((concern.mapProducer!(later) as { message: string }).message, /routed to target/);
});

test('the transaction store keeps the newest line per id, compacts at load and skips a torn last line', async () => {
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kmp-txn-store-')), 'state.transactions.jsonl');
  const { FileTransactionStore } = await import('../../src/transactions/transaction-store.ts');
  const store = new FileTransactionStore(file);
  const p = new TransactionalProducer({ transactionalId: 'app', clientProducerId: 7n, clientEpoch: 2, home: 'source', upstream: { producerId: 7n, producerEpoch: 2 }, transactionTimeoutMs: 60_000 });
  await store.save(p);
  p.newHomePeriod('target', { producerId: 900n, producerEpoch: 0 }, false);
  p.coupledTopics.add('orders');
  p.groups.add('g');
  await store.save(p);
  fs.appendFileSync(file, '{"transactionalId":"torn"');
  const [loaded, ...rest] = new FileTransactionStore(file).load();
  assert.equal(rest.length, 0);
  assert.deepEqual(
    [loaded.transactionalId, loaded.clientProducerId, loaded.clientEpoch, loaded.home, loaded.upstream, [...loaded.coupledTopics], [...loaded.groups]],
    ['app', 7n, 2, 'target', { producerId: 900n, producerEpoch: 0 }, ['orders'], ['g']],
  );
  assert.equal(fs.readFileSync(file, 'utf8').trim().split('\n').length, 1, 'compacted to one line per id');
});

test('kmp transactions: a row per id and per flip', async () => {
  const { formatTransactions } = await import('../../src/transactions/format.ts');
  const text = formatTransactions({
    transactionalIds: [{ transactionalId: 'app', homeCluster: 'target', state: 'open', openForMs: 120, partitionsInTransaction: 2, coupledTopics: ['a', 'b'], commitsOffsets: true, groups: ['g'], committed: 3, aborted: 1, producerId: '7', producerEpoch: 0 }],
    flips: [{ label: 'flip of batch "w"', waitedMs: 40, waitedFor: ['app'], outcome: 'ok', rehomed: ['app'] }],
  });
  assert.match(text, /app\s+target\s+open\s+120 ms\s+a,b\s+yes \(g\)\s+3\s+1/);
  assert.match(text, /flip of batch "w"\s+ok\s+40 ms\s+app\s+app/);
  assert.equal(formatTransactions({ transactionalIds: [], flips: [] }), 'no transactional producers seen yet');
});

test('the transaction store keeps the sequence bases of each id\'s current period across a restart, and drops older ones', async () => {
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kmp-txn-bases-')), 'state.transactions.jsonl');
  const { FileTransactionStore } = await import('../../src/transactions/transaction-store.ts');
  const store = new FileTransactionStore(file);
  const p = new TransactionalProducer({ transactionalId: 'a/pp', clientProducerId: 7n, clientEpoch: 2, home: 'source', upstream: { producerId: 7n, producerEpoch: 2 }, transactionTimeoutMs: 60_000 });
  p.newHomePeriod('target', { producerId: 900n, producerEpoch: 0 }, false);
  await store.save(p);
  const stale = `${p.transactionalId}/source/7/2/t/0`;
  assert.equal(await store.sequenceBases.propose(stale, 3), 3);
  const key = `${p.periodKey}/t/0`;
  assert.equal(await store.sequenceBases.propose(key, 17), 17);
  assert.equal(await store.sequenceBases.propose(key, 40), 17, 'the first base of a key holds');
  const again = new FileTransactionStore(file);
  const [loaded] = again.load();
  assert.equal(loaded.aligned, false);
  assert.equal(again.sequenceBases.get(key), 17, 'the base survives the restart');
  assert.equal(again.sequenceBases.get(stale), undefined, 'a base of an older period is compacted away');
  // The router uses it: the first batch after the restart is rebased as before (21 - 17 = 4), not restarted at 0.
  const router = new TransactionRouter({
    upstream: new FakeUpstream(),
    producerIds: new ProducerIdMap({ defaultCluster: 'source', allocate: async () => ({ producerId: 1n, producerEpoch: 0 }) }),
    clusterOf: () => 'target',
    clusterOrder: () => ['source', 'target'],
    store: again,
    metrics: null,
    log: pino({ level: 'silent' }),
  });
  const restored = router.get('a/pp')!;
  assert.equal(TransactionalProducer.rebase(21, router.sequenceBase(restored, 't', 0, 21)!), 4);
  assert.equal(router.sequenceBase(restored, 't', 1, 5), null, 'a new partition waits until its base is durable');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(router.sequenceBase(restored, 't', 1, 9), 5);
});

test('flip guard, openTransactionsAtBound abort-transactions: at the bound the open transaction is asked to abort; the flip goes on once it ended', async () => {
  const { router } = setup();
  await router.init('long', 60_000, null, 4);
  const p = router.get('long')!;
  p.added('a', 0, performance.now());
  const concern = transactionProduceConcern(router);
  const guard = new TransactionFlipGuard(router, { drainMs: 60, pollMs: 5, atBound: 'abort-transactions' });
  let settled = false;
  const hold = guard.beforeHold(moveOf(['a'], 'source', 'target')).finally(() => (settled = true));
  await new Promise((r) => setTimeout(r, 90));
  assert.equal(settled, false, 'past the bound the flip still waits');
  assert.match(p.abortRequested ?? '', /needs the transaction of "long" to end/);
  const refused = concern.refuse!(write('a', 0, { producerId: p.clientProducerId, producerEpoch: p.clientEpoch, baseSequence: 3 }));
  assert.equal(refused?.errorCode, ErrorCode.TRANSACTION_ABORTABLE, 'its next batch gets the abortable error');
  p.ended(); // the client aborted (EndTxn)
  router.changed();
  const g = await hold;
  assert.equal(p.abortRequested, null);
  g!.release(true);
  assert.deepEqual([guard.history.at(-1)?.outcome, guard.history.at(-1)?.waitedFor], ['ok', ['long']]);
  // Still open after twice the bound: the flip aborts as without the option.
  p.added('a', 0, performance.now());
  await assert.rejects(guard.beforeHold(moveOf(['a'], 'source', 'target')), /then as long again after they were asked to abort/);
});

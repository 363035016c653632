// Bypass detector, producer attribution and promotion gate against a fake cluster that answers ListOffsets and
// DescribeProducers from tables the test changes (the real-broker version is test/integration/gates-bypass-canary).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiKey } from '../../protocol/messages/index.ts';
import { ErrorCode } from '../../protocol/kafka-errors.ts';
import { BypassDetector, type BypassWrite, type FleetAlarm } from '../../src/gates/bypass-detector.ts';
import { ProducerAttribution, UpstreamPidRecorder } from '../../src/gates/producer-attribution.ts';
import type { ProbeCluster, ProducerStateView } from '../../src/gates/partition-probe.ts';
import { PromotionGate, bypassCheck, openTransactionsCheck } from '../../src/gates/promotion-gate.ts';

class FakeCluster {
  readonly logEnd = new Map<string, bigint>();
  readonly producers = new Map<string, ProducerStateView[]>();
  requests: number[] = [];

  write(topic: string, partition: number, offsets: number, pid: bigint | null, txnStart = -1n): void {
    const k = `${topic}-${partition}`;
    const end = this.logEnd.get(k) ?? 0n;
    this.logEnd.set(k, end + BigInt(offsets));
    if (pid === null) return;
    const list = this.producers.get(k) ?? [];
    const i = list.findIndex((p) => p.producerId === pid);
    const prev = i >= 0 ? list[i] : null;
    const next = { producerId: pid, producerEpoch: 0, lastSequence: (prev?.lastSequence ?? -1) + offsets, lastTimestamp: BigInt(Date.now()), currentTxnStartOffset: txnStart };
    if (i >= 0) list[i] = next;
    else list.push(next);
    this.producers.set(k, list);
  }

  probe(): ProbeCluster {
    const conn = {
      versions: new Map([[ApiKey.ListOffsets, { min: 1, max: 8 }], [ApiKey.DescribeProducers, { min: 0, max: 0 }]]),
      send: async (apiKey: number, _v: number, body: any) => {
        this.requests.push(apiKey);
        if (apiKey === ApiKey.ListOffsets) {
          return { topics: body.topics.map((t: any) => ({ name: t.name, partitions: t.partitions.map((p: any) => ({ partitionIndex: p.partitionIndex, errorCode: ErrorCode.NONE, offset: this.logEnd.get(`${t.name}-${p.partitionIndex}`) ?? 0n })) })) };
        }
        return { topics: body.topics.map((t: any) => ({ name: t.name, partitions: t.partitionIndexes.map((i: number) => ({ partitionIndex: i, errorCode: ErrorCode.NONE, errorMessage: null, activeProducers: [...(this.producers.get(`${t.name}-${i}`) ?? [])] })) })) };
      },
    };
    // Only the members the probe uses; the real ClusterClient has many more (why the cast is needed).
    return {
      name: 'source',
      topic: async (name: string) => ({ name, errorCode: ErrorCode.NONE, topicId: '', isInternal: false, fetchedAt: 0, partitions: [0, 1].map((partition) => ({ partition, errorCode: ErrorCode.NONE, leaderId: 1 })) }),
      connection: async () => conn,
      refreshSoon: () => undefined,
    } as unknown as ProbeCluster;
  }
}

function setup(now: () => number = Date.now, movedAt: () => number[] | undefined = () => undefined) {
  const source = new FakeCluster();
  const recorder = new UpstreamPidRecorder();
  const attribution = new ProducerAttribution(recorder);
  const bypasses: BypassWrite[] = [];
  const alarms: FleetAlarm[] = [];
  const detector = new BypassDetector({
    clusters: { source: source.probe(), target: source.probe() },
    watched: () => [{ topic: 'orders', oldCluster: 'source', partitions: [0, 1], movedAt: movedAt() }],
    attribution,
    intervalMs: 1000,
    windowMs: 10_000,
    onBypass: (w) => bypasses.push(w),
    onFleetAlarm: (a) => alarms.push(a),
    now,
  });
  return { source, recorder, attribution, detector, bypasses, alarms };
}

test('bypass: growth by an unknown producer id is reported with the id and partition; kmp-owned ids are not', async () => {
  const { source, recorder, attribution, detector, bypasses } = setup();
  source.write('orders', 0, 10, 7n); // before the watch: kmp's own writes (pid 7) — part of the baseline
  recorder.record('source', 7n);
  attribution.addExpected('write-back', () => new Set([9n]));
  await detector.check(); // baseline
  assert.deepEqual(detector.report().active, []);

  source.write('orders', 0, 3, 7n); // kmp (e.g. an in-doubt write landing late)
  source.write('orders', 1, 2, 9n); // write-back
  await detector.check();
  assert.equal(bypasses.length, 0, 'kmp and write-back ids are expected');

  source.write('orders', 1, 4, 42n); // a producer connected straight to the source
  await detector.check();
  assert.equal(bypasses.length, 1);
  assert.deepEqual({ ...bypasses[0], at: '' }, { at: '', topic: 'orders', partition: 1, cluster: 'source', fromOffset: '2', toOffset: '6', producerIds: ['42'], unattributed: false });
  const [active] = detector.report().active;
  assert.equal(active.offsets, '4');
  assert.deepEqual(active.producerIds, ['42']);

  source.write('orders', 0, 5, null); // a producer without an id: growth no producer explains
  await detector.check();
  assert.equal(bypasses.at(-1)?.unattributed, true);
  assert.deepEqual(detector.topic('orders')?.partitions, [0, 1]);
});

test('bypass: a fleet member on a stale route raises the fleet alarm, not a bypass', async () => {
  const { source, attribution, detector, bypasses, alarms } = setup();
  attribution.setFleetResolver((_c, pid) => (pid === 77n ? 'kmp-b' : null));
  await detector.check();
  source.write('orders', 0, 2, 77n);
  await detector.check();
  assert.equal(bypasses.length, 0);
  assert.deepEqual(alarms.map((a) => [a.member, a.producerId, a.partition]), [['kmp-b', '77', 0]]);
});

test('bypass: a partition that moved back and off again between two checks starts a new baseline (kmp wrote there in between)', async () => {
  let version = 5;
  const { source, detector, bypasses } = setup(Date.now, () => [version, version]);
  await detector.check(); // baseline at the move of version 5
  // Rolled back (version 6: kmp writes to the source with a producer id the recorder never saw, e.g. a
  // transactional one) and flipped again (version 7) before the next check.
  source.write('orders', 0, 4, 123n);
  version = 7;
  await detector.check();
  assert.equal(bypasses.length, 0, 'writes of the period between the two moves are not bypass');
  source.write('orders', 0, 2, 123n);
  await detector.check();
  assert.equal(bypasses.length, 1, 'after the new baseline the same id writing again is bypass');
});

test('bypass: DescribeProducers is asked only for partitions that grew', async () => {
  const { source, detector } = setup();
  await detector.check();
  source.requests = [];
  await detector.check();
  assert.deepEqual(source.requests, [ApiKey.ListOffsets], 'idle: one ListOffsets per leader, nothing else');
  source.write('orders', 0, 1, 5n);
  source.requests = [];
  await detector.check();
  assert.deepEqual(source.requests, [ApiKey.ListOffsets, ApiKey.DescribeProducers]);
});

test('promotion gate: named refusals for bypass within the window and for open transactions; extra checks append', async () => {
  let clock = 1_000_000;
  const { source, detector } = setup(() => clock);
  await detector.check();
  source.write('orders', 0, 3, 42n);
  await detector.check();
  const gate = new PromotionGate();
  gate.add(bypassCheck(detector, 5_000));
  gate.add(openTransactionsCheck({ source: source.probe(), target: source.probe() }));
  gate.add({ name: 'write-back-lag', run: () => ({ refusals: ['orders-0: 12 records behind'], warnings: [] }) });
  assert.throws(() => gate.add({ name: 'bypass', run: () => ({ refusals: [], warnings: [] }) }), /already registered/);
  const subject = { wave: 'w', topics: ['orders'], oldCluster: 'source' as const, newCluster: 'target' as const };

  let r = await gate.evaluate(subject);
  assert.equal(r.refusals.length, 2, r.refusals.join('\n'));
  assert.match(r.refusals[0], /^bypass: orders: 3 offsets written straight to the source cluster \(partitions 0\) by producer ids 42/);
  assert.equal(r.refusals[1], 'write-back-lag: orders-0: 12 records behind');

  clock += 6_000; // the window passed
  source.write('orders', 1, 1, 50n, 3n); // ...but now a transaction is open (and that write is itself a bypass)
  await detector.check();
  clock += 6_000; // that bypass is out of the window too; the transaction is still open
  r = await gate.evaluate({ ...subject });
  assert.ok(r.refusals.some((x) => /^open-transactions: orders-1: producer id 50 \(epoch 0\) has a transaction open on the source cluster since offset 3/.test(x)), r.refusals.join('\n'));
  assert.ok(!r.refusals.some((x) => x.startsWith('bypass:')), 'the bypass is older than the window');

  const failing = new PromotionGate();
  failing.add({ name: 'consumer-groups', run: () => Promise.reject(new Error('group coordinator unreachable')) });
  assert.deepEqual((await failing.evaluate(subject)).refusals, ['consumer-groups: could not run: group coordinator unreachable'], 'a check that throws refuses');
});

// Fleet membership changes under load (docs/fleet.md "Membership, leadership, fencing", "Rolling restart"):
// three real kmp processes, a Java and a kafkajs idempotent producer writing without pause.
// - A fourth instance joins: Metadata from every member lists four brokers with the same leaders, and
//   rendezvous hashing moves only the new member's share — every partition whose leader changed is now led by
//   the newcomer, none moved between the old three, and about a quarter moved; clients connect to it.
// - A rolling restart of all four (SIGTERM, then start again on the same address), the newcomer first, so its
//   partitions return to instances that led them before it joined: each instance leaves the fleet first (the
//   others drop it at once, well before a lease could run out), exits cleanly, and rejoins.
// Then, reading the clusters directly: every acknowledged record exactly once, each producer's order kept in
// every partition, nothing on the target (no move ran), and no client error.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ensureKafkaPair, createTopics, readTopic, uniqueTopic, type ConsumedRecord } from '../support/kafka.ts';
import type { RunningProxy } from '../support/proxy.ts';
import { checkExactlyOnce, fleetView, startFleetMember, waitFor } from '../support/fleet.ts';
import { byPartition, metadataVia, orderProblems, printFigures } from '../support/fleet-checks.ts';
import { javaStreamingProducer, kafkajsStreamingProducer, pump, sleep, type StreamingProducer } from '../support/streaming-producers.ts';

const PARTITIONS = 12;
const topics = Array.from({ length: 4 }, (_, i) => uniqueTopic(`fleet-members-${i}`));
const prefix = `_kmp-it-members-${randomUUID().slice(0, 8)}`;
const LEASE_MS = 3_000;
const SKEW_MS = 300;
let fleet: RunningProxy[] = [];

function startMember(nodeId: number, reuse?: RunningProxy): Promise<RunningProxy> {
  return startFleetMember({
    nodeId,
    topics,
    prefix,
    leaseMs: LEASE_MS,
    ...(reuse === undefined ? {} : { port: reuse.port, adminPort: reuse.adminPort, stateDir: reuse.stateDir }),
  });
}

async function allLive(members: readonly RunningProxy[]): Promise<boolean> {
  const views = await Promise.all(members.map(fleetView));
  return views.every((v) => !v.fenced && v.live.length === members.length);
}

/**
 * Every member's Metadata lists `brokers` and the same leader for every partition: the leaders then. Polled (up
 * to 15 s): on a loaded machine a member may miss a heartbeat's lease for a moment and answer with fewer brokers.
 */
async function agreedMetadata(members: readonly RunningProxy[], brokers: number[]): Promise<Map<string, number>> {
  let last = '';
  for (const deadline = Date.now() + 15_000; ; ) {
    const views = await Promise.all(members.map((p) => metadataVia(p, topics)));
    const leaders = JSON.stringify([...views[0].leaders].sort());
    if (views.every((v) => JSON.stringify(v.brokers) === JSON.stringify(brokers) && JSON.stringify([...v.leaders].sort()) === leaders)) return views[0].leaders;
    last = JSON.stringify(views.map((v) => v.brokers));
    if (Date.now() > deadline) assert.fail(`members do not agree on brokers ${JSON.stringify(brokers)} and leaders: brokers seen ${last}`);
    await sleep(200);
  }
}

before(async () => {
  await ensureKafkaPair();
  await Promise.all([createTopics('source', topics, PARTITIONS), createTopics('target', topics, PARTITIONS)]);
  fleet = [];
  for (let i = 0; i < 3; i++) fleet.push(await startMember(i));
  await waitFor(() => allLive(fleet), 20_000, 'three live members');
});

after(async () => {
  await Promise.all(fleet.map((p) => p.stop()));
});

test('a fourth instance joins and takes only its share; a rolling restart of all four under load loses and duplicates nothing', async () => {
  const producers: StreamingProducer[] = [
    javaStreamingProducer({ bootstrap: fleet[0].bootstrap, firstTopic: topics[0] }),
    // One record per sendBatch: kafkajs 2.2.4 loses records when a broker goes away under a sendBatch that spans
    // several brokers (tulios/kafkajs#1303; see fleet.test.ts).
    kafkajsStreamingProducer({ bootstrap: fleet[1].bootstrap, firstTopic: topics[0], maxPerRequest: 1 }),
  ];
  await Promise.all(producers.map((p) => p.start()));
  const pumps = producers.map((p) =>
    pump(p, { ratePerSec: 150, maxOutstanding: 2_000, next: (seq) => ({ topic: topics[seq % topics.length], key: `k${seq % 29}`, value: `${p.client}-${seq}` }) }),
  );
  const partitionCount = topics.length * PARTITIONS;
  let moved: string[] = [];
  const leaveMs: number[] = [];
  const rejoinMs: number[] = [];
  let restartStartedAt = 0;
  let restartEndedAt = 0;
  try {
    await waitFor(async () => producers.every((p) => p.acked.size > 100), 45_000, 'both producers writing');

    // ── a fourth member joins ──────────────────────────────────────────────────────────────────────────────
    const before = await agreedMetadata(fleet, [0, 1, 2]);
    assert.equal(before.size, partitionCount);
    fleet.push(await startMember(3));
    await waitFor(() => allLive(fleet), 20_000, 'four live members');
    const after = await agreedMetadata(fleet, [0, 1, 2, 3]);
    moved = [...before].filter(([k, leader]) => after.get(k) !== leader).map(([k]) => k);
    const movedElsewhere = moved.filter((k) => after.get(k) !== 3);
    assert.deepEqual(movedElsewhere, [], 'a partition whose leader changed went to the newcomer, never between the old members');
    // Binomial(48, 1/4): mean 12, sd 3; the bounds are 3 and 4 sd out (random topic names; 300 draws of this
    // layout gave 6..21). A modulo hash would move about 3/4 (36).
    assert.ok(moved.length >= 3 && moved.length <= 24, `about a quarter of ${partitionCount} leaderships moved: ${moved.length}`);
    await waitFor(async () => ((await fleetView(fleet[3])).members.find((m) => m.nodeId === 3)?.connections ?? 0) > 0, 20_000, 'clients connected to the newcomer');
    await sleep(1_000);

    // ── rolling restart: one at a time, each leaves first ──────────────────────────────────────────────────
    // The newcomer first: its partitions go back to the instances that led them before it joined, which have
    // been running throughout, while the producers' sequences went on through the newcomer (their sequence
    // guards must not hold on to what they knew before the join).
    restartStartedAt = Date.now();
    for (const i of [3, 0, 1, 2]) {
      const old = fleet[i];
      const id = (await fleetView(old)).member;
      const others = fleet.filter((_, j) => j !== i);
      const signalled = Date.now();
      old.child.kill('SIGTERM');
      await waitFor(async () => (await Promise.all(others.map(fleetView))).every((v) => !v.live.includes(id)), 10_000, `${id} dropped by the others`);
      leaveMs.push(Date.now() - signalled);
      assert.equal(await old.stop(), 0, `${id} exits cleanly on SIGTERM`);
      const startedAt = Date.now();
      fleet[i] = await startMember(i, old);
      await waitFor(() => allLive(fleet), 20_000, `${id} live again`);
      rejoinMs.push(Date.now() - startedAt);
      await sleep(1_500);
    }
    restartEndedAt = Date.now();
    await sleep(1_000);
  } finally {
    await Promise.all(pumps.map((p) => p.stop()));
    await Promise.all(producers.map((p) => p.close(60_000)));
  }

  // Leaving is announced, not found out: the others drop the member well before its lease could expire.
  for (const ms of leaveMs) assert.ok(ms < LEASE_MS + SKEW_MS, `dropped ${ms} ms after SIGTERM (lease ${LEASE_MS} + skew ${SKEW_MS})`);
  for (const p of producers) assert.deepEqual(p.errors, [], `${p.client}: no errors`);
  const source: ConsumedRecord[] = [];
  const target: ConsumedRecord[] = [];
  for (const t of topics) {
    source.push(...(await readTopic('source', t, 60_000)));
    target.push(...(await readTopic('target', t, 60_000)));
  }
  assert.equal(target.length, 0, 'no move ran: nothing on the target');
  for (const p of producers) checkExactlyOnce(p, source, p.client);
  const problems = [...byPartition(source)].flatMap(([k, list]) => orderProblems(k, list));
  assert.deepEqual(problems.slice(0, 20), [], `${problems.length} order problem(s)`);

  // The longest wait for an acknowledgement during the rolling restart, per producer.
  const maxAckGapMs = Object.fromEntries(
    producers.map((p) => {
      const times = [...p.ackedAt.values()].filter((t) => t >= restartStartedAt && t <= restartEndedAt).sort((a, b) => a - b);
      let gap = 0;
      for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i] - times[i - 1]);
      return [p.client, gap];
    }),
  );
  printFigures('fleet-membership', {
    partitions: partitionCount,
    leadersMovedOnJoin: moved.length,
    droppedAfterSigtermMs: leaveMs,
    rejoinMs,
    maxAckGapDuringRollingRestartMs: maxAckGapMs,
    records: { source: source.length, acked: Object.fromEntries(producers.map((p) => [p.client, p.acked.size])) },
  });
});

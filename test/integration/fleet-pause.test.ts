// SIGSTOP of one fleet instance while it forwards writes and a flip starts (docs/fleet.md "Fencing", "A flip
// across the fleet"). Three real kmp processes; a Java and a librdkafka idempotent producer write through the
// fleet to every partition of the wave, so the paused instance (not the coordinator) leads some of them and has
// writes of both clients in flight. Asserted:
// - the flip waits for the paused member and commits only once that member's lease ran out plus the skew
//   margin on the coordinator's clock: answer 200, that member `gone`, the others `released`, and the answer
//   came no earlier than (last heartbeat the coordinator heard from it) + lease + skew, and well before the
//   flip timeout (so it was the lease rule, not the timeout, that decided);
// - after SIGCONT the instance forwards nothing on the old route: reading both clusters directly, in every
//   partition each producer's source records all precede (in its send order) its target records, each cluster
//   keeps the producer's order, and every acknowledged record is on one cluster exactly once;
// - the resumed instance rejoins at the new version and the producers saw no error.
// The pause (~4 s) is shorter than the clients' request timeouts (30 s), so answers to writes the instance had
// already forwarded reach the clients after SIGCONT. A pause longer than a client's request timeout, with a
// write forwarded but not answered, is the open cross-cluster case in docs/fleet.md "Known limits".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ensureKafkaPair, createTopics, readTopic, uniqueTopic, type ConsumedRecord } from '../support/kafka.ts';
import type { RunningProxy } from '../support/proxy.ts';
import { admin, checkExactlyOnce, fleetView, startFleetMember, waitFor } from '../support/fleet.ts';
import { ackedByPartition, interleavingProblems, metadataVia, printFigures } from '../support/fleet-checks.ts';
import { javaStreamingProducer, pump, rdkafkaStreamingProducer, sleep, type StreamingProducer } from '../support/streaming-producers.ts';

const PARTITIONS = 6;
const topics = Array.from({ length: 3 }, (_, i) => uniqueTopic(`fleet-pause-${i}`));
const prefix = `_kmp-it-pause-${randomUUID().slice(0, 8)}`;
const LEASE_MS = 2_000;
/** The harness's heartbeat and skew margin (test/support/fleet.ts). */
const HEARTBEAT_MS = 300;
const SKEW_MS = 300;
const FLIP_TIMEOUT_MS = 8_000;
let fleet: RunningProxy[] = [];

before(async () => {
  await ensureKafkaPair();
  await Promise.all([createTopics('source', topics, PARTITIONS), createTopics('target', topics, PARTITIONS)]);
  fleet = [];
  for (let i = 0; i < 3; i++) fleet.push(await startFleetMember({ nodeId: i, topics, prefix, leaseMs: LEASE_MS, flipTimeoutMs: FLIP_TIMEOUT_MS }));
  await waitFor(async () => (await Promise.all(fleet.map(fleetView))).every((v) => v.live.length === 3 && !v.fenced), 20_000, 'three live members');
});

after(async () => {
  for (const p of fleet) if (p.child.exitCode === null) p.child.kill('SIGCONT');
  await Promise.all(fleet.map((p) => p.stop()));
});

interface MemberAnswer {
  member: string;
  status: string;
  holdMs: number | null;
}

test('SIGSTOP of an instance with writes in flight as a flip starts: the flip commits only after its lease, and it forwards nothing on the old route after SIGCONT', async () => {
  const [coordinator, observer, victim] = fleet;
  const victimId = (await fleetView(victim)).member;
  const meta = await metadataVia(coordinator, topics);
  const victimLeads = [...meta.leaders].filter(([, node]) => node === 2).map(([k]) => k);
  assert.ok(victimLeads.length > 0, 'the instance to pause leads some of the wave partitions');

  const producers: StreamingProducer[] = [
    javaStreamingProducer({ bootstrap: coordinator.bootstrap, firstTopic: topics[0] }),
    rdkafkaStreamingProducer({ bootstrap: observer.bootstrap, firstTopic: topics[0] }),
  ];
  await Promise.all(producers.map((p) => p.start()));
  const pumps = producers.map((p) =>
    pump(p, { ratePerSec: 150, maxOutstanding: 2_000, next: (seq) => ({ topic: topics[seq % topics.length], key: `k${seq % 23}`, value: `${p.client}-${seq}` }) }),
  );
  let answer: { status: number; json: { version?: number; members?: MemberAnswer[] } } | null = null;
  let pausedAt = 0;
  let answeredAt = 0;
  let lastHeardBound = 0;
  let inflightAtPause = 0;
  let victimAfterAnswer: { live: boolean; leaseAgeMs: number } | undefined;
  try {
    // Both clients write through the instance to pause: acknowledged records on partitions it leads.
    await waitFor(
      async () => producers.every((p) => victimLeads.some((k) => (ackedByPartition(p).get(k)?.length ?? 0) > 5)),
      45_000,
      'both producers writing to partitions the paused instance leads',
    );
    // Pause when it reports writes in flight (polled; a few tries at most, then pause anyway and say so).
    for (let i = 0; i < 200; i++) {
      const self = (await fleetView(victim)).members.find((m) => m.member === victimId);
      inflightAtPause = self?.inflight ?? 0;
      if (inflightAtPause > 0) break;
      await sleep(5);
    }
    // The coordinator's last heartbeat from the victim, as a lower bound for when it can count it gone.
    const before = (await fleetView(coordinator)).members.find((m) => m.member === victimId);
    lastHeardBound = Date.now() - (before?.leaseAgeMs ?? 0);
    victim.child.kill('SIGSTOP');
    pausedAt = Date.now();
    answer = await admin(coordinator, 'POST', '/v1/batches/wave-1/flip', { reason: 'fleet-pause test' });
    answeredAt = Date.now();
    victimAfterAnswer = (await fleetView(observer)).members.find((m) => m.member === victimId);
    await sleep(1_000);
    victim.child.kill('SIGCONT');
    await waitFor(
      async () => (await Promise.all(fleet.map(fleetView))).every((v) => !v.fenced && v.live.length === 3 && v.members.every((m) => m.appliedVersion === answer?.json.version)),
      20_000,
      'the resumed instance live again at the new version',
    );
    await sleep(2_000);
  } finally {
    if (victim.child.exitCode === null) victim.child.kill('SIGCONT');
    await Promise.all(pumps.map((p) => p.stop()));
    await Promise.all(producers.map((p) => p.close(60_000)));
  }

  assert.ok(answer !== null);
  assert.equal(answer.status, 200, JSON.stringify(answer.json));
  const statuses = Object.fromEntries((answer.json.members ?? []).map((m) => [m.member, m.status]));
  const expected = Object.fromEntries((await fleetView(coordinator)).members.map((m) => [m.member, m.member === victimId ? 'gone' : 'released']));
  assert.deepEqual(statuses, expected, 'the paused member is gone, the others released');
  const flipMs = answeredAt - pausedAt;
  // Not before the lease (+ skew) since the last heartbeat the coordinator heard; 50 ms for rounding and the
  // HTTP round trip of the view.
  assert.ok(answeredAt >= lastHeardBound + LEASE_MS + SKEW_MS - 50, `answered ${answeredAt - lastHeardBound} ms after the last heartbeat heard (lease ${LEASE_MS} + skew ${SKEW_MS})`);
  assert.ok(flipMs >= LEASE_MS + SKEW_MS - HEARTBEAT_MS - 400, `the flip waited for the lease: ${flipMs} ms after the pause`);
  assert.ok(flipMs < FLIP_TIMEOUT_MS, `decided by the lease, not the flip timeout: ${flipMs} ms`);
  assert.ok(victimAfterAnswer !== undefined && !victimAfterAnswer.live && victimAfterAnswer.leaseAgeMs >= LEASE_MS + SKEW_MS, `another member counts it gone at the answer: ${JSON.stringify(victimAfterAnswer)}`);

  for (const p of producers) assert.deepEqual(p.errors, [], `${p.client}: no errors`);
  const source: ConsumedRecord[] = [];
  const target: ConsumedRecord[] = [];
  for (const t of topics) {
    source.push(...(await readTopic('source', t, 60_000)));
    target.push(...(await readTopic('target', t, 60_000)));
  }
  for (const p of producers) checkExactlyOnce(p, [...source, ...target], p.client);
  const problems = interleavingProblems(source, target, 'source');
  assert.deepEqual(problems.slice(0, 20), [], `${problems.length} partition(s) interleave clusters`);
  assert.ok(source.length > 0 && target.length > 0, 'both clusters received writes');
  // The victim's partitions got records on both sides: the move happened under their writes, not beside them.
  const victimPartitionsOnBoth = victimLeads.filter((k) => source.some((r) => `${r.topic}/${r.partition}` === k) && target.some((r) => `${r.topic}/${r.partition}` === k));
  assert.ok(victimPartitionsOnBoth.length > 0, 'the paused instance’s partitions were written on both clusters');

  const holds = Object.fromEntries((answer.json.members ?? []).map((m) => [m.member, m.holdMs]));
  printFigures('fleet-pause', {
    leaseMs: LEASE_MS,
    skewMs: SKEW_MS,
    inflightAtPause,
    flipAfterPauseMs: flipMs,
    afterLastHeartbeatMs: answeredAt - lastHeardBound,
    holdMs: holds,
    records: { source: source.length, target: target.length, acked: Object.fromEntries(producers.map((p) => [p.client, p.acked.size])) },
  });
});

// Three client families through a fleet while 10 moves run (docs/fleet.md "A flip across the fleet"): three
// real kmp processes; a Java (kafka-clients), a librdkafka and a kafkajs idempotent producer, each bootstrapped
// from a different instance, write keyed records to two waves (4 topics each, 6 partitions) without pause, while
// flip, rollback and rollback-all of the waves are taken by the instances in turn. Asserted:
// - every move answers 200 with every member `released` (hold per member) and every member applies it;
// - the ledger (GET /v1/ledger) answers the same on every instance;
// - reading both clusters directly: every acknowledged record exactly once and nothing else; per partition,
//   each cluster's records form the contiguous segments the ledger names (cut after lastOffsetOnOld, resumed
//   at firstOffsetOnNew) and the rebuilt sequence keeps each producer's order, per key and per partition; where
//   a client reports partition and offset, the record is there;
// - no client error (the clients retry what kmp answers retriable; a final error would be in `errors`).
// Prints FLEET-FIGURES with the hold median and max per member.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ensureKafkaPair, createTopics, readTopic, uniqueTopic, type ConsumedRecord } from '../support/kafka.ts';
import type { RunningProxy } from '../support/proxy.ts';
import { admin, fleetView, startFleetMember, waitFor } from '../support/fleet.ts';
import { checkSegmentsAgainstLedger, holdFigures, printFigures, type LedgerEntry } from '../support/fleet-checks.ts';
import {
  javaStreamingProducer,
  kafkajsStreamingProducer,
  pump,
  rdkafkaStreamingProducer,
  sleep,
  type StreamingProducer,
} from '../support/streaming-producers.ts';

const PARTITIONS = 6;
const TOPICS_PER_WAVE = 4;
const RATE = 150;
const CYCLES = 2;
const wave1 = Array.from({ length: TOPICS_PER_WAVE }, (_, i) => uniqueTopic(`fleet-cl-w1-${i}`));
const wave2 = Array.from({ length: TOPICS_PER_WAVE }, (_, i) => uniqueTopic(`fleet-cl-w2-${i}`));
const allTopics = [...wave1, ...wave2];
const prefix = `_kmp-it-clients-${randomUUID().slice(0, 8)}`;
let fleet: RunningProxy[] = [];

before(async () => {
  await ensureKafkaPair();
  await Promise.all([createTopics('source', allTopics, PARTITIONS), createTopics('target', allTopics, PARTITIONS)]);
  fleet = [];
  const routes = { default: 'source', batches: { 'wave-1': { topics: wave1 }, 'wave-2': { topics: wave2 } } };
  for (let i = 0; i < 3; i++) fleet.push(await startFleetMember({ nodeId: i, topics: allTopics, prefix, leaseMs: 3_000, routes }));
  await waitFor(async () => (await Promise.all(fleet.map(fleetView))).every((v) => !v.fenced && v.live.length === 3), 20_000, 'three live members');
});

after(async () => {
  await Promise.all(fleet.map((p) => p.stop()));
});

interface MoveAnswer {
  version: number;
  members?: { member: string; status: string; holdMs: number | null }[];
}

test('Java, librdkafka and kafkajs through the fleet while 10 moves run via different instances: exactly once, in order, segments match the ledger', async (t) => {
  const producers: StreamingProducer[] = [
    javaStreamingProducer({ bootstrap: fleet[0].bootstrap, firstTopic: allTopics[0] }),
    rdkafkaStreamingProducer({ bootstrap: fleet[1].bootstrap, firstTopic: allTopics[0] }),
    kafkajsStreamingProducer({ bootstrap: fleet[2].bootstrap, firstTopic: allTopics[0] }),
  ];
  await Promise.all(producers.map((p) => p.start()));
  const pumps = producers.map((p, n) =>
    pump(p, {
      ratePerSec: RATE,
      maxOutstanding: 2_000,
      next: (seq) => ({ topic: allTopics[(seq + n * 3) % allTopics.length], key: `k${(Math.floor(seq / allTopics.length) * 7 + n) % 31}`, value: `${p.client}-${seq}` }),
    }),
  );
  const schedule: string[] = [];
  for (let c = 0; c < CYCLES; c++) schedule.push('/v1/batches/wave-1/flip', '/v1/batches/wave-2/flip', '/v1/batches/wave-1/rollback', '/v1/batches/wave-1/flip', '/v1/rollback-all');
  const holds: Record<string, number[]> = {};
  const failures: string[] = [];
  try {
    await waitFor(async () => producers.every((p) => p.acked.size >= 50), 45_000, 'every producer writing');
    for (const [i, path] of schedule.entries()) {
      await sleep(700);
      const via = fleet[i % fleet.length];
      const answer = await admin<MoveAnswer>(via, 'POST', path, { reason: `fleet-clients ${i}` });
      if (answer.status !== 200) {
        failures.push(`${path} via ${i % fleet.length}: ${answer.status} ${JSON.stringify(answer.json)}`);
        continue;
      }
      const statuses = (answer.json.members ?? []).map((m) => m.status);
      if (statuses.length !== 3 || statuses.some((s) => s !== 'released')) failures.push(`${path}: members ${JSON.stringify(answer.json.members)}`);
      for (const m of answer.json.members ?? []) if (m.holdMs !== null) (holds[m.member] ??= []).push(m.holdMs);
      await waitFor(async () => (await Promise.all(fleet.map(fleetView))).every((v) => v.members.every((m) => m.appliedVersion >= answer.json.version)), 10_000, `every member at version ${answer.json.version}`);
    }
    await sleep(1_000);
  } finally {
    await Promise.all(pumps.map((p) => p.stop()));
    await Promise.all(producers.map((p) => p.close(60_000)));
  }
  assert.deepEqual(failures, [], 'every move committed on every member');
  for (const p of producers) t.diagnostic(`${p.client}: ${p.written} written, ${p.acked.size} acknowledged, errors: ${p.errors.slice(0, 5).join(' | ')}`);
  assert.deepEqual(Object.fromEntries(producers.map((p) => [p.client, p.errors.length])), { java: 0, rdkafka: 0, kafkajs: 0 }, 'no client error');
  for (const p of producers) assert.equal(p.acked.size, p.written, `${p.client}: every written record acknowledged`);

  // The ledger, the same on every instance (first offsets on the new cluster are appended by whichever member
  // wrote there first, so give the route log a moment to reach everyone).
  const ledgerOf = async (p: RunningProxy) => (await admin<{ entries: LedgerEntry[] }>(p, 'GET', '/v1/ledger')).json.entries.filter((e) => allTopics.includes(e.topic));
  let ledgers: LedgerEntry[][] = [];
  await waitFor(
    async () => {
      ledgers = await Promise.all(fleet.map(ledgerOf));
      return ledgers.every((l) => JSON.stringify(l) === JSON.stringify(ledgers[0]));
    },
    10_000,
    'the same ledger on every instance',
  );

  const source: ConsumedRecord[] = [];
  const target: ConsumedRecord[] = [];
  for (const topic of allTopics) {
    source.push(...(await readTopic('source', topic, 60_000)));
    target.push(...(await readTopic('target', topic, 60_000)));
  }
  const ackOf = new Map<string, { topic: string; partition: number | null; offset: bigint | null }>();
  for (const p of producers) for (const [value, ack] of p.acked) ackOf.set(value, ack);
  const seen = new Map<string, number>();
  for (const r of [...source, ...target]) seen.set(r.value ?? '', (seen.get(r.value ?? '') ?? 0) + 1);
  const duplicated = [...seen].filter(([, n]) => n > 1).map(([v]) => v);
  const strays = [...seen.keys()].filter((v) => !ackOf.has(v));
  const missing = [...ackOf.keys()].filter((v) => !seen.has(v));
  assert.deepEqual(duplicated.slice(0, 20), [], `no record twice (${duplicated.length})`);
  assert.deepEqual(strays.slice(0, 20), [], `no record that was not acknowledged (${strays.length})`);
  assert.deepEqual(missing.slice(0, 20), [], `every acknowledged record present (${missing.length} missing)`);
  const misplaced: string[] = [];
  for (const r of [...source, ...target]) {
    const a = ackOf.get(r.value ?? '');
    if (a !== undefined && a.partition !== null && (a.partition !== r.partition || (a.offset !== null && a.offset !== r.offset))) {
      misplaced.push(`${r.value}: acknowledged at ${a.partition}@${a.offset}, found at ${r.partition}@${r.offset} (${r.topic})`);
    }
  }
  assert.deepEqual(misplaced.slice(0, 20), [], `acknowledged partition/offset match the log (${misplaced.length})`);

  const { problems, checked, segments } = checkSegmentsAgainstLedger({
    topics: allTopics,
    partitions: PARTITIONS,
    source,
    target,
    ledger: ledgers[0],
    // wave-1 moves 4 times per cycle (flip, rollback, flip, rollback-all), wave-2 twice (flip, rollback-all).
    expectedMoves: (topic) => (wave1.includes(topic) ? 4 : 2) * CYCLES,
  });
  assert.deepEqual(problems.slice(0, 30), [], `${problems.length} problem(s)`);
  assert.equal(checked, seen.size, 'every record is in one ledger segment');

  printFigures('fleet-clients', {
    moves: schedule.length,
    holdPerMember: holdFigures(holds),
    records: { checked, source: source.length, target: target.length, segments, acked: Object.fromEntries(producers.map((p) => [p.client, p.acked.size])) },
  });
});

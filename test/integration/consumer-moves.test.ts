// Consumer groups move between the clusters at exact offsets (issue #13 item 3; docs/migration-runbook.md).
// Real brokers; the consumers are kafkajs consumers reading each cluster directly (not through kmp); the sync
// map is built from real data (test/support/exact-sync-map.ts), so the test does not depend on the write-back.
//
// History of the wave's topic (2 partitions), per partition p:
//   source: pre-p-0..19 (before the flip), then copies of every batch the target received;
//   target: the copied batches only, from offset 0.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import type { Consumer, Producer } from 'kafkajs';
import { ClusterClient } from '../../src/upstream/cluster-client.ts';
import { GroupClient } from '../../src/consumers/group-client.ts';
import { moveGroup, type ConsumerDeps, type AuditNote } from '../../src/consumers/consumer-moves.ts';
import { listWaveConsumers } from '../../src/consumers/consumer-listing.ts';
import { consumerPromotionGate } from '../../src/consumers/promotion-gate.ts';
import { ConsumerMoveRefusedError, ConsumerNotFoundError } from '../../src/consumers/errors.ts';
import type { MoveDirection } from '../../src/consumers/offset-translation.ts';
import { bootstrapOf, createTopic, ensureKafkaPair, kafkaFor, uniqueTopic, type ClusterName } from '../support/kafka.ts';
import { ExactSyncMap, produceBatch } from '../support/exact-sync-map.ts';
import { startProxy } from '../support/proxy.ts';
import { withAdmin } from '../support/kafka.ts';

const WAVE = 'wave-consumers';
const PARTITIONS = [0, 1];
const topic = uniqueTopic('cg-move');
const run = randomUUID().slice(0, 8);
const syncMap = new ExactSyncMap();
const audit: AuditNote[] = [];
const clients: Record<ClusterName, ClusterClient> = {} as Record<ClusterName, ClusterClient>;
const producers: Record<ClusterName, Producer> = {} as Record<ClusterName, Producer>;
/** Every record of the topic in source order, per partition: what a group must read exactly once overall. */
const written = new Map<number, string[]>(PARTITIONS.map((p) => [p, []]));
let deps: ConsumerDeps;

before(async () => {
  await ensureKafkaPair();
  await Promise.all([createTopic('source', topic, 2), createTopic('target', topic, 2)]);
  for (const c of ['source', 'target'] as const) {
    clients[c] = new ClusterClient({ name: c, bootstrap: [bootstrapOf(c)], requestTimeoutMs: 15_000, metadataTtlMs: 1_000, maxFrameBytes: 64 * 1024 * 1024, logger: pino({ level: 'silent' }) });
    await clients[c].start();
    producers[c] = kafkaFor(bootstrapOf(c), `cg-producer-${c}`).producer({ allowAutoTopicCreation: false });
    await producers[c].connect();
  }
  deps = {
    groups: { source: new GroupClient(clients.source), target: new GroupClient(clients.target) },
    syncMap,
    waveTopics: async (wave) => {
      if (wave !== WAVE) throw new ConsumerNotFoundError(`no wave "${wave}"`);
      return [topic];
    },
    audit: async (entry) => {
      audit.push(entry);
    },
    lastMove: (group) => {
      const last = audit.filter((e) => e.target.name === group && e.outcome === 'ok').at(-1);
      return (last?.details.direction as MoveDirection | undefined) ?? null;
    },
  };
  // Before the flip: 20 records per partition on the source only.
  for (const p of PARTITIONS) {
    const values = Array.from({ length: 20 }, (_, i) => `pre-${p}-${i}`);
    await produceBatch(producers.source, topic, p, values);
    written.get(p)!.push(...values);
  }
  // After the flip: 4 batches of 5 per partition, written to the target and copied to the source.
  for (let b = 0; b < 4; b++) for (const p of PARTITIONS) await copiedBatch(p, `flip1-b${b}`, 5);
});

after(async () => {
  for (const c of ['source', 'target'] as const) {
    await producers[c]?.disconnect();
    clients[c]?.close();
  }
});

/** One batch produced to the target and copied to the source, noted in the sync map. */
async function copiedBatch(p: number, label: string, n: number): Promise<void> {
  const values = Array.from({ length: n }, (_, i) => `${label}-${p}-${i}`);
  const targetOffset = await produceBatch(producers.target, topic, p, values);
  const sourceOffset = await produceBatch(producers.source, topic, p, values);
  syncMap.add(topic, p, { sourceOffset, targetOffset, count: n });
  written.get(p)!.push(...values);
}

async function ends(c: ClusterName): Promise<Map<number, bigint>> {
  return deps.groups[c].endOffsets(topic);
}

/**
 * Runs group `group` on cluster `c` until it has processed each partition up to `stops` (exclusive), commits
 * exactly those offsets and leaves (the group becomes empty). Returns the values it processed, per partition.
 */
async function consumeAndStop(c: ClusterName, group: string, starts: Map<number, bigint>, stops: Map<number, bigint>): Promise<Map<number, string[]>> {
  const seen = new Map<number, string[]>(PARTITIONS.map((p) => [p, []]));
  const pending = new Set(PARTITIONS.filter((p) => (stops.get(p) ?? 0n) > (starts.get(p) ?? 0n)));
  const consumer = kafkaFor(bootstrapOf(c), `cg-${group}`).consumer({ groupId: group, maxWaitTimeInMs: 100, sessionTimeout: 10_000 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${group} on ${c}: partitions ${[...pending]} did not reach their stop`)), 45_000);
      const finish = () => {
        clearTimeout(timer);
        resolve();
      };
      consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          const offset = BigInt(message.offset);
          const stop = stops.get(partition) ?? 0n;
          if (offset >= stop) return;
          seen.get(partition)!.push(message.value?.toString() ?? '');
          if (offset + 1n === stop) {
            pending.delete(partition);
            if (pending.size === 0) finish();
          }
        },
      }).catch(reject);
      if (pending.size === 0) setTimeout(finish, 2_000); // nothing to read: still join, so the group exists
    });
    await consumer.commitOffsets(PARTITIONS.map((p) => ({ topic, partition: p, offset: String(stops.get(p) ?? 0n) })));
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

function committedOn(c: ClusterName, group: string): Promise<Map<number, bigint>> {
  return deps.groups[c].committedOffsets(group).then((os) => new Map(os.filter((o) => o.topic === topic).map((o) => [o.partition, o.offset])));
}

const G = `cg-moved-${run}`;
const G_BEHIND = `cg-behind-${run}`;
const readByG = new Map<number, string[]>(PARTITIONS.map((p) => [p, []]));

test('groups stop on the source: the listing shows where each reads, its lag and readiness', async () => {
  const sourceEnd = await ends('source');
  // G: partition 0 stops inside the second copied batch (offset 27), partition 1 has read everything.
  const stopsG = new Map([[0, 27n], [1, sourceEnd.get(1)!]]);
  const gRead = await consumeAndStop('source', G, new Map(), stopsG);
  for (const p of PARTITIONS) readByG.get(p)!.push(...gRead.get(p)!);
  // G_BEHIND has read only 10 of the 20 records the target never had.
  await consumeAndStop('source', G_BEHIND, new Map(), new Map([[0, 10n], [1, sourceEnd.get(1)!]]));

  const view = await listWaveConsumers(deps, WAVE);
  const g = view.groups.find((x) => x.group === G);
  const behind = view.groups.find((x) => x.group === G_BEHIND);
  assert.ok(g && behind, `both groups listed: ${view.groups.map((x) => x.group).join(', ')}`);
  assert.equal(g.readsFrom, 'source');
  assert.equal(g.clusters.source?.lag, sourceEnd.get(0)! - 27n);
  assert.equal(g.clusters.target, null);
  assert.equal(g.next.ready, true, g.next.refusals.join('; '));
  assert.equal(behind.next.ready, false);
  assert.equal(behind.next.recordsToGo, 10n);
});

test('promotion is refused while the groups still read the source', async () => {
  const gate = await consumerPromotionGate(deps)(WAVE);
  assert.equal(gate.refusals.length, 2, gate.refusals.join('\n'));
  assert.ok(gate.refusals.some((r) => r.includes(`"${G}" still reads the source`)));
  assert.ok(gate.refusals.some((r) => r.includes(`"${G_BEHIND}"`) && r.includes('10 records to go')));
});

test('a group that has not read the records only the source has is refused, and nothing changes', async () => {
  const before = audit.length;
  await assert.rejects(
    moveGroup(deps, { group: G_BEHIND, wave: WAVE, direction: 'to-target', dryRun: false, who: 'tester', reason: 'too early' }),
    (err: unknown) => {
      assert.ok(err instanceof ConsumerMoveRefusedError);
      assert.equal(err.status, 409);
      assert.ok(err.details.some((d) => d.startsWith(`${topic}-0: not ready, 10 records to go`)), err.details.join('\n'));
      return true;
    },
  );
  assert.deepEqual([...(await committedOn('target', G_BEHIND))], []);
  assert.equal(audit.length, before + 1);
  assert.equal(audit.at(-1)?.outcome, 'refused');
});

test('a dry run plans the exact offsets and changes nothing', async () => {
  const before = audit.length;
  const plan = await moveGroup(deps, { group: G, wave: WAVE, direction: 'to-target', dryRun: true, who: 'tester', reason: '' });
  assert.equal(plan.outcome, 'planned');
  assert.equal(plan.ready, true);
  const p0 = plan.partitions.find((p) => p.partition === 0);
  // Source offset 27 is the 8th copied record: target offset 7.
  assert.deepEqual(p0?.placement, { kind: 'exact', offset: 7n, rule: 'copied-record' });
  assert.deepEqual([...(await committedOn('target', G))], []);
  assert.equal(audit.length, before);
});

test('a group with running consumers is refused', async () => {
  const group = `cg-running-${run}`;
  const consumer: Consumer = kafkaFor(bootstrapOf('source'), 'cg-running').consumer({ groupId: group, maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let read = 0;
    await consumer.run({ eachMessage: async () => { read++; } });
    // Wait until it has joined and committed something, so the group has offsets and members.
    const deadline = Date.now() + 30_000;
    while ((await committedOn('source', group)).size === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 300));
    assert.ok(read > 0);
    await assert.rejects(
      moveGroup(deps, { group, wave: WAVE, direction: 'to-target', dryRun: false, who: 'tester', reason: '' }),
      (err: unknown) => err instanceof ConsumerMoveRefusedError && err.details.some((d) => d.includes('is not empty on the source') && d.includes('1 member(s)')),
    );
    assert.deepEqual([...(await committedOn('target', group))], []);
  } finally {
    await consumer.disconnect();
  }
});

test('the moved group restarts on the target and reads every remaining record exactly once', async () => {
  const result = await moveGroup(deps, { group: G, wave: WAVE, direction: 'to-target', dryRun: false, who: 'tester', reason: 'wave done' });
  assert.equal(result.outcome, 'ok');
  assert.deepEqual(result.warnings, []);
  const onTarget = await committedOn('target', G);
  assert.equal(onTarget.get(0), 7n);
  assert.equal(onTarget.get(1), (await ends('target')).get(1));
  const entry = audit.at(-1);
  assert.equal(entry?.outcome, 'ok');
  assert.deepEqual(entry?.details.offsets?.find((o) => o.partition === 0), { topic, partition: 0, from: '27', to: '7' });

  // The gate no longer names G; it still names the group that is behind.
  const gate = await consumerPromotionGate(deps)(WAVE);
  assert.ok(!gate.refusals.some((r) => r.includes(`"${G}"`)), gate.refusals.join('\n'));
  assert.ok(gate.refusals.some((r) => r.includes(`"${G_BEHIND}"`)));

  // More traffic after the move (on the target, copied to the source), then G runs on the target to the end.
  for (const p of PARTITIONS) await copiedBatch(p, 'after-move', 4);
  const targetEnd = await ends('target');
  const gRead = await consumeAndStop('target', G, onTarget, targetEnd);
  for (const p of PARTITIONS) readByG.get(p)!.push(...gRead.get(p)!);
  for (const p of PARTITIONS) assert.deepEqual(readByG.get(p), written.get(p), `partition ${p}: every record exactly once, in order`);
  const listed = (await listWaveConsumers(deps, WAVE)).groups.find((x) => x.group === G);
  assert.equal(listed?.readsFrom, 'target');
  assert.equal(listed?.next.direction, 'to-source');
});

test('moving back to the source works the same way in reverse', async () => {
  for (const p of PARTITIONS) await copiedBatch(p, 'before-back', 5);
  const targetEnd = await ends('target');
  const start = await committedOn('target', G);
  // Partition 0 stops 2 records before the end, partition 1 reads everything.
  const gRead = await consumeAndStop('target', G, start, new Map([[0, targetEnd.get(0)! - 2n], [1, targetEnd.get(1)!]]));
  for (const p of PARTITIONS) readByG.get(p)!.push(...gRead.get(p)!);

  const result = await moveGroup(deps, { group: G, wave: WAVE, direction: 'to-source', dryRun: false, who: 'tester', reason: 'roll consumers back' });
  assert.equal(result.outcome, 'ok');
  assert.equal(result.from, 'target');
  const onSource = await committedOn('source', G);
  const sourceEnd = await ends('source');
  assert.equal(onSource.get(0), sourceEnd.get(0)! - 2n);
  assert.equal(onSource.get(1), sourceEnd.get(1));
  assert.equal(audit.at(-1)?.details.direction, 'to-source');

  for (const p of PARTITIONS) await copiedBatch(p, 'after-back', 3);
  const gRest = await consumeAndStop('source', G, onSource, await ends('source'));
  for (const p of PARTITIONS) readByG.get(p)!.push(...gRest.get(p)!);
  for (const p of PARTITIONS) assert.deepEqual(readByG.get(p), written.get(p), `partition ${p}: exactly once across source, target and source again`);

  // Back on the source and further along there: the promotion gate names it again.
  const gate = await consumerPromotionGate(deps)(WAVE);
  assert.ok(gate.refusals.some((r) => r.includes(`"${G}" still reads the source`)), gate.refusals.join('\n'));
});

test('through kmp serve: the admin API lists a group and moves it, and the audit records the move', async () => {
  // Without the write-back wired, kmp serve has an empty sync map: a group that has read everything on the
  // source can still move exactly to a target partition that is empty (offset 0).
  const t2 = uniqueTopic('cg-serve');
  const group = `cg-serve-${run}`;
  await Promise.all([createTopic('source', t2, 1), createTopic('target', t2, 1)]);
  await produceBatch(producers.source, t2, 0, ['a', 'b', 'c', 'd', 'e']);
  await withAdmin('source', (admin) => admin.setOffsets({ groupId: group, topic: t2, partitions: [{ partition: 0, offset: '5' }] }));
  const proxy = await startProxy({ routes: { batches: { 'wave-serve': { topics: [t2] } } } });
  try {
    const listed = await fetch(`${proxy.adminUrl}/v1/consumers?wave=wave-serve`).then((r) => r.json()) as { waves: { groups: { group: string; readsFrom: string; next: { ready: boolean } }[] }[] };
    const g = listed.waves[0].groups.find((x) => x.group === group);
    assert.equal(g?.readsFrom, 'source');
    assert.equal(g?.next.ready, true);
    const res = await fetch(`${proxy.adminUrl}/v1/consumers/${group}/move`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ wave: 'wave-serve', reason: 'e2e' }) });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal((await committedOffsetsOf('target', group, t2)).get(0), 0n);
    const audit = await fetch(`${proxy.adminUrl}/v1/audit`).then((r) => r.json()) as { entries: { action: string; target: { kind: string; name: string }; outcome: string; reason: string }[] };
    assert.deepEqual(audit.entries.at(-1), { ...audit.entries.at(-1), action: 'consumer-move', target: { kind: 'group', name: group }, outcome: 'ok', reason: 'e2e' });
    const again = await fetch(`${proxy.adminUrl}/v1/consumers/${group}/move`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ wave: 'no-such-wave' }) });
    assert.equal(again.status, 404);
  } finally {
    await proxy.stop();
  }
});

async function committedOffsetsOf(c: ClusterName, group: string, t: string): Promise<Map<number, bigint>> {
  return new Map((await deps.groups[c].committedOffsets(group)).filter((o) => o.topic === t).map((o) => [o.partition, o.offset]));
}

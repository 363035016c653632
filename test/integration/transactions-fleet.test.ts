// Transactional producers through a fleet of three kmp processes (docs/transactions.md §fleet), waves with
// write-back off. A Java KafkaProducer and a kafkajs producer with transactional ids run transactions back to back
// (every 5th / 4th aborted) while six moves run, taken by different instances; then the instance that owns the
// Java id (rendezvous over the live members) is killed with SIGKILL. Read straight from both clusters with
// read_committed consumers:
// - every committed transaction is visible exactly once, all of it on one cluster; no aborted one is visible;
// - no client saw a fatal error, and the Java producer went on committing after its coordinator died (it found
//   the new owner by FindCoordinator again);
// - only an id's owner served its EndTxn (the others answer NOT_COORDINATOR), and each move initialised every id on
//   the new cluster and fenced the old side exactly once in the fleet (by the owner);
// - no transaction is left open on either cluster (DescribeProducers).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ensureKafkaPair, kafkaFor, createTopics, uniqueTopic } from '../support/kafka.ts';
import type { RunningProxy } from '../support/proxy.ts';
import { admin, fleetView, startFleetMember, waitFor } from '../support/fleet.ts';
import { openTransactions, readCommitted, startJavaTxnProducer, type CommittedRecord } from '../support/transactions.ts';
import { rendezvousOwner } from '../../routing/fleet/rendezvous.ts';
import { coordinatorKey } from '../../src/transactions/transaction-ownership.ts';
import { CoordinatorKeyType } from '../../src/transactions/transaction-upstream.ts';

const t1 = uniqueTopic('txn-fleet-a');
const t2 = uniqueTopic('txn-fleet-b');
const prefix = `_kmp-it-txn-${randomUUID().slice(0, 8)}`;
const LEASE_MS = 2_000;
const MOVES = 6;
const MEMBERS = ['kmp-0', 'kmp-1', 'kmp-2'];
let fleet: RunningProxy[] = [];

const ownerOf = (transactionalId: string, live: readonly string[] = MEMBERS): string =>
  rendezvousOwner(live, coordinatorKey(CoordinatorKeyType.TRANSACTION, transactionalId))!;

before(async () => {
  await ensureKafkaPair();
  await Promise.all([createTopics('source', [t1, t2], 3), createTopics('target', [t1, t2], 3)]);
  const extra = { flip: { timeoutMs: 10_000, maxHeldRequests: 10_000, transactionDrainMs: 8_000 } };
  fleet = await Promise.all([0, 1, 2].map((nodeId) => startFleetMember({ nodeId, topics: [t1, t2], prefix, leaseMs: LEASE_MS, routes: { default: 'source', batches: { wave: { topics: [t1, t2] } } }, extra })));
  await waitFor(async () => (await Promise.all(fleet.map(fleetView))).every((v) => v.live.length === 3), 20_000, 'three live members');
});

after(async () => {
  await Promise.all(fleet.map((p) => p.stop()));
});

interface Outcome {
  committed: Set<string>;
  aborted: Set<string>;
  recovered: Set<string>;
  fatal: string[];
  size: number;
}

async function jsLoop(name: string, producer: { transaction(): Promise<{ send(r: unknown): Promise<unknown>; commit(): Promise<void>; abort(): Promise<void> }> }, topic: string, stop: () => boolean, out: Outcome): Promise<void> {
  for (let i = 0; !stop(); i++) {
    const label = `${name}|${i}`;
    const commit = (i + 1) % 4 !== 0;
    let tx;
    try {
      tx = await producer.transaction();
      await tx.send({ topic, messages: [0, 1].map((j) => ({ key: `k${j}`, value: `${label}|${j}` })) });
      if (commit) await tx.commit();
      else await tx.abort();
      (commit ? out.committed : out.aborted).add(label);
    } catch (err) {
      try {
        await tx?.abort();
        out.recovered.add(label);
      } catch (abortErr) {
        out.fatal.push(`${label}: ${String(err)} / abort: ${String(abortErr)}`);
        return;
      }
    }
    await new Promise((r) => setTimeout(r, 30));
  }
}

interface InventoryView {
  transactionalIds: { transactionalId: string; committed: number; homeCluster: string }[];
  flips: { label: string; waitedMs: number; waitedFor: string[]; rehomed: string[]; outcome: string }[];
}

test('Java and kafkajs transactions through a fleet of three across 6 moves and a kill -9 of the Java id\'s owner: committed exactly once on one cluster, aborted nowhere', { timeout: 170_000 }, async (t) => {
  const javaId = `java-${t1}`;
  // The kafkajs id lives on another member than the Java one: kafkajs cannot retry an EndTxn whose coordinator
  // died (its commit() leaves the producer in COMMITTING), and this test kills the Java id's owner.
  let kjsId = `kafkajs-${t1}`;
  for (let n = 0; ownerOf(kjsId) === ownerOf(javaId); n++) kjsId = `kafkajs-${t1}-${n}`;
  const bootstrap = fleet.map((p) => p.bootstrap);
  const java = startJavaTxnProducer(bootstrap.join(','), javaId);
  await java.waitFor(/^READY$/);
  java.send(`LOOP 100000 ${t1},${t2} 2 5 40`);
  const kjs = kafkaFor(bootstrap, 'kmp-it-txn-fleet-kafkajs').producer({ transactionalId: kjsId, idempotent: true, maxInFlightRequests: 1 });
  await kjs.connect();
  let stopping = false;
  const kjsOut: Outcome = { committed: new Set(), aborted: new Set(), recovered: new Set(), fatal: [], size: 2 };
  const loop = jsLoop(kjsId, kjs as never, t1, () => stopping, kjsOut);
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const javaCommitted = () => java.lines().filter((l) => l.startsWith('COMMITTED ')).length;

  const holds: number[] = [];
  let killedOwner = '';
  let failoverMs = NaN;
  let inventories: InventoryView[] = [];
  try {
    await pause(1_500);
    for (let m = 0; m < MOVES; m++) {
      const via = fleet[m % 3];
      const res = await admin<{ members?: { holdMs: number | null; status: string }[] }>(via, 'POST', `/v1/batches/wave/${m % 2 === 0 ? 'flip' : 'rollback'}`, { reason: `txn fleet move ${m}` });
      assert.equal(res.status, 200, JSON.stringify(res.json));
      for (const member of res.json.members ?? []) {
        assert.equal(member.status, 'released');
        holds.push(member.holdMs ?? NaN);
      }
      await pause(700);
    }
    // Every member ran the flip guard for every move; the owners moved their ids, nobody else.
    inventories = await Promise.all(fleet.map(async (p) => (await admin<InventoryView>(p, 'GET', '/v1/transactions')).json));
    // Then the owner of the Java id dies.
    killedOwner = ownerOf(javaId);
    const victim = fleet[MEMBERS.indexOf(killedOwner)];
    const before = javaCommitted();
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    await victim.stop();
    fleet = fleet.filter((p) => p !== victim);
    await waitFor(async () => javaCommitted() >= before + 10, 60_000, 'Java transactions committed after its coordinator was killed');
    failoverMs = Date.now() - killedAt;
    await pause(1_000);
  } finally {
    stopping = true;
    await loop;
    java.send('STOP');
  }
  const code = await java.finish();
  await kjs.disconnect();

  const javaOut: Outcome = { committed: new Set(), aborted: new Set(), recovered: new Set(), fatal: [], size: 4 };
  for (const line of java.lines()) {
    const [kind, label] = line.split(' ');
    if (kind === 'COMMITTED') javaOut.committed.add(label);
    else if (kind === 'ABORTED') javaOut.aborted.add(label);
    else if (kind === 'RECOVERED') javaOut.recovered.add(label);
    else if (kind === 'FATAL') javaOut.fatal.push(line);
  }
  if (process.env.KMP_TXN_DEBUG_DIR !== undefined) {
    const fs = await import('node:fs');
    fs.writeFileSync(`${process.env.KMP_TXN_DEBUG_DIR}/java.txt`, java.lines().join('\n'));
    for (const p of fleet) fs.writeFileSync(`${process.env.KMP_TXN_DEBUG_DIR}/kmp-${p.port}.txt`, p.logs());
  }
  assert.equal(code, 0, java.lines().slice(-20).join('\n'));

  const records: { cluster: string; topic: string; r: CommittedRecord }[] = [];
  for (const cluster of ['source', 'target'] as const) {
    for (const topic of [t1, t2]) for (const r of await readCommitted(cluster, topic)) records.push({ cluster, topic, r });
  }
  const byLabel = new Map<string, { cluster: string; value: string }[]>();
  for (const { cluster, topic, r } of records) {
    const label = r.value.split('|').slice(0, 2).join('|');
    let list = byLabel.get(label);
    if (list === undefined) byLabel.set(label, (list = []));
    list.push({ cluster, value: `${topic}:${r.value}` });
  }
  for (const [name, out] of [['java', javaOut], ['kafkajs', kjsOut]] as const) {
    assert.deepEqual(out.fatal, [], `${name}: fatal errors`);
    assert.ok(out.committed.size >= 20, `${name}: only ${out.committed.size} transactions committed`);
    for (const label of out.committed) {
      const seen = byLabel.get(label) ?? [];
      assert.equal(seen.length, out.size, `${name} ${label}: committed with ${out.size} records, ${seen.length} visible: ${JSON.stringify(seen)}`);
      assert.equal(new Set(seen.map((s) => s.value)).size, out.size, `${name} ${label}: a record is visible twice`);
      assert.equal(new Set(seen.map((s) => s.cluster)).size, 1, `${name} ${label}: split across clusters`);
    }
    for (const label of [...out.aborted, ...out.recovered]) assert.equal(byLabel.get(label), undefined, `${name} ${label}: aborted but visible`);
    t.diagnostic(`${name}: ${out.committed.size} committed, ${out.aborted.size} aborted, ${out.recovered.size} aborted after an error`);
  }
  // Order: per partition a producer's transactions keep their order on each cluster, and over both clusters its
  // transactions form at most one run per move (never interleaved between the clusters).
  const lastOnPartition = new Map<string, number>();
  const clusterOfIndex = new Map<string, Map<number, string>>();
  for (const { cluster, topic, r } of [...records].sort((a, b) => (a.r.offset < b.r.offset ? -1 : 1))) {
    const [name, index] = r.value.split('|');
    const key = `${cluster}/${topic}/${r.partition}/${name}`;
    assert.ok((lastOnPartition.get(key) ?? -1) <= Number(index), `${key}: transaction ${index} at offset ${r.offset} after transaction ${lastOnPartition.get(key)}`);
    lastOnPartition.set(key, Number(index));
    let m = clusterOfIndex.get(name);
    if (m === undefined) clusterOfIndex.set(name, (m = new Map()));
    m.set(Number(index), cluster);
  }
  for (const [name, m] of clusterOfIndex) {
    const byIndex = [...m.entries()].sort((a, b) => a[0] - b[0]);
    const changes = byIndex.filter((x, k) => k > 0 && x[1] !== byIndex[k - 1][1]).length;
    assert.ok(changes <= MOVES, `${name}: its transactions switch cluster ${changes} times over ${MOVES} moves`);
  }
  const known = new Set([...javaOut.committed, ...kjsOut.committed]);
  for (const label of byLabel.keys()) assert.ok(known.has(label), `${label} is visible but was never reported committed`);
  const onTarget = [...byLabel.values()].filter((l) => l[0].cluster === 'target').length;
  assert.ok(onTarget > 0 && onTarget < byLabel.size, `transactions on target: ${onTarget} of ${byLabel.size}`);

  // Before the kill: EndTxn only through the owner; each move's rehome (init on the new cluster, fence the old)
  // exactly once per id over the fleet.
  for (const id of [javaId, kjsId]) {
    const counts = inventories.map((inv, i) => ({ member: MEMBERS[i], committed: inv.transactionalIds.find((x) => x.transactionalId === id)?.committed ?? 0 }));
    for (const c of counts) {
      if (c.member === ownerOf(id)) assert.ok(c.committed > 0, `${id}: its owner ${c.member} served no EndTxn`);
      else assert.equal(c.committed, 0, `${id}: ${c.member} is not its owner but served EndTxn`);
    }
  }
  for (const inv of inventories) assert.equal(inv.flips.length, MOVES, `every member guarded every move: ${JSON.stringify(inv.flips)}`);
  for (let m = 0; m < MOVES; m++) {
    const rehomed = inventories.flatMap((inv) => inv.flips[m].rehomed).sort();
    assert.deepEqual(rehomed, [javaId, kjsId].sort(), `move ${m}: each id moved once in the fleet`);
    for (const inv of inventories) assert.equal(inv.flips[m].outcome, 'ok');
  }

  for (const cluster of ['source', 'target'] as const) assert.deepEqual(await openTransactions(cluster, [t1, t2]), [], `hanging transactions on ${cluster}`);
  const waits = inventories.map((inv, i) => `${MEMBERS[i]} ${JSON.stringify(inv.flips.map((f) => f.waitedMs))}`);
  const waitedOpen = inventories.reduce((n, inv) => n + inv.flips.filter((f) => f.waitedFor.length > 0).length, 0);
  t.diagnostic(`moves ${MOVES}; member holds ms ${JSON.stringify(holds)}; transaction drain waits ms ${waits.join('; ')}; an owner waited for an open transaction ${waitedOpen} times; killed ${killedOwner} (owner of ${javaId}): Java committed 10 more after ${failoverMs} ms (lease ${LEASE_MS} ms); transactions checked ${byLabel.size} committed + ${[javaOut, kjsOut].reduce((n, o) => n + o.aborted.size + o.recovered.size, 0)} aborted`);
});

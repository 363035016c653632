// A fleet instance that took a flip dies (kill -9) between prepare and decision, while the others hold the moving
// partitions (routing/fleet/orphan-resolver.ts, docs/fleet.md "A coordinator that dies mid-move"):
// - the others release after a lease, long before flip.timeoutMs (30 s here), without a restart;
// - the move is not half-applied: every survivor shows the same table version and the same route for the wave;
// - a kafkajs idempotent producer writing through the fleet the whole time loses and duplicates nothing.
// To catch the coordinator mid-move, a third member is paused (SIGSTOP) for a moment, so the coordinator waits for
// its prepared while the second member already holds; the coordinator is killed then, and the third resumed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ensureKafkaPair, createTopics, uniqueTopic } from '../support/kafka.ts';
import type { RunningProxy } from '../support/proxy.ts';
import { admin, checkExactlyOnce, fleetView, readBothClusters, startFleetMember, waitFor } from '../support/fleet.ts';
import { kafkajsStreamingProducer, pump, sleep } from '../support/streaming-producers.ts';

const PARTITIONS = 3;
const topics = [uniqueTopic('fleet-coord-crash-0'), uniqueTopic('fleet-coord-crash-1')];
const prefix = `_kmp-cc-${randomUUID().slice(0, 8)}`;
const LEASE_MS = 2_000;
const FLIP_TIMEOUT_MS = 30_000;
let fleet: RunningProxy[] = [];

interface RoutesView {
  version: number;
  batches: { name: string; cluster: string }[];
  moves: unknown[];
}

const routes = async (p: RunningProxy): Promise<RoutesView> => (await admin<RoutesView>(p, 'GET', '/v1/routes')).json;

before(async () => {
  await ensureKafkaPair();
  await Promise.all([createTopics('source', topics, PARTITIONS), createTopics('target', topics, PARTITIONS)]);
  fleet = [];
  for (let i = 0; i < 3; i++) fleet.push(await startFleetMember({ nodeId: i, topics, prefix, leaseMs: LEASE_MS, flipTimeoutMs: FLIP_TIMEOUT_MS }));
  await waitFor(async () => (await Promise.all(fleet.map(fleetView))).every((v) => v.live.length === 3 && !v.fenced), 20_000, 'three live members');
});

after(async () => {
  for (const p of fleet) {
    if (p.child.exitCode === null) p.child.kill('SIGCONT');
  }
  await Promise.all(fleet.map((p) => p.stop()));
});

test('kill -9 of the instance coordinating a flip while the others hold: they release within a lease, the route stays whole, nothing lost or duplicated', async () => {
  const [coordinator, holder, paused] = fleet;
  const producer = kafkajsStreamingProducer({ bootstrap: holder.bootstrap, firstTopic: topics[0], maxPerRequest: 1 });
  await producer.start();
  const load = pump(producer, { ratePerSec: 100, next: (seq) => ({ topic: topics[seq % topics.length], key: `k${seq % 11}`, value: `cc-${seq}` }) });
  let releasedAfterMs = NaN;
  try {
    await sleep(1_500);
    const before = await routes(holder);
    paused.child.kill('SIGSTOP');
    // The flip's answer never comes (its instance dies): do not await it.
    const flip = admin(coordinator, 'POST', '/v1/batches/wave-1/flip', { reason: 'coordinator crash test' }).catch(() => null);
    await waitFor(async () => (await routes(holder)).moves.length > 0, 5_000, 'the second member holding for the move');
    coordinator.child.kill('SIGKILL');
    const killedAt = Date.now();
    paused.child.kill('SIGCONT');
    await coordinator.stop();
    fleet = [holder, paused];
    await flip;
    await waitFor(async () => (await Promise.all(fleet.map(routes))).every((r) => r.moves.length === 0), FLIP_TIMEOUT_MS, 'the survivors releasing the move');
    releasedAfterMs = Date.now() - killedAt;
    const after = await Promise.all(fleet.map(routes));
    const wave = (r: RoutesView): string | undefined => r.batches.find((b) => b.name === 'wave-1')?.cluster;
    assert.equal(new Set(after.map((r) => r.version)).size, 1, `one table version on every survivor: ${after.map((r) => r.version).join(', ')}`);
    assert.equal(new Set(after.map(wave)).size, 1, 'one route for the wave on every survivor');
    assert.equal(wave(after[0]!), wave(before), 'aborted: the route is unchanged');
    assert.equal(after[0]!.version, before.version);
    await waitFor(async () => (await Promise.all(fleet.map(fleetView))).every((v) => v.live.length === 2 && !v.fenced), 15_000, 'two live members');
    await sleep(1_500); // writes go on after the release
  } finally {
    await load.stop();
    await producer.close(30_000);
  }
  console.log(`fleet coordinator kill -9 mid-move: survivors released after ${releasedAfterMs} ms (lease ${LEASE_MS} ms + skew 300 ms; flip.timeoutMs ${FLIP_TIMEOUT_MS} ms); records acknowledged ${producer.acked.size}`);
  assert.ok(releasedAfterMs < FLIP_TIMEOUT_MS / 2, `released after ${releasedAfterMs} ms`);
  assert.ok(producer.acked.size > 100, 'the producer kept writing');
  checkExactlyOnce(producer, await readBothClusters(topics), 'cc');
});

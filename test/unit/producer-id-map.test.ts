// ProducerIdMap: the issuing cluster of a client-facing pid is read from the pid itself (so every proxy instance
// and every restart agrees), the issuer's own pid is used on the issuer, and every other (cluster, generation)
// gets a fresh pid, allocated once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster } from '../../routing/cluster.ts';
import { ISSUED_BY_OTHER_CLUSTER, ProducerIdMap } from '../../src/proxy/producer-id-map.ts';

function map(defaultCluster: Cluster, movedBefore: string[] = []) {
  const allocations: Cluster[] = [];
  let next = 1000n;
  const ids = new ProducerIdMap({
    defaultCluster,
    allocate: async (cluster) => {
      allocations.push(cluster);
      return { producerId: next++, producerEpoch: 0 };
    },
    movedBefore: (t) => movedBefore.includes(t),
  });
  return { ids, allocations };
}

test('pids of the default cluster are unmarked and used unchanged there', async () => {
  const { ids, allocations } = map('source');
  assert.equal(ids.clientPid('source', 5n), 5n);
  assert.deepEqual(ids.issuerOf(5n), { cluster: 'source', producerId: 5n });
  assert.equal(ids.lookup('t', { producerId: 5n, producerEpoch: 2 }, 'source', 0), null);
  assert.deepEqual(await ids.lookup('t', { producerId: 5n, producerEpoch: 2 }, 'target', 0), { producerId: 1000n, producerEpoch: 0 });
  assert.deepEqual(allocations, ['target']);
});

test('pids of the other cluster are marked, and on their issuer only the marker is removed', async () => {
  for (const defaultCluster of ['source', 'target'] as const) {
    const other = defaultCluster === 'source' ? 'target' : 'source';
    const { ids, allocations } = map(defaultCluster);
    const client = ids.clientPid(other, 5n);
    assert.equal(client, 5n | ISSUED_BY_OTHER_CLUSTER);
    assert.ok(client > 0n && client < 2n ** 63n, 'still a valid positive int64');
    assert.deepEqual(ids.issuerOf(client), { cluster: other, producerId: 5n });
    assert.deepEqual(ids.lookup('t', { producerId: client, producerEpoch: 1 }, other, 0), { producerId: 5n, producerEpoch: 1 });
    // Never written unchanged to the default cluster, where 5 (or the marked number) may be another producer's.
    const onDefault = await ids.lookup('t', { producerId: client, producerEpoch: 1 }, defaultCluster, 0);
    assert.deepEqual(onDefault, { producerId: 1000n, producerEpoch: 0 });
    assert.deepEqual(allocations, [defaultCluster]);
  }
});

test('after a move (this process or before it) the issuer also gets a fresh pid', async () => {
  const { ids, allocations } = map('source', ['moved']);
  const client = ids.clientPid('target', 9n);
  const a = await ids.lookup('t', { producerId: client, producerEpoch: 0 }, 'target', 1);
  const b = await ids.lookup('moved', { producerId: client, producerEpoch: 0 }, 'target', 0);
  assert.notEqual(a, null);
  assert.notEqual(b, null);
  assert.equal(await ids.lookup('t', { producerId: client, producerEpoch: 0 }, 'target', 1), a, 'allocated once per (pid, epoch, cluster, generation)');
  assert.deepEqual(allocations, ['target', 'target']);
  assert.throws(() => ids.clientPid('target', ISSUED_BY_OTHER_CLUSTER), /too large to be marked/);
});

test('persisted mappings: a restarted map gives the same upstream pid for the same (client pid, epoch, cluster, generation), and a mapping is used only once it is durable', async () => {
  const { ProducerIdMap: Map2 } = await import('../../src/proxy/producer-id-map.ts');
  const stored: import('../../routing/state-store.ts').ProducerMapping[] = [];
  let next = 500n;
  let persisted: (() => void) | null = null;
  const first = new Map2({
    defaultCluster: 'source',
    allocate: async () => ({ producerId: next++, producerEpoch: 0 }),
    persist: (m) => new Promise<void>((resolve) => { persisted = () => { stored.push(m); resolve(); }; }),
  });
  const pending = first.lookup('t', { producerId: 7n, producerEpoch: 1 }, 'target', 4);
  assert.ok(pending instanceof Promise);
  let resolved = false;
  void (pending as Promise<unknown>).then(() => { resolved = true; });
  await new Promise((r) => setImmediate(r));
  assert.equal(resolved, false, 'not usable before it is persisted');
  assert.ok(persisted !== null);
  (persisted as () => void)();
  assert.deepEqual(await pending, { producerId: 500n, producerEpoch: 0 });
  assert.deepEqual(first.lookup('t', { producerId: 7n, producerEpoch: 1 }, 'target', 4), { producerId: 500n, producerEpoch: 0 }, 'a hit is synchronous');
  const restarted = new Map2({ defaultCluster: 'source', allocate: async () => ({ producerId: next++, producerEpoch: 0 }), known: stored });
  assert.deepEqual(restarted.lookup('t', { producerId: 7n, producerEpoch: 1 }, 'target', 4), { producerId: 500n, producerEpoch: 0 });
  const other = restarted.lookup('t', { producerId: 7n, producerEpoch: 1 }, 'target', 5);
  assert.deepEqual(await other, { producerId: 501n, producerEpoch: 0 }, 'another generation gets a fresh pid');
});

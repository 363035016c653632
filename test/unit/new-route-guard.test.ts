// The new route's check against the old cluster's producer state (routing/fleet/new-route-guard.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Cluster } from '../../routing/cluster.ts';
import { NewRouteGuard, type OldPartitionState } from '../../routing/fleet/new-route-guard.ts';

interface Loads {
  readonly calls: { topic: string; partition: number; old: Cluster }[];
  readonly pending: { resolve: (s: OldPartitionState<number>) => void; reject: (e: Error) => void }[];
}

function guardWith(options: { windowMs?: number; giveUpAfterMs?: number; loadTimeoutMs?: number } = {}): { guard: NewRouteGuard<number>; loads: Loads; clock: { now: number } } {
  const clock = { now: 0 };
  const loads: Loads = { calls: [], pending: [] };
  const guard = new NewRouteGuard<number>({
    windowMs: options.windowMs ?? 10_000,
    giveUpAfterMs: options.giveUpAfterMs ?? 5_000,
    loadTimeoutMs: options.loadTimeoutMs ?? 1_000,
    now: () => clock.now,
    load: (topic, partition, old) => {
      loads.calls.push({ topic, partition, old });
      return new Promise((resolve, reject) => loads.pending.push({ resolve, reject }));
    },
  });
  return { guard, loads, clock };
}

const oldHas = (...ids: number[]): OldPartitionState<number> => ({ has: (w) => ids.includes(w) });
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('NewRouteGuard', () => {
  it('forwards everything on a topic that never moved, without asking anyone', () => {
    const { guard, loads } = guardWith();
    assert.equal(guard.check('t', 0, { cluster: 'source', generation: 0 }, 1), 'forward');
    assert.equal(loads.calls.length, 0);
  });

  it('after a move: waits until the old cluster answered, then answers its writes as duplicates and forwards the rest', async () => {
    const { guard, loads } = guardWith();
    const route = { cluster: 'target' as const, generation: 3 };
    assert.equal(guard.check('t', 1, route, 7), 'wait');
    assert.equal(guard.check('t', 1, route, 8), 'wait');
    assert.deepEqual(loads.calls, [{ topic: 't', partition: 1, old: 'source' }], 'one load per partition, from the old cluster');
    loads.pending[0]!.resolve(oldHas(7));
    await settle();
    assert.equal(guard.check('t', 1, route, 7), 'duplicate');
    assert.equal(guard.check('t', 1, route, 8), 'forward');
    assert.equal(guard.check('t', 0, route, 7), 'wait', 'each partition has its own state');
    assert.equal(guard.stats.duplicates, 1);
  });

  it('a failed load is retried by the next batch; a load that never answers is started again after its timeout', async () => {
    const { guard, loads, clock } = guardWith({ loadTimeoutMs: 1_000 });
    const route = { cluster: 'source' as const, generation: 2 };
    assert.equal(guard.check('t', 0, route, 1), 'wait');
    loads.pending[0]!.reject(new Error('NOT_LEADER_OR_FOLLOWER'));
    await settle();
    assert.equal(guard.check('t', 0, route, 1), 'wait');
    assert.equal(loads.calls.length, 2);
    clock.now = 500;
    assert.equal(guard.check('t', 0, route, 1), 'wait');
    assert.equal(loads.calls.length, 2, 'still within the load timeout: no second request');
    clock.now = 1_600;
    assert.equal(guard.check('t', 0, route, 1), 'wait');
    assert.equal(loads.calls.length, 3);
    loads.pending[1]!.resolve(oldHas()); // the timed-out load answers late: ignored
    await settle();
    assert.equal(guard.check('t', 0, route, 1), 'wait');
    loads.pending[2]!.resolve(oldHas(1));
    await settle();
    assert.equal(guard.check('t', 0, route, 1), 'duplicate');
  });

  it('ends: after its window every batch is forwarded unchecked; without any answer it gives up after giveUpAfterMs', async () => {
    const { guard, loads, clock } = guardWith({ windowMs: 10_000, giveUpAfterMs: 5_000 });
    const a = { cluster: 'target' as const, generation: 4 };
    assert.equal(guard.check('a', 0, a, 1), 'wait');
    loads.pending[0]!.resolve(oldHas(1));
    await settle();
    assert.equal(guard.check('a', 0, a, 1), 'duplicate');
    assert.equal(guard.check('b', 0, a, 1), 'wait'); // b's old cluster never answers
    clock.now = 5_000;
    assert.equal(guard.check('b', 0, a, 1), 'forward', 'gave up on an unreachable old cluster');
    assert.equal(guard.stats.gaveUp, 1);
    assert.equal(guard.check('a', 0, a, 1), 'duplicate', 'a loaded state keeps answering within the window');
    clock.now = 10_000;
    assert.equal(guard.check('a', 0, a, 1), 'forward', 'the window is over');
  });

  it('a new route generation starts a new check from the new old cluster', async () => {
    const { guard, loads } = guardWith();
    assert.equal(guard.check('t', 0, { cluster: 'target', generation: 3 }, 1), 'wait');
    loads.pending[0]!.resolve(oldHas(1));
    await settle();
    assert.equal(guard.check('t', 0, { cluster: 'target', generation: 3 }, 1), 'duplicate');
    assert.equal(guard.check('t', 0, { cluster: 'source', generation: 5 }, 1), 'wait');
    assert.deepEqual(loads.calls.map((c) => c.old), ['source', 'target']);
  });

  it('prefetch loads a partition before its first batch, so that batch is not turned away', async () => {
    const { guard, loads } = guardWith();
    const route = { cluster: 'target' as const, generation: 6 };
    guard.prefetch('t', 2, route);
    guard.prefetch('t', 2, route);
    assert.equal(loads.calls.length, 1, 'one load, however often prefetched');
    loads.pending[0]!.resolve(oldHas(9));
    await settle();
    assert.equal(guard.check('t', 2, route, 9), 'duplicate');
    assert.equal(guard.check('t', 2, route, 10), 'forward');
    assert.equal(guard.stats.waits, 0);
  });
});

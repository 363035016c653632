import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import type { Cluster } from '../../routing/cluster.ts';
import {
  CutoverBarrier,
  isRejection,
  type Admission,
  type CommitContext,
  type FirstOffsetEvent,
  type MoveSpec,
  type Ticket,
} from '../../routing/cutover-barrier.ts';
import { InvalidTicketError, RouteConflictError } from '../../routing/errors.ts';

/** A barrier over a plain route map; commit() of a move flips the map, as the control plane's commit does. */
function setup(options: { quarantineMs?: number; unresolvedWindowMs?: number } = {}) {
  const routes = new Map<string, Cluster>();
  const barrier = new CutoverBarrier({ routeOf: (topic) => routes.get(topic) ?? 'source', ...options });
  const events: string[] = [];
  function spec(topics: string[], overrides: Partial<MoveSpec> = {}): MoveSpec {
    const from = overrides.from ?? 'source';
    const to = overrides.to ?? 'target';
    return {
      topics,
      partitionsOf: () => 'unknown',
      from,
      to,
      timeoutMs: 1_000,
      maxHeldRequests: 100,
      commit: async (context: CommitContext) => {
        events.push('commit');
        for (const topic of context.topics) routes.set(topic, to);
      },
      ...overrides,
    };
  }
  return { routes, barrier, events, spec };
}

function ticket(admission: Admission | Promise<Admission>): Ticket {
  assert.ok(!(admission instanceof Promise), 'expected a synchronous admission');
  assert.ok(!isRejection(admission), `expected a ticket, got a rejection (${isRejection(admission) ? admission.reason : ''})`);
  return admission;
}

function held(admission: Admission | Promise<Admission>): Promise<Admission> {
  assert.ok(admission instanceof Promise, 'expected the admission to be held');
  return admission;
}

/** Tracks whether a promise has settled, without awaiting it. */
function watch<T>(promise: Promise<T>): { settled: () => boolean; value: () => T | undefined } {
  let done = false;
  let result: T | undefined;
  void promise.then((v) => {
    done = true;
    result = v;
  });
  return { settled: () => done, value: () => result };
}

describe('cutover barrier: common path', () => {
  it('admits synchronously with the routed cluster and generation 0', () => {
    const { barrier, routes } = setup();
    const t = ticket(barrier.admit('orders', 0));
    assert.deepEqual({ topic: t.topic, partition: t.partition, cluster: t.cluster, generation: t.generation }, {
      topic: 'orders',
      partition: 0,
      cluster: 'source',
      generation: 0,
    });
    routes.set('other', 'target');
    assert.equal(ticket(barrier.admit('other', 3)).cluster, 'target');
    assert.equal(barrier.inFlight, 2);
    assert.deepEqual([...barrier.inFlightByTopic()], [
      ['orders', 1],
      ['other', 1],
    ]);
    barrier.complete(t, { ok: true, baseOffset: 5n });
    assert.equal(barrier.inFlight, 1);
    assert.deepEqual([...barrier.inFlightByTopic()], [['other', 1]]);
  });

  it('rejects double completion and foreign tickets', () => {
    const { barrier } = setup();
    const t = ticket(barrier.admit('orders', 0));
    barrier.complete(t, { ok: true, baseOffset: 1n });
    assert.throws(() => barrier.complete(t, { ok: true, baseOffset: 1n }), InvalidTicketError);
    assert.throws(() => barrier.abandon(t), InvalidTicketError);
    assert.throws(() => barrier.complete({ topic: 'orders', partition: 0, cluster: 'source', generation: 0 }, { ok: true, baseOffset: 1n }), InvalidTicketError);
    assert.throws(() => barrier.admit('orders', -1), RangeError);
  });
});

describe('cutover barrier: hold, drain, release', () => {
  it('releases held admissions only after the drain and the commit, to the new cluster, in order', async () => {
    const { barrier, events, spec } = setup();
    const inflight0 = ticket(barrier.admit('orders', 0));
    const inflight1 = ticket(barrier.admit('orders', 1));
    let context: CommitContext | undefined;
    const move = barrier.move(
      spec(['orders'], {
        partitionsOf: () => [0, 1, 2],
        commit: async (c) => {
          events.push('commit');
          context = c;
        },
      }),
    );
    const moveDone = watch(move);
    const first = watch(held(barrier.admit('orders', 0)));
    const second = watch(held(barrier.admit('orders', 2)));
    assert.equal(barrier.heldNow, 2);
    assert.ok(barrier.isHeld('orders'));

    // Other topics never wait.
    const other = ticket(barrier.admit('payments', 0));
    assert.equal(other.cluster, 'source');

    await tick();
    assert.equal(first.settled(), false);
    barrier.complete(inflight0, { ok: true, baseOffset: 10n, lastOffset: 14n });
    await tick();
    assert.equal(first.settled(), false, 'still draining partition 1');
    assert.equal(events.length, 0, 'no commit before the drain');
    barrier.complete(inflight1, { ok: true, baseOffset: 3n });
    events.push('drained');
    const result = await move;
    assert.ok(moveDone.settled());
    assert.deepEqual(events, ['drained', 'commit']);
    assert.equal(result.outcome, 'committed');
    assert.equal(result.heldRequests, 2);
    assert.equal(result.rejectedRequests, 0);
    assert.deepEqual(result.topics, ['orders']);
    assert.ok(result.timings.holdMs >= result.timings.drainMs);
    assert.ok(result.timings.totalMs >= result.timings.holdMs);
    assert.deepEqual(
      result.partitions.map((p) => [p.partition, p.lastOffsetOnOld, p.failedDrain]),
      [
        [0, 14n, false],
        [1, 3n, false],
        [2, null, false],
      ],
    );
    assert.equal(context?.partitions.length, 3);

    await tick();
    const a = ticket(first.value() ?? assert.fail('released'));
    const b = ticket(second.value() ?? assert.fail('released'));
    // This commit did not change the route: held requests follow the route, and the generation stays.
    assert.equal(a.cluster, 'source');
    assert.equal(b.cluster, 'source');
    assert.equal(a.generation, 0);
    assert.equal(barrier.heldNow, 0);
    assert.equal(barrier.isHeld('orders'), false);
  });

  it('sends held admissions to the new cluster with a new generation; the first offset there fills the ledger', async () => {
    const { barrier, spec } = setup();
    const before = ticket(barrier.admit('orders', 0));
    const firstOffsets: FirstOffsetEvent[] = [];
    const move = barrier.move(spec(['orders'], { onFirstOffset: (e) => firstOffsets.push(e) }));
    const waiting = held(barrier.admit('orders', 0));
    barrier.complete(before, { ok: true, baseOffset: 99n });
    const result = await move;
    assert.equal(result.outcome, 'committed');
    const after = ticket(await waiting);
    assert.equal(after.cluster, 'target');
    assert.equal(after.generation, 1);
    assert.equal(barrier.generationOf('orders'), 1);
    const next = ticket(barrier.admit('orders', 0));
    assert.equal(next.cluster, 'target');
    barrier.complete(after, { ok: true, baseOffset: 0n, lastOffset: 4n });
    barrier.complete(next, { ok: true, baseOffset: 5n });
    assert.deepEqual(firstOffsets, [{ topic: 'orders', partition: 0, generation: 1, cluster: 'target', offset: 0n }]);
  });

  it('a first write on the new cluster still in flight when the next move starts completes its ledger entry', async () => {
    const { barrier, spec } = setup();
    const firstOffsets: FirstOffsetEvent[] = [];
    barrier.complete(ticket(barrier.admit('t', 0)), { ok: true, baseOffset: 7n }); // the partition has history on the source
    assert.equal((await barrier.move(spec(['t'], { onFirstOffset: (e) => firstOffsets.push(e) }))).outcome, 'committed');
    const inflight = ticket(barrier.admit('t', 0)); // first write on the target, not answered yet
    const rollback = barrier.move(spec(['t'], { from: 'target', to: 'source', onFirstOffset: (e) => firstOffsets.push(e) }));
    barrier.complete(inflight, { ok: true, baseOffset: 100n, lastOffset: 103n });
    const result = await rollback;
    assert.equal(result.outcome, 'committed');
    assert.equal(result.partitions[0].lastOffsetOnOld, 103n);
    assert.deepEqual(firstOffsets, [{ topic: 't', partition: 0, generation: 1, cluster: 'target', offset: 100n }]);
  });

  it('the first offset on the new cluster is the lowest among writes in flight together, not the first answer', async () => {
    const { barrier, spec } = setup();
    const firstOffsets: FirstOffsetEvent[] = [];
    barrier.complete(ticket(barrier.admit('t', 0)), { ok: true, baseOffset: 3n });
    assert.equal((await barrier.move(spec(['t'], { onFirstOffset: (e) => firstOffsets.push(e) }))).outcome, 'committed');
    // Two producers' writes travel on different upstream connections: the one appended first answers last.
    const a = ticket(barrier.admit('t', 0));
    const b = ticket(barrier.admit('t', 0));
    barrier.complete(b, { ok: true, baseOffset: 1n });
    assert.equal(firstOffsets.length, 0, 'not reported while a write admitted before that answer is still open');
    const later = ticket(barrier.admit('t', 0)); // admitted after the first answer: appended after it
    barrier.complete(a, { ok: true, baseOffset: 0n });
    assert.deepEqual(firstOffsets.map((e) => e.offset), [0n]);
    barrier.complete(later, { ok: true, baseOffset: 2n });
    assert.equal(firstOffsets.length, 1);
  });

  it('bumps the generation on every committed move, not on an abort', async () => {
    const { barrier, spec } = setup();
    assert.equal((await barrier.move(spec(['t']))).outcome, 'committed');
    assert.equal(barrier.generationOf('t'), 1);
    assert.equal((await barrier.move(spec(['t'], { from: 'target', to: 'source' }))).outcome, 'committed');
    assert.equal(barrier.generationOf('t'), 2);
    const stuck = ticket(barrier.admit('t', 0));
    assert.equal(stuck.generation, 2);
    const aborted = await barrier.move(spec(['t'], { timeoutMs: 5 }));
    assert.equal(aborted.outcome, 'aborted');
    assert.equal(barrier.generationOf('t'), 2);
    barrier.complete(stuck, { ok: true, baseOffset: 1n });
  });

  it('times out: no commit, held requests go to the old cluster, the reason names the busy partitions', async () => {
    const { barrier, events, spec } = setup();
    const stuck = ticket(barrier.admit('orders', 3));
    const move = barrier.move(spec(['orders'], { timeoutMs: 20 }));
    const waiting = held(barrier.admit('orders', 3));
    const result = await move;
    assert.equal(result.outcome, 'aborted');
    assert.equal(result.abort?.cause, 'timeout');
    assert.match(result.abort?.message ?? '', /did not finish within 20 ms/);
    assert.match(result.abort?.message ?? '', /orders\[3\]×1/);
    assert.match(result.abort?.message ?? '', /route stays on source/);
    assert.deepEqual(events, [], 'commit must not run');
    const released = ticket(await waiting);
    assert.equal(released.cluster, 'source');
    assert.equal(released.generation, 0);
    assert.equal(barrier.isHeld('orders'), false);
    // A late answer for the drained request is handled normally.
    barrier.complete(stuck, { ok: true, baseOffset: 1n });
    barrier.complete(released, { ok: true, baseOffset: 2n });
    assert.equal(barrier.inFlight, 0);
  });

  it('cancels through an AbortSignal', async () => {
    const { barrier, spec } = setup();
    const stuck = ticket(barrier.admit('orders', 0));
    const controller = new AbortController();
    const move = barrier.move(spec(['orders'], { signal: controller.signal }));
    controller.abort();
    const result = await move;
    assert.equal(result.abort?.cause, 'cancelled');
    barrier.complete(stuck, { ok: true, baseOffset: 1n });
  });

  it('a failing commit aborts the move and rethrows; held requests go to the old cluster', async () => {
    const { barrier, spec } = setup();
    const move = barrier.move(
      spec(['orders'], {
        commit: async () => {
          throw new Error('disk full');
        },
      }),
    );
    const waiting = held(barrier.admit('orders', 0));
    await assert.rejects(move, /disk full/);
    const released = ticket(await waiting);
    assert.equal(released.cluster, 'source');
    assert.equal(barrier.generationOf('orders'), 0);
  });

  it('holds new admissions during the commit too', async () => {
    const { barrier, spec, routes } = setup();
    let duringCommit: Promise<Admission> | undefined;
    const result = await barrier.move(
      spec(['orders'], {
        commit: async () => {
          const a = barrier.admit('orders', 0);
          duringCommit = held(a);
          routes.set('orders', 'target');
        },
      }),
    );
    assert.equal(result.outcome, 'committed');
    assert.equal(ticket(await (duringCommit ?? assert.fail())).cluster, 'target');
  });
});

describe('cutover barrier: failed drains keep order', () => {
  it('rejects the held requests of the failed partition only; quarantines it briefly', async () => {
    const { barrier, spec } = setup({ quarantineMs: 60_000 });
    const p0 = ticket(barrier.admit('orders', 0));
    const p1 = ticket(barrier.admit('orders', 1));
    const move = barrier.move(spec(['orders']));
    const held0 = held(barrier.admit('orders', 0));
    const held0b = held(barrier.admit('orders', 0));
    const held1 = held(barrier.admit('orders', 1));
    barrier.complete(p0, { ok: false, retriable: true, errorCode: 6, written: 'no' });
    barrier.complete(p1, { ok: true, baseOffset: 7n });
    const result = await move;
    assert.equal(result.outcome, 'committed');
    assert.equal(result.rejectedRequests, 2);
    assert.deepEqual(
      result.partitions.map((p) => [p.partition, p.failedDrain]),
      [
        [0, true],
        [1, false],
      ],
    );
    for (const h of [held0, held0b]) {
      const a = await h;
      assert.ok(isRejection(a));
      assert.equal(a.reason, 'failed-drain');
      assert.equal(a.errorCode, 6);
      assert.equal(a.reject, 'NOT_LEADER_OR_FOLLOWER');
    }
    assert.equal(ticket(await held1).cluster, 'target');
    // A batch sent before the client saw the error must not reach the new cluster first.
    const late = barrier.admit('orders', 0);
    assert.ok(!(late instanceof Promise) && isRejection(late) && late.reason === 'quarantine');
    assert.equal(ticket(barrier.admit('orders', 1)).cluster, 'target');
  });

  it('the quarantine ends after quarantineMs', async () => {
    let now = 0;
    const routes = new Map<string, Cluster>();
    const barrier = new CutoverBarrier({ routeOf: (t) => routes.get(t) ?? 'source', quarantineMs: 100, now: () => now });
    const p0 = ticket(barrier.admit('orders', 0));
    const move = barrier.move({
      topics: ['orders'],
      partitionsOf: () => 'unknown',
      from: 'source',
      to: 'target',
      timeoutMs: 1000,
      maxHeldRequests: 10,
      commit: async () => void routes.set('orders', 'target'),
    });
    barrier.complete(p0, { ok: false, retriable: true, errorCode: 19, written: 'no' });
    await move;
    now = 50;
    const a = barrier.admit('orders', 0);
    assert.ok(!(a instanceof Promise) && isRejection(a));
    now = 101;
    assert.equal(ticket(barrier.admit('orders', 0)).cluster, 'target');
  });

  it('a failure shortly before the hold counts too', async () => {
    const { barrier, spec } = setup({ quarantineMs: 0 });
    const p0 = ticket(barrier.admit('orders', 0));
    barrier.complete(p0, { ok: false, retriable: true, errorCode: 6, written: 'no' });
    const move = barrier.move(spec(['orders']));
    const waiting = held(barrier.admit('orders', 0));
    assert.equal((await move).outcome, 'committed');
    const a = await waiting;
    assert.ok(isRejection(a) && a.reason === 'failed-drain');
    // quarantine off: the next admission goes through
    assert.equal(ticket(barrier.admit('orders', 0)).cluster, 'target');
  });

  it('an unknown outcome during the drain aborts the move at once (policy abort)', async () => {
    const { barrier, events, spec } = setup();
    const p0 = ticket(barrier.admit('orders', 0));
    const p1 = ticket(barrier.admit('orders', 1));
    const move = barrier.move(spec(['orders']));
    const waiting = held(barrier.admit('orders', 0));
    barrier.complete(p0, { ok: false, retriable: true, errorCode: 7, written: 'unknown' });
    const result = await move;
    assert.equal(result.outcome, 'aborted');
    assert.equal(result.abort?.cause, 'in-doubt');
    assert.match(result.abort?.message ?? '', /orders\[0\] on source has an unknown outcome \(error code 7\)/);
    assert.deepEqual(events, []);
    assert.equal(ticket(await waiting).cluster, 'source', 'the retry must land where it can be deduplicated');
    barrier.complete(p1, { ok: true, baseOffset: 1n });
  });

  it('an unresolved unknown outcome before the hold aborts too; a later success resolves it', async () => {
    const { barrier, spec } = setup();
    const p0 = ticket(barrier.admit('orders', 0));
    barrier.complete(p0, { ok: false, retriable: true, errorCode: 7, written: 'unknown' });
    const first = await barrier.move(spec(['orders']));
    assert.equal(first.abort?.cause, 'in-doubt');
    const retry = ticket(barrier.admit('orders', 0));
    barrier.complete(retry, { ok: true, baseOffset: 5n });
    const second = await barrier.move(spec(['orders']));
    assert.equal(second.outcome, 'committed');
  });

  it('policy reject moves anyway and rejects the held requests of the doubtful partition', async () => {
    const { barrier, spec } = setup();
    const p0 = ticket(barrier.admit('orders', 0));
    const move = barrier.move(spec(['orders'], { inDoubt: 'reject' }));
    const waiting = held(barrier.admit('orders', 0));
    barrier.complete(p0, { ok: false, retriable: true, errorCode: 7, written: 'unknown' });
    const result = await move;
    assert.equal(result.outcome, 'committed');
    assert.equal(result.partitions[0]?.inDoubt, true);
    assert.equal(result.partitions[0]?.failedDrain, true);
    const a = await waiting;
    assert.ok(isRejection(a) && a.reason === 'failed-drain');
  });

  it('abandon() forgets a ticket without counting it as a failure', async () => {
    const { barrier, spec } = setup();
    const p0 = ticket(barrier.admit('orders', 0));
    const move = barrier.move(spec(['orders']));
    const waiting = held(barrier.admit('orders', 0));
    barrier.abandon(p0);
    assert.equal((await move).outcome, 'committed');
    assert.equal(ticket(await waiting).cluster, 'target');
  });
});

describe('cutover barrier: bounds and conflicts', () => {
  it('rejects at once past maxHeldRequests, and rejects that partition’s held requests on release', async () => {
    const { barrier, spec } = setup({ quarantineMs: 0 });
    const p0 = ticket(barrier.admit('orders', 0));
    const move = barrier.move(spec(['orders'], { maxHeldRequests: 2 }));
    const held1 = held(barrier.admit('orders', 1));
    const held0 = held(barrier.admit('orders', 0));
    const over = barrier.admit('orders', 0);
    assert.ok(!(over instanceof Promise), 'past the bound the answer is immediate');
    assert.ok(isRejection(over) && over.reason === 'held-limit');
    assert.equal(barrier.heldNow, 2);
    barrier.complete(p0, { ok: true, baseOffset: 1n });
    const result = await move;
    assert.equal(result.heldRequests, 2);
    assert.equal(result.rejectedRequests, 2);
    assert.equal(ticket(await held1).cluster, 'target');
    const a = await held0;
    assert.ok(isRejection(a), 'must not overtake the rejected later request on the new cluster');
  });

  it('maxHeldRequests 0 rejects every admission during the move', async () => {
    const { barrier, spec } = setup();
    const blocker = ticket(barrier.admit('orders', 0));
    const move = barrier.move(spec(['orders'], { maxHeldRequests: 0 }));
    const a = barrier.admit('orders', 1);
    assert.ok(!(a instanceof Promise) && isRejection(a));
    barrier.complete(blocker, { ok: true, baseOffset: 1n });
    await move;
  });

  it('a second move on the same topics fails at once with 409; moves on other topics run concurrently', async () => {
    const { barrier, spec } = setup();
    const blocker = ticket(barrier.admit('orders', 0));
    const first = barrier.move(spec(['orders'], { label: 'flip of batch "wave-1"' }));
    await assert.rejects(barrier.move(spec(['payments', 'orders'])), (error: unknown) => {
      assert.ok(error instanceof RouteConflictError);
      assert.equal(error.status, 409);
      assert.match(error.message, /conflicts with flip of batch "wave-1", which is running on topic "orders"/);
      return true;
    });
    // By pattern, both ways.
    await assert.rejects(barrier.move(spec([], { matches: (t) => t.startsWith('ord') })), RouteConflictError);
    const other = await barrier.move(spec(['payments']));
    assert.equal(other.outcome, 'committed');
    assert.equal(barrier.activeMoves().length, 1);
    assert.deepEqual(barrier.activeMoves()[0]?.topics, ['orders']);
    barrier.complete(blocker, { ok: true, baseOffset: 1n });
    assert.equal((await first).outcome, 'committed');
    assert.deepEqual(barrier.activeMoves(), []);
  });

  it('a pattern move holds topics first seen during the move', async () => {
    const { barrier, routes } = setup();
    const blocker = ticket(barrier.admit('logs.old', 0));
    const move = barrier.move({
      topics: [],
      matches: (t) => t.startsWith('logs.'),
      partitionsOf: () => 'unknown',
      from: 'source',
      to: 'target',
      timeoutMs: 1000,
      maxHeldRequests: 10,
      commit: async () => {
        routes.set('logs.old', 'target');
        routes.set('logs.new', 'target');
      },
    });
    const fresh = held(barrier.admit('logs.new', 4));
    assert.equal(ticket(barrier.admit('metrics', 0)).cluster, 'source');
    // A move that lists the new topic now conflicts.
    await assert.rejects(
      barrier.move({ topics: ['logs.new'], partitionsOf: () => 'unknown', from: 'source', to: 'target', timeoutMs: 10, maxHeldRequests: 1, commit: async () => {} }),
      RouteConflictError,
    );
    barrier.complete(blocker, { ok: true, baseOffset: 1n });
    const result = await move;
    assert.deepEqual([...result.topics].sort(), ['logs.new', 'logs.old']);
    const t = ticket(await fresh);
    assert.equal(t.cluster, 'target');
    assert.equal(t.generation, 1);
  });

  it('refuses to interleave if a route changes under in-flight tickets without a move', () => {
    const { barrier, routes } = setup();
    const t = ticket(barrier.admit('orders', 0));
    routes.set('orders', 'target');
    const a = barrier.admit('orders', 0);
    assert.ok(!(a instanceof Promise) && isRejection(a) && a.reason === 'route-mismatch');
    assert.equal(barrier.routeMismatches, 1);
    assert.equal(ticket(barrier.admit('orders', 1)).cluster, 'target', 'other partitions are unaffected');
    barrier.complete(t, { ok: true, baseOffset: 1n });
    assert.equal(ticket(barrier.admit('orders', 0)).cluster, 'target');
  });

  it('a throwing matches() or partitionsOf() never leaves topics held', async () => {
    const { barrier, spec } = setup();
    ticket(barrier.admit('x', 0));
    await assert.rejects(
      barrier.move(
        spec(['orders'], {
          matches: () => {
            throw new Error('bad matcher');
          },
        }),
      ),
      /bad matcher/,
    );
    assert.equal(barrier.isHeld('orders'), false);
    assert.deepEqual(barrier.activeMoves(), []);
    const result = await barrier.move(
      spec(['orders'], {
        partitionsOf: () => {
          throw new Error('metadata down');
        },
      }),
    );
    assert.equal(result.outcome, 'committed');
  });

  it('validates the move spec', async () => {
    const { barrier, spec } = setup();
    await assert.rejects(barrier.move(spec(['a'], { timeoutMs: 0 })), RangeError);
    await assert.rejects(barrier.move(spec(['a'], { maxHeldRequests: -1 })), RangeError);
  });
});

// Issue #16 items 1-3 on the routing side: the warm-up runs before the hold and a failed one fails the move with
// nothing held; every partition error answered during a move is counted in its answer and its audit; the
// requests a move held are released as soon as the commit is durable, in arrival order.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { ErrorCode } from '../../protocol/kafka-errors.ts';
import { createControlPlane, type ControlPlane, type ControlPlaneHooks } from '../../routing/control-plane.ts';
import { isRejection, type Admission, type Ticket } from '../../routing/cutover-barrier.ts';
import { RoutingError } from '../../routing/errors.ts';
import { MemoryStateStore } from '../../routing/state-store.ts';
import type { StateCommit } from '../../routing/state-store.ts';
import type { WarmUpRequest } from '../../routing/warm-up.ts';

const rules = { default: 'source', batches: { 'wave-1': { topics: ['orders', 'payments'] } } };
const who = 'alice';

async function plane(hooks: ControlPlaneHooks = {}, store = new MemoryStateStore()): Promise<ControlPlane> {
  return await createControlPlane({
    rules,
    store,
    hooks: { partitionsOf: () => [0, 1], knownTopics: () => ['orders', 'payments'], ...hooks },
    flipTimeoutMs: 2_000,
    ledgerSaveDelayMs: 1,
  });
}

function ticket(admission: Admission | Promise<Admission>): Ticket {
  assert.ok(!(admission instanceof Promise) && !isRejection(admission), 'expected a synchronous ticket');
  return admission;
}

const ok = { ok: true as const, baseOffset: 10n };

describe('warm-up before the hold', () => {
  it('runs before anything is held, with the generation the move creates; the answer carries its report', async () => {
    const calls: WarmUpRequest[] = [];
    let heldDuringWarmUp: boolean | null = null;
    let cp: ControlPlane | null = null;
    cp = await plane({
      warmUp: async (request) => {
        calls.push(request);
        await tick();
        heldDuringWarmUp = cp!.barrier.isHeld('orders');
        // Producers keep writing to the old side while the new one warms: an admission is a ticket at once.
        const t = ticket(cp!.barrier.admit('orders', 0));
        assert.equal(t.cluster, request.from);
        cp!.barrier.complete(t, ok);
        return { ms: 1, topics: request.topics.length, connections: 4, producerIds: 2, notes: [] };
      },
    });
    const flip = await cp.flipBatch('wave-1', { who });
    assert.equal(heldDuringWarmUp, false, 'nothing held while warming');
    assert.equal(calls.length, 1);
    assert.equal(calls[0].to, 'target');
    assert.deepEqual(calls[0].topics, [{ topic: 'orders', generation: 1 }, { topic: 'payments', generation: 1 }]);
    assert.deepEqual(flip.warmUp, { ms: 1, topics: 2, connections: 4, producerIds: 2, notes: [] });
    assert.equal(cp.resolve('orders').cluster, 'target');

    // The rollback warms the source for the next generation.
    await cp.rollbackBatch('wave-1', { who });
    assert.deepEqual(calls[1].topics.map((t) => t.generation), [2, 2]);
    assert.equal(calls[1].to, 'source');
    await cp.close();
  });

  it('a warm-up that fails fails the move before its hold: route unchanged, nothing held, reason in the answer and the audit', async () => {
    const cp = await plane({
      warmUp: async () => {
        throw new Error('target broker 1 (lane 0) unreachable: connect ECONNREFUSED 127.0.0.1:1');
      },
    });
    let admittedWhileFailing: Admission | Promise<Admission> | null = null;
    const flip = cp.flipBatch('wave-1', { who });
    admittedWhileFailing = cp.barrier.admit('orders', 1);
    await assert.rejects(flip, (error: unknown) => {
      assert.ok(error instanceof RoutingError);
      assert.equal(error.status, 503);
      assert.equal(error.code, 'WARM_UP_FAILED');
      assert.match(error.message, /ECONNREFUSED/);
      assert.match(error.message, /nothing was held and the route stays on source/);
      return true;
    });
    assert.ok(!(admittedWhileFailing instanceof Promise), 'a write during the failing warm-up was not held');
    assert.equal(cp.resolve('orders').cluster, 'source');
    assert.equal(cp.version, 0);
    assert.equal(cp.barrier.heldNow, 0);
    const last = cp.audit().at(-1)!;
    assert.equal(last.outcome, 'aborted');
    assert.match(last.details.error ?? '', /ECONNREFUSED/);
    await cp.close();
  });

  it('a warm-up that does not finish within its bound fails the move the same way', async () => {
    const cp = await createControlPlane({
      rules,
      store: new MemoryStateStore(),
      hooks: { warmUp: () => new Promise(() => undefined) },
      flipTimeoutMs: 2_000,
      warmUpTimeoutMs: 50,
    });
    await assert.rejects(cp.flipBatch('wave-1', { who }), /did not finish within 50 ms; nothing was held/);
    assert.equal(cp.resolve('orders').cluster, 'source');
    await cp.close();
  });
});

describe('partition errors answered during a move', () => {
  it('are counted for the moving topics only, in the answer and in the commit\'s audit entry', async () => {
    const cp = await plane();
    const inFlight = ticket(cp.barrier.admit('orders', 0));
    const flip = cp.flipBatch('wave-1', { who });
    await tick();
    assert.ok(cp.barrier.isHeld('orders'));
    // While the move drains: one error on a moving topic, one on an unrelated topic.
    cp.moveErrors.observe('orders', ErrorCode.NOT_ENOUGH_REPLICAS, 'broker says so');
    cp.moveErrors.observe('unrelated', ErrorCode.NOT_LEADER_OR_FOLLOWER, null);
    cp.barrier.complete(inFlight, ok);
    const result = await flip;
    assert.deepEqual(result.partitionErrors, {
      total: 1,
      byError: { NOT_ENOUGH_REPLICAS: 1 },
      reasons: { 'NOT_ENOUGH_REPLICAS: broker says so': 1 },
    });
    const entry = cp.audit().at(-1)!;
    assert.equal(entry.version, result.version);
    assert.equal(entry.details.partitionErrors?.total, 1);
    // After the move, errors are no longer counted anywhere.
    assert.equal(cp.moveErrors.openWindows, 0);
    await cp.close();
  });

  it('a healthy move counts 0 and writes no extra audit entry', async () => {
    const cp = await plane();
    const result = await cp.flipBatch('wave-1', { who });
    assert.deepEqual(result.partitionErrors, { total: 0, byError: {}, reasons: {} });
    assert.equal(cp.audit().length, 1);
    assert.equal(cp.audit()[0].details.partitionErrors?.total, 0);
    await cp.close();
  });

  it('a failed drain: the held requests answered with a retriable error after the switch are counted, with why, and audited', async () => {
    const cp = await plane();
    const inFlight = ticket(cp.barrier.admit('orders', 0));
    const flip = cp.flipBatch('wave-1', { who });
    await tick();
    const held = cp.barrier.admit('orders', 0);
    assert.ok(held instanceof Promise);
    // The write in flight fails on the old cluster: the held one must not overtake it on the new cluster.
    cp.barrier.complete(inFlight, { ok: false, retriable: true, errorCode: ErrorCode.NOT_ENOUGH_REPLICAS, written: 'no' });
    cp.moveErrors.observe('orders', ErrorCode.NOT_ENOUGH_REPLICAS, null);
    // What the data path does with the rejection it gets on release: answer it, and report the error.
    void held.then((a) => {
      assert.ok(isRejection(a));
      cp.moveErrors.observe('orders', a.errorCode, `kmp: partition is moving between clusters (${a.reason}), retry`);
    });
    const result = await flip;
    assert.equal(result.rejectedRequests, 1);
    assert.equal(result.partitionErrors?.total, 2);
    assert.equal(result.partitionErrors?.reasons['NOT_LEADER_OR_FOLLOWER: kmp: partition is moving between clusters (failed-drain), retry'], 1);
    const [commitEntry, followUp] = cp.audit();
    assert.equal(commitEntry.details.partitionErrors?.total, 1, 'the commit entry has the drain\'s error');
    assert.ok(followUp, 'an entry follows for the errors after the switch');
    assert.deepEqual(followUp.changes, []);
    assert.equal(followUp.version, result.version);
    assert.equal(followUp.details.partitionErrors?.total, 1);
    assert.match(followUp.details.error ?? '', /1 partition error\(s\) answered after the switch.*failed-drain/);
    await cp.close();
  });

  it('the answer waits for the released requests\' answers (so their errors count), not longer', async () => {
    const cp = await plane();
    const inFlight = ticket(cp.barrier.admit('orders', 0));
    const flip = cp.flipBatch('wave-1', { who });
    await tick();
    const held = cp.barrier.admit('orders', 1);
    assert.ok(held instanceof Promise);
    let answered = false;
    void flip.then(() => (answered = true));
    cp.barrier.complete(inFlight, ok);
    const released = ticket(await held);
    assert.equal(released.cluster, 'target');
    for (let i = 0; i < 5; i++) await tick();
    assert.equal(answered, false, 'still waiting for the released request');
    cp.moveErrors.observe('orders', ErrorCode.NOT_LEADER_OR_FOLLOWER, 'upstream target broker 1 unreachable');
    cp.barrier.complete(released, { ok: false, retriable: true, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, written: 'no' });
    const result = await flip;
    assert.equal(result.partitionErrors?.total, 1);
    await cp.close();
  });
});

describe('release fast', () => {
  it('held requests leave in arrival order as soon as the commit is durable, before any other queued work', async () => {
    const gate: { open: (() => void) | null } = { open: null };
    const store = new MemoryStateStore();
    const commit = store.commit.bind(store);
    // A store whose commit we finish by hand, to see what runs between "durable" and the release.
    store.commit = async (expected: number, next: StateCommit) => {
      await new Promise<void>((resolve) => (gate.open = resolve));
      return await commit(expected, next);
    };
    const cp = await plane({}, store);
    const inFlight = ticket(cp.barrier.admit('orders', 0));
    const flip = cp.flipBatch('wave-1', { who });
    await tick();
    const order: string[] = [];
    const held = [cp.barrier.admit('orders', 0), cp.barrier.admit('orders', 1), cp.barrier.admit('orders', 0)];
    held.forEach((h, i) => {
      assert.ok(h instanceof Promise);
      void h.then((a) => {
        const t = ticket(a);
        order.push(`held-${i}:${t.cluster}`);
        cp.barrier.complete(t, ok);
      });
    });
    cp.barrier.complete(inFlight, ok);
    while (gate.open === null) await tick();
    gate.open();
    // Work queued right when the commit is durable must not run before the held requests are released.
    setImmediate(() => order.push('unrelated'));
    await flip;
    assert.deepEqual(order.slice(0, 4), ['held-0:target', 'held-1:target', 'held-2:target', 'unrelated']);
    await cp.close();
  });
});

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import { isRejection, type Admission, type Ticket } from '../../routing/barrier-contract.ts';
import { createControlPlane } from '../../routing/control-plane.ts';
import { MoveCoordinator, type CommitInput } from '../../routing/coordinator.ts';
import { CutoverBarrier } from '../../routing/cutover-barrier.ts';
import { RoutingError, StaleVersionError } from '../../routing/errors.ts';
import { FileStateStore } from '../../routing/file-state-store.ts';
import { InProcessTransport } from '../../routing/in-process-transport.ts';
import type { CoordinatorMessage, ParticipantMessage } from '../../routing/move-protocol.ts';
import { MoveParticipant } from '../../routing/participant.ts';
import type { RouteChange } from '../../routing/route-state.ts';
import { compileRules } from '../../routing/rules.ts';
import { MemoryStateStore, type StateCommit } from '../../routing/state-store.ts';
import { SwitchTable } from '../../routing/switch-table.ts';
import { emptyRouteState } from '../../routing/route-state.ts';

const rules = compileRules({ default: 'source', batches: { 'wave-1': { topics: ['orders'] }, 'wave-2': { topics: ['logs'] } } });
const flipWave1: RouteChange[] = [{ kind: 'batch', name: 'wave-1', before: 'source', after: 'target' }];

function ticket(admission: Admission | Promise<Admission>): Ticket {
  assert.ok(!(admission instanceof Promise) && !isRejection(admission), 'expected a synchronous ticket');
  return admission;
}

/** Two instances (members) of a fleet, each with its own table and barrier, one coordinator, one store. */
function fleet(store = new MemoryStateStore()) {
  const transport = new InProcessTransport();
  const members = ['kmp-a', 'kmp-b'].map((member) => {
    const table = new SwitchTable(rules, emptyRouteState());
    const barrier = new CutoverBarrier({ routeOf: (topic) => table.resolve(topic).cluster, quarantineMs: 0 });
    const firstOffsets: bigint[] = [];
    const participant: MoveParticipant = new MoveParticipant({
      member,
      table,
      barrier,
      send: transport.join(member, (m) => participant.handle(m)),
      onFirstOffset: (_v, _t, _p, offset) => firstOffsets.push(offset),
    });
    return { member, table, barrier, firstOffsets };
  });
  const committed: StateCommit[] = [];
  const coordinator = new MoveCoordinator({ store, transport, routes: emptyRouteState(), onCommitted: (c) => committed.push(c) });
  return { store, transport, members, coordinator, committed };
}

const request = (timeoutMs = 1_000) => ({
  label: 'flip of batch "wave-1"',
  changes: flipWave1,
  from: 'source' as const,
  to: 'target' as const,
  topics: ['orders'],
  holdMatching: false,
  partitions: [{ topic: 'orders', partitions: [0, 1] }],
  timeoutMs,
  maxHeldRequests: 100,
  inDoubt: 'abort' as const,
});

const build = (input: CommitInput): StateCommit => ({
  version: input.version,
  changes: flipWave1,
  audit: [],
  ledger: input.prepared.flatMap((p) => p.partitions.map((r) => ({
    topic: r.topic, partition: r.partition, from: 'source' as const, to: 'target' as const, version: input.version,
    lastOffsetOnOld: r.lastOffsetOnOld, firstOffsetOnNew: null, holdMs: p.holdMs, at: 'now', reconciliation: false, reconcileFromOffset: null, failedDrain: r.failedDrain,
  }))),
});

describe('coordinator and participants', () => {
  it('happy path: every member holds and drains, the store commits once, then every member switches and releases', async () => {
    const { members, coordinator, store, committed } = fleet();
    const [a, b] = members;
    const inFlightOnA = ticket(a.barrier.admit('orders', 0));
    const moving = coordinator.move(request(), build);
    await tick();
    const heldOnB = b.barrier.admit('orders', 1);
    assert.ok(heldOnB instanceof Promise, 'b holds while a drains');
    assert.equal(store.saves, 0, 'nothing committed before every member drained');
    a.barrier.complete(inFlightOnA, { ok: true, baseOffset: 40n, lastOffset: 41n });
    // A member reports `released` once the requests it held are answered (their errors count for the move), so the
    // client's answer to the released request comes first.
    const released = await heldOnB;
    assert.ok(!isRejection(released) && released.cluster === 'target');
    b.barrier.complete(released, { ok: true, baseOffset: 0n });
    const outcome = await moving;
    assert.equal(outcome.outcome, 'committed');
    assert.ok(outcome.outcome === 'committed' && outcome.results.length === 2, 'both members released');
    assert.equal(store.saves, 1);
    assert.equal((await store.load())?.version, 1);
    assert.deepEqual(members.map((m) => [m.table.version, m.table.resolve('orders').cluster]), [[1, 'target'], [1, 'target']]);
    // The ledger saw each member's drain report: a's last offset on the source is there.
    assert.ok(committed[0].ledger.some((e) => e.partition === 0 && e.lastOffsetOnOld === 41n));
    assert.deepEqual(b.firstOffsets, [0n]);
  });

  it('abort: one member cannot drain in time → nobody switches, held requests go to the old cluster, the store is untouched', async () => {
    const { members, coordinator, store } = fleet();
    const [a, b] = members;
    const stuckOnB = ticket(b.barrier.admit('orders', 0));
    const moving = coordinator.move(request(30), build);
    await tick();
    const heldOnA = a.barrier.admit('orders', 0);
    assert.ok(heldOnA instanceof Promise);
    const outcome = await moving;
    assert.equal(outcome.outcome, 'aborted');
    assert.ok(outcome.outcome === 'aborted' && outcome.result.abort?.cause === 'timeout');
    assert.equal(store.saves, 0);
    const released = await heldOnA;
    assert.ok(!isRejection(released) && released.cluster === 'source', 'a released its held request to the source');
    assert.deepEqual(members.map((m) => m.table.version), [0, 0]);
    b.barrier.complete(stuckOnB, { ok: true, baseOffset: 1n });
  });

  it('a prepared that never reaches the coordinator: the deadline aborts the move and the abort still reaches the member, which releases', async () => {
    // The member holds and answers prepared, but the answer is lost (control cluster cut off, a log append that
    // failed). The coordinator counts it silent at its deadline; before the fix it sent no abort when no prepared
    // had arrived, and the member held its partitions forever, waiting for a decision.
    const inner = new InProcessTransport();
    let lose = true;
    const lossy = {
      join: (member: string, handler: (m: CoordinatorMessage) => void) => {
        const send = inner.join(member, handler);
        return (m: ParticipantMessage) => (lose && m.type === 'prepared' ? undefined : send(m));
      },
      members: () => inner.members(),
      toParticipants: (m: CoordinatorMessage, to?: string | null) => inner.toParticipants(m, to),
      onParticipantMessage: (h: (m: ParticipantMessage) => void) => inner.onParticipantMessage(h),
    };
    const table = new SwitchTable(rules, emptyRouteState());
    const barrier = new CutoverBarrier({ routeOf: (topic) => table.resolve(topic).cluster, quarantineMs: 0 });
    const participant: MoveParticipant = new MoveParticipant({
      member: 'kmp-a', table, barrier, send: lossy.join('kmp-a', (m) => participant.handle(m)), onFirstOffset: () => undefined,
    });
    const store = new MemoryStateStore();
    const coordinator = new MoveCoordinator({
      store, transport: lossy, routes: emptyRouteState(), onCommitted: () => undefined,
      schedule: (callback, delayMs) => { const t = setTimeout(callback, Math.min(delayMs, 20)); return () => clearTimeout(t); },
    });
    const moving = coordinator.move(request(10), build);
    await tick();
    const held = barrier.admit('orders', 0);
    assert.ok(held instanceof Promise, 'the member holds while the move runs');
    await assert.rejects(moving, (error: unknown) => error instanceof RoutingError && error.status === 503 && /did not prepare/.test(error.message));
    lose = false;
    const released = await held;
    assert.ok(!isRejection(released) && released.cluster === 'source', 'the held request went to the old cluster');
    assert.deepEqual(barrier.activeMoves(), [], 'the member holds nothing after the abort');
    assert.equal(store.saves, 0);
  });

  it('fleet transports: no commit when a member joined during the move, when a member counted gone is back, or when the coordinator is fenced', async () => {
    const cases: { name: string; joinAfterPrepare: boolean; goneThenBack: boolean; fenced: boolean; expect: RegExp }[] = [
      { name: 'joined', joinAfterPrepare: true, goneThenBack: false, fenced: false, expect: /kmp-late joined during the move/ },
      { name: 'back', joinAfterPrepare: false, goneThenBack: true, fenced: false, expect: /kmp-late counted gone during the move is live again/ },
      { name: 'fenced', joinAfterPrepare: false, goneThenBack: false, fenced: true, expect: /lost its lease/ },
    ];
    for (const c of cases) {
      const inner = new InProcessTransport();
      let phase: 'start' | 'prepared' = 'start';
      let lateGone = true;
      const transport = {
        join: (member: string, handler: (m: CoordinatorMessage) => void) => {
          const send = inner.join(member, handler);
          return (m: ParticipantMessage) => {
            if (m.type !== 'prepared') return send(m);
            // kmp-a's prepared arrives 20 ms later, after the coordinator counted kmp-late gone (checks every 1 ms);
            // kmp-late heartbeats again just then.
            setTimeout(() => {
              phase = 'prepared';
              lateGone = false;
              send(m);
            }, 20);
          };
        },
        members: () => [...inner.members(), ...(c.goneThenBack || (c.joinAfterPrepare && phase === 'prepared') ? ['kmp-late'] : [])],
        isGone: (m: string) => m === 'kmp-late' && (c.goneThenBack ? lateGone : false),
        isFenced: () => c.fenced,
        toParticipants: (m: CoordinatorMessage, to?: string | null) => inner.toParticipants(m, to),
        onParticipantMessage: (h: (m: ParticipantMessage) => void) => inner.onParticipantMessage(h),
      };
      const table = new SwitchTable(rules, emptyRouteState());
      const barrier = new CutoverBarrier({ routeOf: (topic) => table.resolve(topic).cluster, quarantineMs: 0 });
      const participant: MoveParticipant = new MoveParticipant({
        member: 'kmp-a', table, barrier, send: transport.join('kmp-a', (m) => participant.handle(m)), onFirstOffset: () => undefined,
      });
      const store = new MemoryStateStore();
      const coordinator = new MoveCoordinator({ store, transport, routes: emptyRouteState(), onCommitted: () => undefined, goneCheckMs: 1 });
      await assert.rejects(coordinator.move(request(), build), (error: unknown) => {
        assert.ok(error instanceof RoutingError && error.status === 503, `${c.name}: ${String(error)}`);
        assert.match(error.message, c.expect);
        return true;
      });
      assert.equal(store.saves, 0, `${c.name}: nothing committed`);
      assert.equal(table.version, 0);
      assert.deepEqual(barrier.activeMoves(), [], `${c.name}: the member released`);
    }
  });

  it('stale version: another writer committed first → 409, every member aborts, nothing switches', async () => {
    const { members, coordinator, store } = fleet();
    await store.commit(0, { version: 1, changes: [{ kind: 'batch', name: 'wave-2', before: 'source', after: 'target' }], audit: [], ledger: [] });
    const [a] = members;
    const blocker = ticket(a.barrier.admit('orders', 0));
    const moving = coordinator.move(request(), build);
    await tick();
    const held = a.barrier.admit('orders', 0);
    a.barrier.complete(blocker, { ok: true, baseOffset: 5n });
    await assert.rejects(moving, (error: unknown) => {
      assert.ok(error instanceof StaleVersionError);
      assert.equal(error.status, 409);
      return true;
    });
    const released = await (held as Promise<Admission>);
    assert.ok(!isRejection(released) && released.cluster === 'source');
    assert.deepEqual(members.map((m) => m.table.version), [0, 0]);
    assert.equal((await store.load())?.batches.get('wave-1'), undefined, 'the stale move was not written');
  });

  it('a change without traffic (promote) is committed, then installed on every member', async () => {
    const { members, coordinator } = fleet();
    await coordinator.move(request(), build);
    const promote: RouteChange[] = [{ kind: 'batch', name: 'wave-1', before: 'target', after: 'promoted' }];
    const commit = await coordinator.install((input) => ({ version: input.version, changes: promote, audit: [], ledger: [] }));
    assert.equal(commit.version, 2);
    assert.deepEqual(members.map((m) => m.table.resolve('orders').state), ['promoted', 'promoted']);
  });
});

describe('two control planes on one state file', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kmp-two-cp-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the second is refused with 409 when the first committed meanwhile, then follows the first through subscribe', async () => {
    const path = join(dir, 'state.json');
    const routes = { default: 'source', batches: { 'wave-1': { topics: ['orders'] }, 'wave-2': { topics: ['logs'] } } };
    const first = await createControlPlane({ rules: routes, store: new FileStateStore(path, { pollIntervalMs: 20 }) });
    const second = await createControlPlane({ rules: routes, store: new FileStateStore(path, { pollIntervalMs: 60_000 }) });
    await first.flipBatch('wave-1', { who: 'alice' });
    // second polls rarely: its move is planned on version 0 and the store refuses it.
    await assert.rejects(second.flipBatch('wave-2', { who: 'bob' }), (error: unknown) => {
      assert.ok(error instanceof StaleVersionError);
      assert.equal(error.status, 409);
      assert.match(error.message, /based on version 0 but .* is at version 1/);
      return true;
    });
    assert.equal(second.resolve('logs').cluster, 'source', 'the refused move switched nothing');
    // The commit check caught second up; its table and history follow the first.
    for (let i = 0; i < 50 && second.version < 1; i++) await sleep(20);
    assert.equal(second.version, 1);
    assert.equal(second.resolve('orders').cluster, 'target');
    assert.deepEqual(second.audit().map((e) => [e.who, e.outcome]), [['alice', 'ok'], ['bob', 'refused']]);
    const retried = await second.flipBatch('wave-2', { who: 'bob' });
    assert.equal(retried.version, 2);
    for (let i = 0; i < 50 && first.version < 2; i++) await sleep(20);
    assert.equal(first.version, 2, 'and the first follows the second');
    assert.equal(first.resolve('logs').cluster, 'target');
    await first.close();
    await second.close();
  });
});

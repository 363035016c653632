// Resolving a move whose coordinator died mid-move (routing/fleet/orphan-resolver.ts) and the route log's rule
// that keeps it whole (routing/fleet/move-decisions.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MoveDecisions, type MoveDecision } from '../../routing/fleet/move-decisions.ts';
import { OrphanResolver } from '../../routing/fleet/orphan-resolver.ts';
import type { CoordinatorMessage, PrepareMessage } from '../../routing/move-protocol.ts';

const prepare = (moveId: string, timeoutMs = 1_000): PrepareMessage => ({
  type: 'prepare', moveId, label: 'flip', changes: [{ kind: 'batch', name: 'w', before: 'source', after: 'target' }], from: 'source', to: 'target',
  topics: ['orders'], holdMatching: false, partitions: [], timeoutMs, maxHeldRequests: 10, inDoubt: 'abort',
});
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('MoveDecisions (the route log decides a move once)', () => {
  it('the first of commit and abort wins', () => {
    const d = new MoveDecisions();
    assert.equal(d.commitApplies('m1'), true);
    assert.deepEqual(d.noteAbort('m1'), { outcome: 'aborted' });
    assert.equal(d.commitApplies('m1'), false, 'a commit of an aborted move is skipped');
    d.noteCommit('m2', { version: 3, changes: [] });
    assert.deepEqual(d.noteAbort('m2'), { outcome: 'committed', version: 3, changes: [] }, 'an abort after the commit changes nothing');
    assert.equal(d.commitApplies(undefined), true, 'changes without a move are not affected');
  });
});

describe('OrphanResolver', () => {
  function resolver(decide: (moveId: string) => Promise<MoveDecision>) {
    const clock = { now: 0 };
    const live = new Set(['kmp-a', 'kmp-b']);
    const delivered: CoordinatorMessage[] = [];
    const asked: string[] = [];
    const r = new OrphanResolver({
      self: 'kmp-b', now: () => clock.now, isLive: (m) => live.has(m), leaseMs: 2_000, skewMarginMs: 400,
      abortMove: (id) => { asked.push(id); return decide(id); }, deliver: (m) => delivered.push(m),
    });
    return { r, clock, live, delivered, asked };
  }

  it('aborts a move whose coordinator is gone, a lease after the prepare was read, and hands the abort to this member', async () => {
    const { r, clock, live, delivered, asked } = resolver(async () => ({ outcome: 'aborted' }));
    r.seen('kmp-a', prepare('m1'));
    live.delete('kmp-a');
    clock.now = 2_399;
    r.tick();
    assert.deepEqual(asked, [], 'not before lease + skew');
    clock.now = 2_400;
    r.tick();
    await settle();
    assert.deepEqual(asked, ['m1']);
    assert.equal(delivered[0]?.type, 'abort');
    r.seen('kmp-a', prepare('m1')); // redelivered
    clock.now = 10_000;
    r.tick();
    assert.equal(asked.length, 1, 'a decided move is not an orphan again');
  });

  it('installs the commit when the coordinator\'s commit reached the route log first', async () => {
    const { r, clock, live, delivered } = resolver(async () => ({ outcome: 'committed', version: 7, changes: [] }));
    r.seen('kmp-a', prepare('m1'));
    live.delete('kmp-a');
    clock.now = 3_000;
    r.tick();
    await settle();
    assert.deepEqual(delivered, [{ type: 'commit', moveId: 'm1', version: 7, changes: [] }]);
  });

  it('waits for a live coordinator past its own bound (timeoutMs + grace) plus a lease; a decision read meanwhile ends it', async () => {
    const { r, clock, asked } = resolver(async () => ({ outcome: 'aborted' }));
    r.seen('kmp-a', prepare('m1', 1_000));
    r.seen('kmp-a', prepare('m2', 1_000));
    clock.now = 4_399;
    r.tick();
    assert.deepEqual(asked, []);
    r.seen('kmp-a', { type: 'commit', moveId: 'm2', version: 1, changes: [] });
    clock.now = 4_400;
    r.tick();
    await settle();
    assert.deepEqual(asked, ['m1'], 'm2 was decided by its coordinator');
  });

  it('ignores its own moves and retries when the control cluster does not answer', async () => {
    let fail = true;
    const { r, clock, live, asked, delivered } = resolver(async () => {
      if (fail) throw new Error('control cluster down');
      return { outcome: 'aborted' };
    });
    r.seen('kmp-b', prepare('own'));
    r.seen('kmp-a', prepare('m1'));
    live.delete('kmp-a');
    clock.now = 3_000;
    r.tick();
    await settle();
    assert.deepEqual(asked, ['m1']);
    assert.equal(r.stats.failed, 1);
    fail = false;
    r.tick();
    await settle();
    assert.deepEqual(asked, ['m1', 'm1']);
    assert.equal(delivered.length, 1);
  });
});

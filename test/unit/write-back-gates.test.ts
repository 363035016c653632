// The two routing seams write-back uses: the barrier's afterDrain step (a rollback completes only once the copy
// caught up; its message aborts the move and the route stays) and the control plane's promoteCheck (refusals
// block a promote unless forced, and the audit records it).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createControlPlane } from '../../routing/control-plane.ts';
import { MemoryStateStore } from '../../routing/memory-state-store.ts';
import type { AfterDrain } from '../../routing/cutover-barrier.ts';

const rules = { default: 'source', batches: { 'wave-1': { topics: ['orders'] } } };
const who = 'alice';

async function harness(afterDrain: AfterDrain, promoteRefusals: () => string[]) {
  return createControlPlane({
    rules,
    store: new MemoryStateStore(),
    afterDrain,
    hooks: { knownTopics: () => ['orders'], promoteCheck: async () => ({ refusals: promoteRefusals(), warnings: [] }) },
    flipTimeoutMs: 300,
    ledgerSaveDelayMs: 1,
  });
}

describe('write-back gates', () => {
  it('a rollback waits for afterDrain and aborts with its message; the route stays on the target', async () => {
    const calls: { to: string; topics: readonly string[]; timeoutMs: number }[] = [];
    let lag = 5;
    const cp = await harness(async (m) => {
      calls.push({ to: m.to, topics: m.topics, timeoutMs: m.timeoutMs });
      return m.to === 'source' && lag > 0 ? `write-back is behind (orders[0] ${lag} records)` : null;
    }, () => []);
    await cp.flipBatch('wave-1', { who });
    assert.equal(cp.resolve('orders').cluster, 'target');
    await assert.rejects(cp.rollbackBatch('wave-1', { who }), /write-back is behind \(orders\[0\] 5 records\).*route stays on target/);
    assert.equal(cp.resolve('orders').cluster, 'target', 'an aborted rollback leaves the route on the target');
    const last = calls[calls.length - 1];
    assert.equal(last.to, 'source');
    assert.deepEqual(last.topics, ['orders']);
    assert.ok(last.timeoutMs > 0 && last.timeoutMs <= 300, `the step gets what is left of the bound (${last.timeoutMs})`);
    lag = 0;
    await cp.rollbackBatch('wave-1', { who });
    assert.equal(cp.resolve('orders').cluster, 'source');
    await cp.close();
  });

  it('promote is refused while promoteCheck refuses, unless forced (audited)', async () => {
    let refusals = ['write-back to the source is behind (orders[0] 3 records, 0.1 s)'];
    const cp = await harness(async () => null, () => refusals);
    await cp.flipBatch('wave-1', { who });
    await assert.rejects(cp.promoteBatch('wave-1', { who }), /refused by pre-flight checks: write-back to the source is behind/);
    assert.equal(cp.resolve('orders').state, 'target');
    const forced = await cp.promoteBatch('wave-1', { who, force: true });
    assert.equal(forced.outcome, 'forced');
    assert.equal(cp.resolve('orders').state, 'promoted');
    assert.ok(cp.audit().some((e) => e.action === 'promote' && e.outcome === 'refused'), 'the refusal is in the audit');
    refusals = [];
    await cp.close();
  });
});

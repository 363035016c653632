// Consumer moves are recorded in the control plane's audit (ControlPlane.recordAudit) and survive a restart:
// the journal validates the new action, target kind and details.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createControlPlane } from '../../routing/control-plane.ts';
import { FileStateStore } from '../../routing/file-state-store.ts';

test('a consumer move is audited with its offsets, persisted, and reloaded after a restart', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kmp-consumer-audit-'));
  try {
    const file = join(dir, 'state.json');
    const rules = { default: 'source', batches: { 'wave-1': { topics: ['orders'] } } };
    const cp = await createControlPlane({ rules, store: new FileStateStore(file), wallClock: () => new Date('2026-01-02T03:04:05Z') });
    const entry = await cp.recordAudit({
      who: 'ops-alice', action: 'consumer-move', target: { kind: 'group', name: 'billing' }, reason: 'wave done', outcome: 'ok',
      details: { wave: 'wave-1', direction: 'to-target', offsets: [{ topic: 'orders', partition: 0, from: '27', to: '7' }] },
    });
    assert.equal(entry.seq, 1);
    assert.equal(entry.when, '2026-01-02T03:04:05.000Z');
    assert.deepEqual(entry.changes, []);
    await cp.flipBatch('wave-1', { who: 'ops-alice' });
    await cp.close();

    const reopened = await createControlPlane({ rules, store: new FileStateStore(file) });
    const audit = reopened.audit();
    assert.deepEqual(audit.map((e) => [e.seq, e.action, e.target.kind]), [[1, 'consumer-move', 'group'], [2, 'flip', 'batch']]);
    assert.deepEqual(audit[0].details.offsets, [{ topic: 'orders', partition: 0, from: '27', to: '7' }]);
    await reopened.close();
    await assert.rejects(cp.recordAudit({ who: 'x', action: 'consumer-move', target: { kind: 'group', name: 'g' }, reason: '', outcome: 'ok', details: {} }), /shutting down/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

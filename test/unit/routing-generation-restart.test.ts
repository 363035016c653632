// A moved topic's generation (which picks its upstream producer ids) is the table version of its last move, and a
// restarted control plane finds it again from the ledger: the persisted producer-id mappings of that generation then
// apply again, so a client's retry after a restart carries the same upstream pid (issue: duplicates after a restart).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createControlPlane } from '../../routing/control-plane.ts';
import { FileStateStore } from '../../routing/file-state-store.ts';
import { isRejection, type Admission, type Ticket } from '../../routing/barrier-contract.ts';

const rules = { default: 'source', batches: { 'wave-1': { topics: ['orders'] } } };

function ticket(a: Admission | Promise<Admission>): Ticket {
  assert.ok(!(a instanceof Promise) && !isRejection(a));
  return a as Ticket;
}

test('generations survive a restart: the same generation after a flip, a rollback and a re-flip', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmp-gen-'));
  const file = path.join(dir, 'state.json');
  const cp = await createControlPlane({ rules, store: new FileStateStore(file) });
  const seen: number[] = [];
  for (const op of ['flip', 'rollback', 'flip'] as const) {
    const t = ticket(cp.barrier.admit('orders', 0));
    cp.barrier.complete(t, { ok: true, baseOffset: 1n });
    const res = op === 'flip' ? await cp.flipBatch('wave-1', { who: 't' }) : await cp.rollbackBatch('wave-1', { who: 't' });
    const after = ticket(cp.barrier.admit('orders', 0));
    assert.equal(after.generation, res.version, 'the generation is the version of the move');
    seen.push(after.generation);
    cp.barrier.complete(after, { ok: true, baseOffset: 2n });
  }
  assert.deepEqual(seen, [1, 2, 3]);
  await cp.close();

  const again = await createControlPlane({ rules, store: new FileStateStore(file) });
  const t = ticket(again.barrier.admit('orders', 0));
  assert.deepEqual([t.cluster, t.generation], ['target', 3]);
  again.barrier.complete(t, { ok: true, baseOffset: 3n });
  const untouched = ticket(again.barrier.admit('payments', 0));
  assert.equal(untouched.generation, 0, 'a topic that never moved keeps generation 0 (identity mapping on the default cluster)');
  again.barrier.complete(untouched, { ok: true, baseOffset: 0n });
  await again.close();
});

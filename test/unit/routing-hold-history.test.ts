// Issue #11 item 8: the flip hold must not grow with history. The old store rewrote the whole state (routes,
// audit, ledger) on every commit, so the bytes written inside a hold grew with every move; the journal appends
// one record per commit. This test measures what each commit writes to disk — store-agnostic: if the file was
// replaced (a new inode) the whole file was written, otherwise what was appended — and fails on the old store.
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { createControlPlane } from '../../routing/control-plane.ts';
import { FileStateStore } from '../../routing/file-state-store.ts';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kmp-hold-history-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function bytesWrittenBy(path: string, operation: () => Promise<unknown>): Promise<number> {
  const before = await stat(path).catch(() => null);
  await operation();
  const now = await stat(path);
  return before === null || before.ino !== now.ino ? now.size : now.size - before.size;
}

it('a commit writes O(change) bytes: the same after 10 moves and after 600 (with a growing ledger)', async () => {
  const path = join(dir, 'state.json');
  // fsync off: this test counts bytes, the bench (bench/scenarios/hold-history.ts) measures real holds.
  const cp = await createControlPlane({
    rules: { default: 'source', batches: { wave: { topics: ['orders', 'payments', 'billing'] } } },
    store: new FileStateStore(path, { sync: false }),
    hooks: { partitionsOf: () => [0, 1, 2, 3] },
  });
  const written: number[] = [];
  for (let move = 1; move <= 600; move++) {
    const op = move % 2 === 1 ? () => cp.flipBatch('wave', { who: 'bench', reason: `move ${move}` }) : () => cp.rollbackBatch('wave', { who: 'bench', reason: `move ${move}` });
    written.push(await bytesWrittenBy(path, op));
  }
  assert.equal(cp.version, 600);
  assert.equal(cp.ledgerPage({ limit: 1 }).total, 600 * 12, 'every move wrote 12 ledger entries');
  const at10 = written[9];
  const at600 = written[599];
  // Version numbers and seqs gain digits; nothing else may grow.
  assert.ok(at600 <= at10 * 1.1 + 64, `commit at move 600 wrote ${at600} bytes, at move 10 ${at10}`);
  assert.ok(at600 < 16 * 1024, `one move's commit is small (${at600} bytes)`);
  await cp.close();
  const file = (await stat(path)).size;
  assert.ok(file > 100 * at600, `the history (${file} bytes) is much larger than what a commit writes`);
});

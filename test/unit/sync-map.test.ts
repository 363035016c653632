import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SyncMap, type WriteBackProgress, type WriteBackUpdate } from '../../routing/sync-map.ts';
import { FileStateStore } from '../../routing/file-state-store.ts';
import { MemoryStateStore } from '../../routing/memory-state-store.ts';

function progress(over: Partial<WriteBackProgress> = {}): WriteBackProgress {
  return { topic: 't', partition: 0, producerId: 7n, producerEpoch: 0, nextSequence: 0, nextTargetOffset: 0n, nextSourceOffset: -1n, segmentStart: 0n, ...over };
}

test('adjacent copies merge into one run; a gap on either side starts a new run', () => {
  const m = new SyncMap();
  m.apply({ progress: progress({ nextTargetOffset: 3n }), entries: [{ sourceOffset: 100n, targetOffset: 0n, count: 3 }] });
  m.apply({ progress: progress({ nextTargetOffset: 5n }), entries: [{ sourceOffset: 103n, targetOffset: 3n, count: 2 }] });
  assert.deepEqual(m.entries('t', 0), [{ sourceOffset: 100n, targetOffset: 0n, count: 5 }]);
  // someone else wrote source offsets 105..109: the next copy lands at 110
  m.apply({ progress: progress({ nextTargetOffset: 7n }), entries: [{ sourceOffset: 110n, targetOffset: 5n, count: 2 }] });
  assert.equal(m.entries('t', 0).length, 2);
  assert.equal(m.translateToTarget('t', 0, 101n), 1n);
  assert.equal(m.translateToTarget('t', 0, 105n), 5n, 'the position after a run maps to where the target continues');
  assert.equal(m.translateToTarget('t', 0, 107n), null, 'a source record that is no copy has no target offset');
  assert.equal(m.translateToTarget('t', 0, 111n), 6n);
  assert.equal(m.translateToSource('t', 0, 6n), 111n);
  assert.equal(m.translateToSource('t', 0, 7n), 112n);
  assert.equal(m.translateToSource('t', 0, 8n), null);
  assert.equal(m.translateToTarget('t', 0, 99n), null);
});

test('replaying an update is harmless, and copiedRange names the last segment', () => {
  const m = new SyncMap();
  const u1: WriteBackUpdate = { progress: progress({ nextTargetOffset: 4n }), entries: [{ sourceOffset: 10n, targetOffset: 0n, count: 4 }] };
  m.apply(u1);
  m.apply(u1);
  assert.deepEqual(m.entries('t', 0), [{ sourceOffset: 10n, targetOffset: 0n, count: 4 }]);
  // rollback closes the segment, the re-flip opens another at target offset 4
  m.apply({ progress: progress({ nextTargetOffset: 4n, segmentStart: null }), entries: [] });
  assert.equal(m.copiedRange('t', 0)?.open, false);
  m.apply({ progress: progress({ nextTargetOffset: 6n, segmentStart: 4n }), entries: [{ sourceOffset: 20n, targetOffset: 4n, count: 2 }] });
  assert.deepEqual(m.copiedRange('t', 0), { targetFrom: 4n, targetTo: 6n, sourceFrom: 20n, sourceTo: 22n, open: true });
  assert.equal(m.copiedRange('t', 1), null);
});

test('the journal store persists write-back updates, folds them on compaction and reloads them', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kmp-syncmap-'));
  try {
    const path = join(dir, 'state.json');
    const store = new FileStateStore(path, { sync: false });
    for (let i = 0; i < 50; i++) {
      await store.appendWriteBack([{ progress: progress({ nextSequence: (i + 1) * 2, nextTargetOffset: BigInt((i + 1) * 2), nextSourceOffset: BigInt(1000 + (i + 1) * 2) }), entries: [{ sourceOffset: BigInt(1000 + i * 2), targetOffset: BigInt(i * 2), count: 2 }] }]);
    }
    const before = store.stats.fileBytes;
    await store.compact();
    assert.ok(store.stats.fileBytes < before / 5, `compaction folds the per-batch records (${before} → ${store.stats.fileBytes} bytes)`);
    await store.close();
    const again = new FileStateStore(path, { sync: false });
    const loaded = await again.loadWriteBack();
    await again.close();
    assert.equal(loaded.length, 1);
    assert.deepEqual(loaded[0].entries, [{ sourceOffset: 1000n, targetOffset: 0n, count: 100 }]);
    assert.equal(loaded[0].progress.nextSequence, 100);
    assert.equal(loaded[0].progress.producerId, 7n);
    assert.deepEqual(loaded[0].segments, [0n]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the memory store keeps write-back state too', async () => {
  const store = new MemoryStateStore();
  await store.appendWriteBack([{ progress: progress({ nextTargetOffset: 1n }), entries: [{ sourceOffset: 5n, targetOffset: 0n, count: 1 }] }]);
  const loaded = await store.loadWriteBack();
  assert.deepEqual(loaded[0].entries, [{ sourceOffset: 5n, targetOffset: 0n, count: 1 }]);
});

// readsFrom: which cluster a group reads a wave from (kmp consumers and the promotion gate both use it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readsFrom, targetToSource } from '../../src/consumers/reads-from.ts';
import type { SyncMapEntry } from '../../src/consumers/sync-map-port.ts';

// Source 0..19 pre-flip, copies at source 20..29 = target 0..9.
const entries: SyncMapEntry[] = [{ sourceOffset: 20n, targetOffset: 0n, count: 10 }];
const base = { sourceActive: false, targetActive: false, entries: () => entries, lastMove: null } as const;
const k = 'orders\u00000';

test('members decide first', () => {
  assert.equal(readsFrom({ ...base, sourceActive: true, source: new Map(), target: new Map() }), 'source');
  assert.equal(readsFrom({ ...base, targetActive: true, source: new Map(), target: new Map() }), 'target');
  assert.equal(readsFrom({ ...base, sourceActive: true, targetActive: true, source: new Map(), target: new Map() }), 'both');
});

test('a stopped group reads where its offsets are further along', () => {
  assert.equal(readsFrom({ ...base, source: new Map([[k, 25n]]), target: new Map() }), 'source');
  assert.equal(readsFrom({ ...base, source: new Map(), target: new Map([[k, 3n]]) }), 'target');
  // Moved at source 25 = target 5, then consumed on the target to 8.
  assert.equal(readsFrom({ ...base, source: new Map([[k, 25n]]), target: new Map([[k, 8n]]) }), 'target');
  // Restarted on the source after a move back and read on to 29.
  assert.equal(readsFrom({ ...base, source: new Map([[k, 29n]]), target: new Map([[k, 8n]]) }), 'source');
});

test('equal offsets right after a move: the newest recorded move decides; none recorded counts as the source', () => {
  const equal = { ...base, source: new Map([[k, 25n]]), target: new Map([[k, 5n]]) };
  assert.equal(readsFrom({ ...equal, lastMove: 'to-target' }), 'target');
  assert.equal(readsFrom({ ...equal, lastMove: 'to-source' }), 'source');
  assert.equal(readsFrom(equal), 'source');
});

test('offsets the sync map cannot compare are unknown (the gate treats them as still on the source)', () => {
  assert.equal(readsFrom({ ...base, source: new Map([[k, 25n]]), target: new Map([[k, 50n]]) }), 'unknown');
  assert.equal(targetToSource(entries, 10n), 30n);
  assert.equal(targetToSource(entries, 11n), null);
});

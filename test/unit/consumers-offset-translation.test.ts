// placeOffset: where a stopped group resumes on the other cluster. The entries model a real history: records
// 0..99 written to the source before the flip, then batches produced to the target and copied to the source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { placeOffset } from '../../src/consumers/offset-translation.ts';
import type { SyncMapEntry } from '../../src/consumers/sync-map-port.ts';

// Source: 100 pre-flip records, then copies at 100..109 and 110..114; target: the same batches at 0..9, 10..14.
const entries: SyncMapEntry[] = [
  { sourceOffset: 100n, targetOffset: 0n, count: 10 },
  { sourceOffset: 110n, targetOffset: 10n, count: 5 },
];

test('a committed offset inside a copied batch maps to the same record on the target', () => {
  const p = placeOffset({ entries, direction: 'to-target', committed: 103n, fromEnd: 115n, toEnd: 15n });
  assert.deepEqual(p, { kind: 'exact', offset: 3n, rule: 'copied-record' });
  const boundary = placeOffset({ entries, direction: 'to-target', committed: 110n, fromEnd: 115n, toEnd: 15n });
  assert.deepEqual(boundary, { kind: 'exact', offset: 10n, rule: 'copied-record' });
});

test('a group in an older copied segment must first read the source-only records after it', () => {
  // Flip (copies at 100..109), rollback (source-only 110..119), re-flip (copies at 120..124 = target 10..14).
  const history: SyncMapEntry[] = [{ sourceOffset: 100n, targetOffset: 0n, count: 10 }, { sourceOffset: 120n, targetOffset: 10n, count: 5 }];
  const p = placeOffset({ entries: history, direction: 'to-target', committed: 105n, fromEnd: 125n, toEnd: 15n });
  assert.equal(p.kind === 'not-ready' ? p.recordsToGo : -1n, 15n);
  assert.deepEqual(placeOffset({ entries: history, direction: 'to-target', committed: 121n, fromEnd: 125n, toEnd: 15n }), { kind: 'exact', offset: 11n, rule: 'copied-record' });
});

test('a group still reading pre-flip records is not ready, with the records it has to go', () => {
  const p = placeOffset({ entries, direction: 'to-target', committed: 40n, fromEnd: 115n, toEnd: 15n });
  assert.equal(p.kind, 'not-ready');
  assert.equal(p.kind === 'not-ready' ? p.recordsToGo : -1n, 60n);
  assert.match(p.kind === 'not-ready' ? p.reason : '', /60 records to go: offsets 40\.\.99 on the source/);
});

test('a group at the source log end resumes after the last copy; target records not copied yet stay ahead of it', () => {
  const p = placeOffset({ entries, direction: 'to-target', committed: 115n, fromEnd: 115n, toEnd: 20n });
  assert.deepEqual(p, { kind: 'exact', offset: 15n, rule: 'after-last-copy' });
});

test('source records after the last copy (written during a rollback) must be read on the source first', () => {
  const p = placeOffset({ entries, direction: 'to-target', committed: 115n, fromEnd: 118n, toEnd: 15n });
  assert.equal(p.kind, 'not-ready');
  assert.equal(p.kind === 'not-ready' ? p.recordsToGo : -1n, 3n);
});

test('moving back translates target offsets to the source, and uncopied target records are to go', () => {
  assert.deepEqual(placeOffset({ entries, direction: 'to-source', committed: 12n, fromEnd: 15n, toEnd: 115n }), { kind: 'exact', offset: 112n, rule: 'copied-record' });
  assert.deepEqual(placeOffset({ entries, direction: 'to-source', committed: 15n, fromEnd: 15n, toEnd: 130n }), { kind: 'exact', offset: 115n, rule: 'after-last-copy' });
  const lag = placeOffset({ entries, direction: 'to-source', committed: 15n, fromEnd: 17n, toEnd: 115n });
  assert.equal(lag.kind === 'not-ready' ? lag.recordsToGo : -1n, 2n);
});

test('nothing copied: exact only when the other side is empty', () => {
  assert.deepEqual(placeOffset({ entries: [], direction: 'to-target', committed: 7n, fromEnd: 7n, toEnd: 0n }), { kind: 'exact', offset: 0n, rule: 'both-empty' });
  const p = placeOffset({ entries: [], direction: 'to-target', committed: 7n, fromEnd: 7n, toEnd: 3n });
  assert.equal(p.kind, 'not-ready');
  assert.equal(p.kind === 'not-ready' ? p.recordsToGo : 0n, null);
});

test('a committed offset past the log end is refused with the reason', () => {
  const p = placeOffset({ entries, direction: 'to-target', committed: 200n, fromEnd: 115n, toEnd: 15n });
  assert.match(p.kind === 'not-ready' ? p.reason : '', /past the source's log end 115/);
});

// Model check: build both logs record by record (source-only records, copied batches, target-only records not
// copied yet), then every exact placement must point at the copy of the group's next record, or, when the group
// has read everything on its side, at the first target record it has not seen.
test('property: an exact placement resumes at the copy of the next unread record', () => {
  type Step = { kind: 'source-only'; n: number } | { kind: 'copied'; n: number };
  const step = fc.oneof(
    fc.record({ kind: fc.constant('source-only' as const), n: fc.integer({ min: 1, max: 5 }) }),
    fc.record({ kind: fc.constant('copied' as const), n: fc.integer({ min: 1, max: 5 }) }),
  );
  fc.assert(fc.property(fc.array(step, { maxLength: 12 }), fc.integer({ min: 0, max: 4 }), fc.nat(), (steps: Step[], uncopiedTail, pick) => {
    const source: string[] = [];
    const target: string[] = [];
    const map: SyncMapEntry[] = [];
    let id = 0;
    for (const s of steps) {
      if (s.kind === 'source-only') {
        for (let k = 0; k < s.n; k++) source.push(`s${id++}`);
      } else {
        map.push({ sourceOffset: BigInt(source.length), targetOffset: BigInt(target.length), count: s.n });
        for (let k = 0; k < s.n; k++) {
          const r = `c${id++}`;
          source.push(r);
          target.push(r);
        }
      }
    }
    const copiedOnTarget = target.length;
    for (let k = 0; k < uncopiedTail; k++) target.push(`t${id++}`);
    const committed = pick % (source.length + 1);
    const p = placeOffset({ entries: map, direction: 'to-target', committed: BigInt(committed), fromEnd: BigInt(source.length), toEnd: BigInt(target.length) });
    const unread = source.slice(committed);
    if (p.kind === 'exact') {
      const resumed = target.slice(Number(p.offset));
      // Exactly once: the records the group has not read are the first ones it reads on the target, and
      // after them only target records the source never had.
      assert.deepEqual(resumed.slice(0, unread.length), unread);
      assert.ok(resumed.slice(unread.length).every((r) => r.startsWith('t')));
      assert.ok(p.offset <= BigInt(copiedOnTarget));
    } else if (p.recordsToGo !== null) {
      // Not ready only because records the target lacks are ahead, and reading the ones to go makes it ready.
      const toGo = Number(p.recordsToGo);
      assert.ok(unread.slice(0, toGo).some((r) => r.startsWith('s')));
      assert.ok(unread.slice(toGo).every((r) => r.startsWith('c')));
    } else {
      assert.equal(map.length, 0);
    }
  }), { numRuns: 2000 });
});

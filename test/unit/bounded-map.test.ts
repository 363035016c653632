import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedMap } from '../../routing/bounded-map.ts';

test('BoundedMap keeps at most max entries and evicts the oldest first', () => {
  const m = new BoundedMap<string, number>(3);
  m.set('a', 1).set('b', 2).set('c', 3).set('d', 4);
  assert.equal(m.size, 3);
  assert.equal(m.get('a'), undefined);
  assert.deepEqual([...m.keys()], ['b', 'c', 'd']);
  m.set('c', 30);
  assert.equal(m.peek('c'), 30);
  assert.throws(() => new BoundedMap(0), /positive integer/);
});

test('BoundedMap: an entry used again before it ages out is never the one evicted', () => {
  const max = 100;
  const m = new BoundedMap<number, number>(max);
  m.set(-1, -1); // the hot entry
  for (let i = 0; i < 10_000; i++) {
    m.set(i, i);
    assert.equal(m.get(-1), -1, `hot entry evicted after ${i} insertions`);
  }
  assert.equal(m.size, max);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SequenceGuard } from '../../src/proxy/sequence-guard.ts';

test('a producer never acknowledged passes freely', () => {
  const g = new SequenceGuard();
  const k = SequenceGuard.key(7n, 0, 't', 0);
  assert.equal(g.mayForward(k, 0, 0), true);
  assert.equal(g.mayForward(k, 3, 1234), true);
});

test('after a move only the batch that continues the acknowledged sequence goes first', () => {
  const g = new SequenceGuard();
  const k = SequenceGuard.key(7n, 0, 't', 0);
  g.acknowledged(k, 0, 0, 10); // seq 0..9 on the old cluster, generation 0
  assert.equal(g.mayForward(k, 0, 20), true, 'same generation: the broker checks');
  assert.equal(g.mayForward(k, 1, 15), false, 'a later batch may not overtake on the new cluster');
  assert.equal(g.mayForward(k, 1, 10), true, 'the next batch goes');
  assert.equal(g.mayForward(k, 1, 15), false, 'until it is acknowledged, nothing else');
  g.acknowledged(k, 1, 10, 5);
  assert.equal(g.mayForward(k, 1, 15), true, 'then the new cluster checks sequences itself');
  assert.equal(g.mayForward(k, 2, 15), true);
  assert.equal(g.mayForward(k, 2, 16), false);
});

test('sequences wrap at Int32.MAX and keys separate epochs and partitions', () => {
  const g = new SequenceGuard();
  const k = SequenceGuard.key(7n, 0, 't', 0);
  g.acknowledged(k, 0, 0x7ffffffe, 2); // 2147483646, 2147483647 → next is 0
  assert.equal(g.mayForward(k, 1, 0), true);
  assert.equal(g.mayForward(k, 1, 2147483648), false);
  assert.equal(g.mayForward(SequenceGuard.key(7n, 1, 't', 0), 1, 99), true, 'a bumped epoch starts fresh');
  assert.equal(g.mayForward(SequenceGuard.key(7n, 0, 't', 1), 1, 99), true, 'another partition is independent');
});

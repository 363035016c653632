import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SequenceGuard } from '../../src/proxy/sequence-guard.ts';

const k = SequenceGuard.key(7n, 0, 't', 0);

test('a producer not seen yet passes freely, whatever its first sequence', () => {
  const g = new SequenceGuard();
  assert.equal(g.forward(k, 1234, 10), true);
  assert.equal(g.next(k), 1244);
});

test('batches in order go; a batch beyond a missing one is turned away until the gap is filled', () => {
  const g = new SequenceGuard();
  assert.equal(g.forward(k, 0, 10), true); // 0..9
  assert.equal(g.forward(k, 10, 10), true); // 10..19, in flight
  assert.equal(g.forward(k, 20, 10), true); // 20..29, in flight
  g.notWritten(k, 10); // 10..19 failed and was not written: the client will resend from 10
  assert.equal(g.next(k), 10);
  assert.equal(g.forward(k, 30, 10), false, '30 may not overtake the missing 10..29');
  assert.equal(g.forward(k, 10, 10), true, 'the resent batch goes');
  assert.equal(g.forward(k, 20, 10), true);
  assert.equal(g.forward(k, 30, 10), true);
  assert.equal(g.next(k), 40);
});

test('a retry of a batch already forwarded goes (the broker de-duplicates it) and does not move next back', () => {
  const g = new SequenceGuard();
  g.forward(k, 0, 10);
  g.forward(k, 10, 10);
  assert.equal(g.forward(k, 0, 10), true);
  assert.equal(g.next(k), 20);
  g.notWritten(k, 30); // a "failure" beyond next changes nothing
  assert.equal(g.next(k), 20);
});

test('sequences wrap at Int32.MAX; keys separate epochs and partitions', () => {
  const g = new SequenceGuard();
  assert.equal(g.forward(k, 0x7ffffffe, 2), true); // 2147483646, 2147483647
  assert.equal(g.next(k), 0);
  assert.equal(g.forward(k, 0, 5), true, 'continues after the wrap');
  assert.equal(g.forward(k, 10, 5), false, 'a gap after the wrap is still a gap');
  assert.equal(g.forward(k, 0x7ffffffe, 2), true, 'a retry from before the wrap is a retry, not a gap');
  assert.equal(g.forward(SequenceGuard.key(7n, 1, 't', 0), 99, 1), true, 'a bumped epoch starts fresh');
  assert.equal(g.forward(SequenceGuard.key(7n, 0, 't', 1), 99, 1), true, 'another partition is independent');
});

test('non-idempotent batches (sequence -1) are never held back', () => {
  const g = new SequenceGuard();
  assert.equal(g.forward(k, -1, 10), true);
  assert.equal(g.forward(k, -1, 10), true);
});

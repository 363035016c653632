import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pairRatios } from '../../bench/lib/pair-ratios.ts';

test('pairRatios divides run i by run i, not median by median', () => {
  // Medians alone would give 20 / 20 = 1.0; the pairs say the numerator is half as fast in every repetition.
  const r = pairRatios([5, 10, 20, 40, 80], [10, 20, 40, 80, 160]);
  assert.deepEqual(r.values, [0.5, 0.5, 0.5, 0.5, 0.5]);
  const shuffled = pairRatios([10, 30, 20], [20, 20, 40]);
  assert.deepEqual(shuffled.values, [0.5, 1.5, 0.5]);
  assert.equal(shuffled.min, 0.5);
  assert.equal(shuffled.median, 0.5);
  assert.equal(shuffled.max, 1.5);
  assert.equal(shuffled.pairs, 3);
});

test('pairRatios gives an even number of pairs the mean of the middle two as median', () => {
  const r = pairRatios([1, 2, 3, 4], [1, 1, 1, 1]);
  assert.equal(r.median, 2.5);
});

test('pairRatios leaves out pairs with a missing or non-positive side and counts only the rest', () => {
  const r = pairRatios([1, Number.NaN, 3, 4], [2, 2, 0, 4]);
  assert.ok(Number.isNaN(r.values[1]));
  assert.ok(Number.isNaN(r.values[2]), 'a zero denominator is not an infinite ratio');
  assert.equal(r.pairs, 2);
  assert.equal(r.min, 0.5);
  assert.equal(r.max, 1);
  const none = pairRatios([Number.NaN], [1]);
  assert.equal(none.pairs, 0);
  assert.ok(Number.isNaN(none.min) && Number.isNaN(none.median) && Number.isNaN(none.max));
});

test('pairRatios refuses runs that do not pair up', () => {
  assert.throws(() => pairRatios([1, 2, 3], [1, 2]), /3 numerators but 2 denominators/);
});

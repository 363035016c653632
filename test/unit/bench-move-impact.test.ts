import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADDED_LATENCY_FLAG_MS, baselineOf, impactOf, medianAddedMs, splitByWindows, splitIntervalsByWindows } from '../../bench/lib/move-impact.ts';

test('splitByWindows gives each window its worst sample and keeps the rest apart', () => {
  const at = [0.5, 1.0, 1.2, 1.9, 3.0, 4.1, 4.5, 6.0];
  const ms = [2, 3, 90, 4, 5, 7, 60, 1];
  const s = splitByWindows(at, ms, [[1.0, 2.0], [4.0, 5.0], [7, 8]]);
  assert.deepEqual(s.worstPerWindow, [90, 60, null]);
  assert.deepEqual(s.around, [3, 90, 4, 7, 60]);
  assert.deepEqual(s.rest, [2, 5, 1]);
});

test('splitByWindows counts a sample in two overlapping windows for both, once in "around"', () => {
  const s = splitByWindows([1.5], [42], [[1, 2], [1.4, 3]]);
  assert.deepEqual(s.worstPerWindow, [42, 42]);
  assert.deepEqual(s.around, [42]);
  assert.deepEqual(s.rest, []);
});

test('splitByWindows refuses mismatched series', () => {
  assert.throws(() => splitByWindows([1, 2], [1], []), /2 times but 1 latencies/);
});

test('splitIntervalsByWindows assigns a report line to every window its second overlaps', () => {
  // Lines at t cover (t-1, t]: the line at 3.5 overlaps a window ending at 2.6; the one at 5 overlaps none.
  const lines = [{ at: 1, maxMs: 10 }, { at: 2.2, maxMs: 300 }, { at: 3.5, maxMs: 40 }, { at: 5, maxMs: 12 }];
  const s = splitIntervalsByWindows(lines, [[2.0, 2.6]]);
  assert.deepEqual(s.worstPerWindow, [300]);
  assert.deepEqual(s.rest, [10, 12]);
  assert.deepEqual(s.around, [300, 40]);
});

test('impactOf measures the worst latency against the rest-of-run p99 and max and flags over 50 ms', () => {
  const rest = Array.from({ length: 100 }, (_, i) => i + 1); // p99 = 99, max = 100
  const baseline = baselineOf(rest);
  assert.equal(baseline.p99, 99);
  assert.equal(baseline.max, 100);
  assert.equal(baseline.samples, 100);
  const calm = impactOf(120, baseline);
  assert.deepEqual(calm, { worstMs: 120, overRestP99Ms: 21, overRestMaxMs: 20, flagged: false });
  const atLimit = impactOf(99 + ADDED_LATENCY_FLAG_MS, baseline);
  assert.equal(atLimit.flagged, false, 'exactly 50 ms over is not more than 50 ms');
  const pause = impactOf(99 + ADDED_LATENCY_FLAG_MS + 0.5, baseline);
  assert.equal(pause.flagged, true);
  assert.equal(impactOf(200, baseline, 150).flagged, false, 'the threshold is a parameter');
});

test('impactOf has nothing to say without a sample in the window or without a baseline', () => {
  const baseline = baselineOf([1, 2, 3]);
  assert.deepEqual(impactOf(null, baseline), { worstMs: null, overRestP99Ms: null, overRestMaxMs: null, flagged: false });
  const noRest = impactOf(500, baselineOf([]));
  assert.equal(noRest.overRestP99Ms, null);
  assert.equal(noRest.flagged, false);
});

test('medianAddedMs is the median over the moves that had samples', () => {
  const baseline = baselineOf([10]);
  const impacts = [impactOf(15, baseline), impactOf(null, baseline), impactOf(110, baseline), impactOf(30, baseline)];
  assert.equal(medianAddedMs(impacts), 20); // of 5, 100, 20
  assert.ok(Number.isNaN(medianAddedMs([])));
});

// RateLimitedLog: `burst` lines per key per interval, the rest counted; the count comes with the next line of
// that key in a new interval, or in a summary line when the interval ends without one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RateLimitedLog } from '../../src/rate-limited-log.ts';

function capture() {
  const lines: { fields: Record<string, unknown>; msg: string }[] = [];
  return { lines, log: { warn: (fields: Record<string, unknown>, msg: string) => lines.push({ fields, msg }) } as never };
}

test('a burst per key and interval, then a count carried by the next interval\'s first line', () => {
  let now = 1_000;
  const limited = new RateLimitedLog({ burst: 3, intervalMs: 1_000, now: () => now });
  const { lines, log } = capture();
  const results = Array.from({ length: 10 }, (_, i) => limited.warn(log, 'bad frame', { i }, 'bad frame'));
  assert.deepEqual(results, [true, true, true, false, false, false, false, false, false, false]);
  assert.equal(lines.length, 3);
  assert.equal(limited.suppressed('bad frame'), 7);
  // Another key has its own budget.
  assert.equal(limited.warn(log, 'tls', {}, 'TLS handshake failed'), true);
  now += 1_000;
  assert.equal(limited.warn(log, 'bad frame', { i: 10 }, 'bad frame'), true);
  assert.deepEqual(lines.at(-1), { fields: { i: 10, suppressed: 7 }, msg: 'bad frame' });
  assert.equal(limited.suppressed('bad frame'), 0);
  limited.flush();
});

test('a suppressed count is reported by a summary line even if the key never logs again', async () => {
  const limited = new RateLimitedLog({ burst: 1, intervalMs: 50 });
  const { lines, log } = capture();
  for (let i = 0; i < 5; i++) limited.warn(log, 'refused', {}, 'connection refused');
  assert.equal(lines.length, 1);
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(lines.length, 2);
  assert.equal(lines[1].fields.suppressed, 4);
  assert.match(lines[1].msg, /connection refused \(4 similar lines suppressed\)/);
});

test('bad settings are refused with a clear error', () => {
  assert.throws(() => new RateLimitedLog({ burst: 0 }), /burst must be a positive integer/);
  assert.throws(() => new RateLimitedLog({ intervalMs: 0 }), /intervalMs must be > 0/);
});
